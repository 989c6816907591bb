package graph

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

func TestTeamsUsersAndTokensByRole(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		tests := map[string]struct {
			role, query string
			vars        map[string]any
			code        string
		}{
			"admin creates a team":                 {"admin", `mutation { createTeam(name: "C") { id } }`, nil, ""},
			"manager may not create a team":        {"managerA", `mutation { createTeam(name: "D") { id } }`, nil, models.CodeForbidden},
			"manager adds a service to its team":   {"managerA", `mutation($t: ID!) { createService(teamId: $t, name: "web") { id } }`, map[string]any{"t": w.teamA.ID}, ""},
			"manager may not touch another team":   {"managerA", `mutation($t: ID!) { createService(teamId: $t, name: "web") { id } }`, map[string]any{"t": w.teamB.ID}, models.CodeForbidden},
			"member may not add a service":         {"memberA", `mutation($t: ID!) { createService(teamId: $t, name: "x") { id } }`, map[string]any{"t": w.teamA.ID}, models.CodeForbidden},
			"manager creates a member of its team": {"managerA", `mutation($t: ID!) { createUser(input: {name: "n", role: MEMBER, teamIds: [$t]}) { id } }`, map[string]any{"t": w.teamA.ID}, ""},
			"manager may not create an admin":      {"managerA", `mutation($t: ID!) { createUser(input: {name: "n", role: GLOBAL_ADMIN, teamIds: [$t]}) { id } }`, map[string]any{"t": w.teamA.ID}, models.CodeForbidden},
			"bad e-mail":                           {"admin", `mutation { createUser(input: {name: "n", email: "nope", role: MEMBER}) { id } }`, nil, models.CodeValidation},
			"empty team name":                      {"admin", `mutation { createTeam(name: " ") { id } }`, nil, models.CodeValidation},
			"unknown team":                         {"admin", `query { team(id: "nope") { id } }`, nil, models.CodeNotFound},
			"member reads its own team":            {"memberA", `query($t: ID!) { team(id: $t) { name services { name } } }`, map[string]any{"t": w.teamA.ID}, ""},
			"member may not read another team":     {"memberA", `query($t: ID!) { team(id: $t) { name } }`, map[string]any{"t": w.teamB.ID}, models.CodeForbidden},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				_, errs := w.do(t, tc.role, tc.query, tc.vars)
				if got := webhookErrCode(t, errs); got != tc.code {
					t.Fatalf("code %q, want %q (%v)", got, tc.code, errs)
				}
			})
		}

		data, errs := w.do(t, "memberA", `{ teams { id } services { id } me { role apiTokens { name } } }`, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if strings.Contains(string(data), w.teamB.ID) || !strings.Contains(string(data), w.teamA.ID) {
			t.Errorf("member sees %s", data)
		}
		manager := w.userID(t, "managerA")
		_, errs = w.do(t, "memberA", `mutation($u: ID!) { createApiToken(userId: $u, name: "x") }`, map[string]any{"u": manager})
		if webhookErrCode(t, errs) != models.CodeForbidden {
			t.Errorf("a member may not make tokens for others: %v", errs)
		}
		data, errs = w.do(t, "managerA", `mutation($u: ID!) { createApiToken(userId: $u, name: "ci") }`, map[string]any{"u": manager})
		if len(errs) > 0 || !strings.Contains(string(data), "hrd_") {
			t.Errorf("own token: %s %v", data, errs)
		}
		data, errs = w.do(t, "admin", `{ users { id role } }`, nil)
		if len(errs) > 0 || strings.Count(string(data), `"role"`) < 4 {
			t.Errorf("admin users: %s %v", data, errs)
		}
	})
}

// TestNestedFieldsShowOnlyReadableTeams checks that following users to their teams and
// services shows a caller only the teams it may read, as team(id) does.
func TestNestedFieldsShowOnlyReadableTeams(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		ctx := context.Background()
		both, err := s.CreateUser(ctx, "both", nil, models.RoleMember, []string{w.teamA.ID, w.teamB.ID})
		if err != nil {
			t.Fatal(err)
		}
		billing, err := s.CreateService(ctx, w.teamB.ID, "billing")
		if err != nil {
			t.Fatal(err)
		}
		inA := []string{both.ID, w.userID(t, "memberA"), w.teamA.ID, w.service.ID}
		ofB := []string{w.userID(t, "managerB"), w.teamB.ID, billing.ID}
		tests := map[string]struct {
			role        string
			sees, hides []string
		}{
			"member":  {"memberA", inA, ofB},
			"manager": {"managerA", inA, ofB},
			"admin":   {"admin", append(inA, ofB...), nil},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				data, errs := w.do(t, tc.role, `{ users { id teams { id services { id } } } me { teams { id services { id } } } }`, nil)
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				for _, id := range tc.sees {
					if !strings.Contains(string(data), id) {
						t.Errorf("%s is missing from %s", id, data)
					}
				}
				for _, id := range tc.hides {
					if strings.Contains(string(data), id) {
						t.Errorf("%s shows in %s", id, data)
					}
				}
			})
		}
	})
}

