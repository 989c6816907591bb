package graph

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/worker"
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
		var me struct {
			Me struct{ ID string } `json:"me"`
		}
		data, _ = w.do(t, "managerA", `{ me { id } }`, nil)
		_ = json.Unmarshal(data, &me)
		_, errs = w.do(t, "memberA", `mutation($u: ID!) { createApiToken(userId: $u, name: "x") }`, map[string]any{"u": me.Me.ID})
		if webhookErrCode(t, errs) != models.CodeForbidden {
			t.Errorf("a member may not make tokens for others: %v", errs)
		}
		data, errs = w.do(t, "managerA", `mutation($u: ID!) { createApiToken(userId: $u, name: "ci") }`, map[string]any{"u": me.Me.ID})
		if len(errs) > 0 || !strings.Contains(string(data), "hrd_") {
			t.Errorf("own token: %s %v", data, errs)
		}
		data, errs = w.do(t, "admin", `{ users { id role } }`, nil)
		if len(errs) > 0 || strings.Count(string(data), `"role"`) < 4 {
			t.Errorf("admin users: %s %v", data, errs)
		}
	})
}

func TestIncidentLifecycleThroughGraphQL(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		data, errs := w.do(t, "memberA", `mutation($s: ID!) { createIncident(input: {serviceId: $s, title: "Disk \"full\"", urgency: LOW}) { id status urgency team { id } } }`, map[string]any{"s": w.service.ID})
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
		_, errs = w.do(t, "managerB", `mutation($s: ID!) { createIncident(input: {serviceId: $s, title: "x"}) { id } }`, map[string]any{"s": w.service.ID})
		if webhookErrCode(t, errs) != models.CodeForbidden {
			t.Errorf("another team's manager: %v", errs)
		}
		steps := []struct {
			mutation, code, status string
		}{
			{"unacknowledgeIncident", models.CodeValidation, ""},
			{"acknowledgeIncident", "", "ACKNOWLEDGED"},
			{"acknowledgeIncident", models.CodeValidation, ""},
			{"unacknowledgeIncident", "", "TRIGGERED"},
			{"resolveIncident", "", "RESOLVED"},
			{"resolveIncident", models.CodeValidation, ""},
		}
		for _, st := range steps {
			data, errs := w.do(t, "memberA", `mutation($id: ID!) { r: `+st.mutation+`(id: $id) { status } }`, map[string]any{"id": id})
			if got := webhookErrCode(t, errs); got != st.code {
				t.Fatalf("%s: code %q, want %q", st.mutation, got, st.code)
			}
			if st.status != "" && !strings.Contains(string(data), st.status) {
				t.Fatalf("%s: %s", st.mutation, data)
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
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	wrk, err := worker.New(worker.Config{Store: s, Logger: logger, AllowPrivateTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	w := setupWebhookWorld(t, s)
	w.c = client.New(NewHandler(&Resolver{Store: s, Worker: wrk, Logger: logger}, nil))
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