func TestIncidentLifecycleThroughGraphQL(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		data, errs := w.do(t, "managerA", `mutation($s: ID!) { createIncident(input: {serviceId: $s, title: "Disk \"full\"", urgency: LOW}) { id status urgency team { id } } }`, map[string]any{"s": w.service.ID})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var created struct {
			CreateIncident struct{ ID, Status, Urgency string } `json:"createIncident"`
		}
		_ = json.Unmarshal(data, &created)
		id := created.CreateIncident.ID
		if !strings.HasPrefix(id, "INC-") || created.CreateIncident.Status != "TRIGGERED" || created.CreateIncident.Urgency != "LOW" {
			t.Fatalf("created %s", data)
		}
		steps := []struct {
			role, call, assignee, code, want string
		}{
			{"managerA", "unacknowledgeIncident(id: $id)", "", models.CodeValidation, ""},
			{"admin", "acknowledgeIncident(id: $id)", "", "", `"status":"ACKNOWLEDGED"`},
			{"managerA", "acknowledgeIncident(id: $id)", "", models.CodeValidation, ""},
			{"managerA", "unacknowledgeIncident(id: $id)", "", "", `"status":"TRIGGERED"`},
			{"managerA", "reassignIncident(id: $id, userId: $u)", "memberA", "", `"status":"TRIGGERED"`},
			{"admin", "reassignIncident(id: $id, userId: $u)", "admin", "", `"status":"TRIGGERED"`},
			{"managerA", "resolveIncident(id: $id)", "", "", `"status":"RESOLVED"`},
			{"admin", "resolveIncident(id: $id)", "", models.CodeValidation, ""},
		}
		for _, st := range steps {
			vars := map[string]any{"id": id}
			if st.assignee != "" {
				vars["u"] = w.userID(t, st.assignee)
			}
			data, errs := w.mutateIncident(t, st.role, st.call, vars)
			if got := webhookErrCode(t, errs); got != st.code {
				t.Fatalf("%s %s: code %q, want %q (%v)", st.role, st.call, got, st.code, errs)
			}
			if !strings.Contains(string(data), st.want) {
				t.Fatalf("%s %s: %s, want %s", st.role, st.call, data, st.want)
			}
			if st.assignee != "" && !strings.Contains(string(data), vars["u"].(string)) {
				t.Fatalf("%s %s: %s, want assignee %s", st.role, st.call, data, st.assignee)
			}
		}
		data, errs = w.do(t, "managerB", `{ incidents { id } }`, nil)
		if len(errs) > 0 || strings.Contains(string(data), id) {
			t.Errorf("another team lists %s %v", data, errs)
		}
		data, errs = w.do(t, "memberA", `query($id: ID!) { renderPreview(input: {incidentId: $id, bodyTemplate: "{\"t\": \"{{incident.title}}\", \"u\": \"{{incident.urgency}}\"}"}) { body validJson errors { line column message } } }`, map[string]any{"id": id})
		if len(errs) > 0 || !strings.Contains(string(data), `{\"t\": \"Disk \\\"full\\\"\", \"u\": \"low\"}`) || !strings.Contains(string(data), `"validJson":true`) {
			t.Errorf("preview: %s %v", data, errs)
		}
		data, errs = w.do(t, "memberA", `{ renderPreview(input: {bodyTemplate: "{{incident_urgency}}"}) { body errors { line column message } } placeholders(event: INCIDENT_RESOLVED) { name } }`, nil)
		if len(errs) > 0 || !strings.Contains(string(data), "did you mean incident.urgency") || !strings.Contains(string(data), `"incident.title"`) {
			t.Errorf("preview errors and placeholders: %s %v", data, errs)
		}
	})
}

// TestIncidentChangesByRole checks that only GLOBAL_ADMIN and the managers of an incident's
// team create and change incidents (SPEC §3: MEMBER is read-only), and that an incident goes
// only to a user who may see its team.
func TestIncidentChangesByRole(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		id := w.createIncident(t, "admin", "t")
		create := `createIncident(input: {serviceId: $s, title: "t"})`
		createFor := `createIncident(input: {serviceId: $s, title: "t", assigneeId: $u})`
		tests := map[string]struct {
			role, call, assignee, code, field string
		}{
			"member may not create":                  {"memberA", create, "", models.CodeForbidden, ""},
			"member may not acknowledge":             {"memberA", "acknowledgeIncident(id: $id)", "", models.CodeForbidden, ""},
			"member may not unacknowledge":           {"memberA", "unacknowledgeIncident(id: $id)", "", models.CodeForbidden, ""},
			"member may not resolve":                 {"memberA", "resolveIncident(id: $id)", "", models.CodeForbidden, ""},
			"member may not reassign":                {"memberA", "reassignIncident(id: $id, userId: $u)", "memberA", models.CodeForbidden, ""},
			"another manager may not create":         {"managerB", create, "", models.CodeForbidden, ""},
			"another manager may not acknowledge":    {"managerB", "acknowledgeIncident(id: $id)", "", models.CodeForbidden, ""},
			"another manager may not resolve":        {"managerB", "resolveIncident(id: $id)", "", models.CodeForbidden, ""},
			"another manager may not reassign":       {"managerB", "reassignIncident(id: $id, userId: $u)", "managerB", models.CodeForbidden, ""},
			"unknown incident":                       {"managerA", `acknowledgeIncident(id: "INC-999999")`, "", models.CodeNotFound, ""},
			"reassign to a user outside the team":    {"managerA", "reassignIncident(id: $id, userId: $u)", "managerB", models.CodeValidation, "userId"},
			"reassign to an unknown user":            {"admin", `reassignIncident(id: $id, userId: "nope")`, "", models.CodeValidation, "userId"},
			"create assigned to a user outside it":   {"managerA", createFor, "managerB", models.CodeValidation, "assigneeId"},
			"create assigned to an unknown user":     {"admin", `createIncident(input: {serviceId: $s, title: "t", assigneeId: "nope"})`, "", models.CodeValidation, "assigneeId"},
			"manager creates assigned to its member": {"managerA", createFor, "memberA", "", ""},
			"admin creates assigned to itself":       {"admin", createFor, "admin", "", ""},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				vars := map[string]any{}
				if strings.Contains(tc.call, "$id") {
					vars["id"] = id
				}
				if strings.Contains(tc.call, "$s") {
					vars["s"] = w.service.ID
				}
				if tc.assignee != "" {
					vars["u"] = w.userID(t, tc.assignee)
				}
				data, errs := w.mutateIncident(t, tc.role, tc.call, vars)
				if got := webhookErrCode(t, errs); got != tc.code {
					t.Fatalf("code %q, want %q (%v)", got, tc.code, errs)
				}
				if tc.field != "" && errs[0].Extensions["field"] != tc.field {
					t.Errorf("field %v, want %s", errs[0].Extensions["field"], tc.field)
				}
				if tc.code == "" && !strings.Contains(string(data), vars["u"].(string)) {
					t.Errorf("%s, want assignee %s", data, tc.assignee)
				}
			})
		}
		data, errs := w.do(t, "memberA", `query($id: ID!) { incident(id: $id) { status assignee { id } } }`, map[string]any{"id": id})
		if want := `{"incident":{"assignee":null,"status":"TRIGGERED"}}`; len(errs) > 0 || string(data) != want {
			t.Errorf("after the refused changes: %s %v, want %s", data, errs, want)
		}
	})
}

func TestTestWebhookThroughGraphQL(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer sekret-token" {
			rw.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer receiver.Close()
	w := setupSendingWorld(t, s)
	data, errs := w.do(t, "managerA", `mutation($s: ID!, $u: String!) { testWebhook(input: {name: "t", scope: SERVICE, serviceId: $s,
		events: [INCIDENT_CREATED], urls: [$u], auth: {type: BEARER, token: "sekret-token"}}) {
		test outcome number request { headers { name value } } response { status } } }`,
		map[string]any{"s": w.service.ID, "u": receiver.URL})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !strings.Contains(string(data), `"outcome":"SUCCEEDED"`) || !strings.Contains(string(data), `"test":true`) || hits.Load() != 1 {
		t.Fatalf("test send: %s (hits %d)", data, hits.Load())
	}
	if strings.Contains(string(data), "sekret-token") {
		t.Errorf("the bearer token shows in the attempt: %s", data)
	}
	_, errs = w.do(t, "memberA", `mutation($s: ID!, $u: String!) { testWebhook(input: {name: "t", scope: SERVICE, serviceId: $s, events: [INCIDENT_CREATED], urls: [$u]}) { id } }`,
		map[string]any{"s": w.service.ID, "u": receiver.URL})
	if webhookErrCode(t, errs) != models.CodeForbidden {
		t.Errorf("a member may not send tests: %v", errs)
	}
}

// mutateIncident runs one incident mutation, whose arguments may use the ID variables in vars,
// and selects the incident's id, status and assignee as r.
func (w *webhookWorld) mutateIncident(t *testing.T, role, call string, vars map[string]any) (json.RawMessage, []webhookGQLError) {
	t.Helper()
	decls := make([]string, 0, len(vars))
	for k := range vars {
		decls = append(decls, "$"+k+": ID!")
	}
	params := ""
	if len(decls) > 0 {
		params = "(" + strings.Join(decls, ", ") + ")"
	}
	return w.do(t, role, "mutation"+params+" { r: "+call+" { id status assignee { id } } }", vars)
}

// createIncident creates an incident on the world's service as a role and returns its id.
func (w *webhookWorld) createIncident(t *testing.T, role, title string) string {
	t.Helper()
	data, errs := w.mutateIncident(t, role, `createIncident(input: {serviceId: $s, title: "`+title+`"})`, map[string]any{"s": w.service.ID})
	var created struct {
		R struct{ ID string } `json:"r"`
	}
	if len(errs) > 0 || json.Unmarshal(data, &created) != nil || created.R.ID == "" {
		t.Fatalf("create incident as %s: %s %+v", role, data, errs)
	}
	return created.R.ID
}

// userID returns the id of the user of a role of the world.
func (w *webhookWorld) userID(t *testing.T, role string) string {
	t.Helper()
	data, errs := w.do(t, role, `{ me { id } }`, nil)
	var out struct {
		Me struct{ ID string } `json:"me"`
	}
	if len(errs) > 0 || json.Unmarshal(data, &out) != nil || out.Me.ID == "" {
		t.Fatalf("me of %s: %s %v", role, data, errs)
	}
	return out.Me.ID
}

// TestTestWebhookURL checks that testWebhook's url chooses which of the webhook's URLs (saved
// or unsaved) is tested, the first when it is omitted, and that a URL the webhook does not have
// is refused as VALIDATION on url, without sending anything.
func TestTestWebhookURL(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	var mu sync.Mutex
	var paths []string
	receiver := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	}))
	defer receiver.Close()
	sent := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := paths
		paths = nil
		return out
	}
	w := setupSendingWorld(t, s)
	urls := []string{receiver.URL + "/one", receiver.URL + "/two", receiver.URL + "/three"}
	in := w.webhookInput(webhook.ScopeService)
	in["urls"] = urls
	data, errs := w.do(t, "managerA", `mutation($in: WebhookInput!) { createWebhook(input: $in) { webhook { id } } }`, map[string]any{"in": in})
	var created struct {
		CreateWebhook struct{ Webhook struct{ ID string } }
	}
	if err := json.Unmarshal(data, &created); err != nil || len(errs) > 0 {
		t.Fatalf("create: %s %+v", data, errs)
	}
	saved := map[string]any{"id": created.CreateWebhook.Webhook.ID}
	unsaved := map[string]any{"input": in}
	const test = `mutation($id: ID, $input: WebhookInput, $url: String) { testWebhook(id: $id, input: $input, url: $url) { outcome request { url } } }`
	tests := map[string]struct {
		vars  map[string]any
		url   any
		field string // of the error, or "" for a test sent to the URL
		want  string
	}{
		"saved, a later URL":        {saved, urls[2], "", "/three"},
		"saved, no URL":             {saved, nil, "", "/one"},
		"saved, the first URL":      {saved, urls[0], "", "/one"},
		"saved, another URL":        {saved, receiver.URL + "/four", "url", ""},
		"unsaved, a later URL":      {unsaved, urls[1], "", "/two"},
		"unsaved, no URL":           {unsaved, nil, "", "/one"},
		"unsaved, another URL":      {unsaved, "https://example.com/hook", "url", ""},
		"saved, an empty URL":       {saved, "", "url", ""},
		"unsaved, a URL's relative": {unsaved, "/two", "url", ""},
	}
	for name, tc := range tests {
		vars := maps.Clone(tc.vars)
		vars["url"] = tc.url
		data, errs := w.do(t, "managerA", test, vars)
		got := sent()
		if tc.field != "" {
			if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != tc.field || len(got) > 0 {
				t.Errorf("%s: %s %+v, sent %v; want VALIDATION on %s and nothing sent", name, data, errs, got, tc.field)
			}
			continue
		}
		var out struct {
			TestWebhook struct {
				Outcome string
				Request struct{ URL string }
			}
		}
		if err := json.Unmarshal(data, &out); err != nil || len(errs) > 0 {
			t.Fatalf("%s: %s %+v", name, data, errs)
		}
		if out.TestWebhook.Outcome != "SUCCEEDED" || out.TestWebhook.Request.URL != receiver.URL+tc.want || len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: %s, sent %v; want one test sent to %s", name, data, got, tc.want)
		}
	}
}
