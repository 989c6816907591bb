package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/worker"
)

// webhookWorld is a store behind the real GraphQL handler, with two teams, a service of team A
// and one API token per role.
type webhookWorld struct {
	s       *models.Store
	c       *client.Client
	teamA   *models.Team
	teamB   *models.Team
	service *models.Service
	tokens  map[string]string // admin, managerA, managerB, memberA
}

func setupWebhookWorld(t *testing.T, s *models.Store) *webhookWorld {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &webhookWorld{s: s, c: client.New(NewHandler(&Resolver{Store: s, Logger: logger}, nil)), tokens: map[string]string{}}
	var err error
	if w.teamA, err = s.CreateTeam(ctx, storetest.Name("a")); err != nil {
		t.Fatal(err)
	}
	if w.teamB, err = s.CreateTeam(ctx, storetest.Name("b")); err != nil {
		t.Fatal(err)
	}
	if w.service, err = s.CreateService(ctx, w.teamA.ID, "api"); err != nil {
		t.Fatal(err)
	}
	users := map[string]struct {
		role  string
		teams []string
	}{
		"admin":    {models.RoleGlobalAdmin, nil},
		"managerA": {models.RoleTeamManager, []string{w.teamA.ID}},
		"managerB": {models.RoleTeamManager, []string{w.teamB.ID}},
		"memberA":  {models.RoleMember, []string{w.teamA.ID}},
	}
	for name, u := range users {
		user, err := s.CreateUser(ctx, name, nil, u.role, u.teams)
		if err != nil {
			t.Fatal(err)
		}
		if w.tokens[name], err = s.CreateAPIToken(ctx, user.ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// webhookGQLError is one error of a GraphQL answer.
type webhookGQLError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// do runs an operation as a role and returns its data (as JSON, object keys sorted) and errors.
func (w *webhookWorld) do(t *testing.T, role, query string, vars map[string]any) (json.RawMessage, []webhookGQLError) {
	t.Helper()
	opts := []client.Option{client.AddHeader("Authorization", "Bearer "+w.tokens[role])}
	for k, v := range vars {
		opts = append(opts, client.Var(k, v))
	}
	resp, err := w.c.RawPost(query, opts...)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	var errs []webhookGQLError
	if len(resp.Errors) > 0 {
		if err := json.Unmarshal(resp.Errors, &errs); err != nil {
			t.Fatalf("decode errors %s: %v", resp.Errors, err)
		}
	}
	data, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	return data, errs
}

// webhookErrCode returns the code of the only error, "" when there is none.
func webhookErrCode(t *testing.T, errs []webhookGQLError) string {
	t.Helper()
	switch len(errs) {
	case 0:
		return ""
	case 1:
		code, _ := errs[0].Extensions["code"].(string)
		return code
	}
	t.Fatalf("%d errors: %+v", len(errs), errs)
	return ""
}

// webhookInput returns a valid createWebhook input for a scope of the world.
func (w *webhookWorld) webhookInput(scope string) map[string]any {
	in := map[string]any{
		"name":    "Chat " + scope,
		"scope":   scope,
		"events":  []string{"INCIDENT_CREATED"},
		"urls":    []string{"https://example.com/hook"},
		"signing": map[string]any{"scheme": "HMAC_SHA256"},
	}
	switch scope {
	case webhook.ScopeTeam:
		in["teamId"] = w.teamA.ID
	case webhook.ScopeService:
		in["serviceId"] = w.service.ID
	}
	return in
}

// setupSendingWorld is setupWebhookWorld with a Sender behind the API, as an API-only
// process has, allowed to reach private targets, for operations that send (testWebhook).
func setupSendingWorld(t *testing.T, s *models.Store) *webhookWorld {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sender, err := worker.NewSender(worker.Config{Store: s, Logger: logger, AllowPrivateTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	w := setupWebhookWorld(t, s)
	w.c = client.New(NewHandler(&Resolver{Store: s, Sender: sender, Logger: logger}, nil))
	return w
}

// fixture creates a webhook of a scope directly in the store.
func (w *webhookWorld) fixture(t *testing.T, scope string) *models.Webhook {
	t.Helper()
	spec := webhook.Spec{
		Name: "fixture", Scope: scope, Events: []string{webhook.EventCreated}, URLs: []string{"https://example.com/f"},
		Signing:    webhook.Signing{Scheme: "HMAC_SHA256"},
		RetryCount: 3, RetryIntervalMinutes: 1, TimeoutSeconds: 3,
	}
	switch scope {
	case webhook.ScopeTeam:
		spec.TeamID = &w.teamA.ID
	case webhook.ScopeService:
		spec.ServiceID = &w.service.ID
	}
	wh, _, err := w.s.CreateWebhook(context.Background(), spec)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return wh
}

const webhookFields = `id name description scope team { id } service { id } events urls method
	auth { type username key placement hasSecret } headers { name value }
	signing { scheme headerName } sendDataUsing contentType bodyTemplate queryParams { name value }
	extraFields { name value } retryCount retryIntervalMinutes timeoutSeconds failureNotificationEmail
	filter { join conditions { field operator value } groups { join conditions { field operator value } } }
	status inactiveReason consecutiveFailures createdAt updatedAt`

func TestWebhookRoleMatrix(t *testing.T) {
	t.Parallel()
	mutations := map[string]string{
		"create":     `mutation($input: WebhookInput!) { createWebhook(input: $input) { webhook { id } signingSecret } }`,
		"update":     `mutation($id: ID!) { updateWebhook(id: $id, input: {name: "renamed"}) { id name } }`,
		"delete":     `mutation($id: ID!) { deleteWebhook(id: $id) }`,
		"activate":   `mutation($id: ID!) { activateWebhook(id: $id) { id status } }`,
		"deactivate": `mutation($id: ID!) { deactivateWebhook(id: $id) { id status } }`,
		"rotate":     `mutation($id: ID!) { rotateWebhookSecret(id: $id) { webhook { id } signingSecret } }`,
	}
	roles := []string{"admin", "managerA", "managerB", "memberA"}
	scopes := []string{webhook.ScopeGlobal, webhook.ScopeTeam, webhook.ScopeService}
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		ctx := context.Background()
		for name, query := range mutations {
			for _, role := range roles {
				for _, scope := range scopes {
					t.Run(fmt.Sprintf("%s/%s/%s", name, role, scope), func(t *testing.T) {
						fx := w.fixture(t, scope)
						defer func() { _ = s.DeleteWebhook(ctx, fx.ID) }()
						vars := map[string]any{"id": fx.ID}
						if name == "create" {
							vars = map[string]any{"input": w.webhookInput(scope)}
						}
						data, errs := w.do(t, role, query, vars)
						allowed := role == "admin" || (role == "managerA" && scope != webhook.ScopeGlobal)
						want := models.CodeForbidden
						if allowed {
							want = ""
						}
						if got := webhookErrCode(t, errs); got != want {
							t.Fatalf("code %q, want %q (%+v)", got, want, errs)
						}
						if name == "create" && allowed {
							var out struct {
								CreateWebhook struct {
									Webhook       struct{ ID string }
									SigningSecret *string
								}
							}
							if err := json.Unmarshal(data, &out); err != nil {
								t.Fatal(err)
							}
							if out.CreateWebhook.SigningSecret == nil || *out.CreateWebhook.SigningSecret == "" {
								t.Error("createWebhook returned no signing secret")
							}
							if err := s.DeleteWebhook(ctx, out.CreateWebhook.Webhook.ID); err != nil {
								t.Fatal(err)
							}
						}
						if !allowed {
							after, err := s.FindWebhookByID(ctx, fx.ID)
							if err != nil || after.Revision != fx.Revision || after.Name != fx.Name {
								t.Errorf("a forbidden %s changed the webhook (err %v)", name, err)
							}
						}
					})
				}
			}
		}
	})
}

func TestWebhookVisibility(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		ctx := context.Background()
		global := w.fixture(t, webhook.ScopeGlobal)
		team := w.fixture(t, webhook.ScopeTeam)
		service := w.fixture(t, webhook.ScopeService)
		other, _, err := s.CreateWebhook(ctx, webhook.Spec{
			Name: "b", Scope: webhook.ScopeTeam, TeamID: &w.teamB.ID, Events: []string{webhook.EventCreated},
			URLs: []string{"https://example.com/b"}, RetryCount: 3, RetryIntervalMinutes: 1, TimeoutSeconds: 3,
		})
		if err != nil {
			t.Fatal(err)
		}
		lists := map[string][]string{
			"admin":    {global.ID, team.ID, service.ID, other.ID},
			"managerA": {team.ID, service.ID},
			"memberA":  {team.ID, service.ID},
			"managerB": {other.ID},
		}
		for role, want := range lists {
			data, errs := w.do(t, role, `{ webhooks { id } }`, nil)
			if len(errs) > 0 {
				t.Fatalf("%s: %+v", role, errs)
			}
			var out struct{ Webhooks []struct{ ID string } }
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range out.Webhooks {
				got = append(got, x.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s lists %v, want %v", role, got, want)
			}
		}
		data, errs := w.do(t, "admin", `query($t: ID!) { webhooks(scope: SERVICE, teamId: $t, status: ACTIVE) { id } }`, map[string]any{"t": w.teamA.ID})
		if len(errs) > 0 || !strings.Contains(string(data), service.ID) || strings.Contains(string(data), team.ID) {
			t.Errorf("filtered list: %s %+v", data, errs)
		}

		reads := map[string]struct {
			role, id, code string
		}{
			"admin global":      {"admin", global.ID, ""},
			"member own team":   {"memberA", team.ID, ""},
			"member service":    {"memberA", service.ID, ""},
			"member global":     {"memberA", global.ID, models.CodeForbidden},
			"manager global":    {"managerA", global.ID, models.CodeForbidden},
			"manager foreign":   {"managerB", team.ID, models.CodeForbidden},
			"member unknown id": {"memberA", "nope", models.CodeNotFound},
			"admin unknown id":  {"admin", "nope", models.CodeNotFound},
		}
		for name, tc := range reads {
			data, errs := w.do(t, tc.role, `query($id: ID!) { webhook(id: $id) { id } }`, map[string]any{"id": tc.id})
			if got := webhookErrCode(t, errs); got != tc.code {
				t.Errorf("%s: code %q, want %q", name, got, tc.code)
			}
			if tc.code != "" && string(data) != `{"webhook":null}` {
				t.Errorf("%s: %s, want null", name, data)
			}
			// deliveries(webhookId) refuses what webhook(id) refuses, with the same code.
			data, errs = w.do(t, tc.role, `query($id: ID!) { deliveries(webhookId: $id) { totalCount } }`, map[string]any{"id": tc.id})
			if got := webhookErrCode(t, errs); got != tc.code {
				t.Errorf("%s: deliveries(webhookId) answers %q (%s), want %q like webhook(id)", name, got, data, tc.code)
			}
			if want := `{"deliveries":{"totalCount":0}}`; tc.code == "" && string(data) != want {
				t.Errorf("%s: %s, want %s", name, data, want)
			}
		}
		_, errs = w.do(t, "admin", `mutation { deleteWebhook(id: "nope") }`, nil)
		if got := webhookErrCode(t, errs); got != models.CodeNotFound {
			t.Errorf("delete unknown: %q, want NOT_FOUND", got)
		}

		data, errs = w.do(t, "memberA", `query($id: ID!) { webhook(id: $id) { scope team { id } service { id } } }`, map[string]any{"id": service.ID})
		want := fmt.Sprintf(`{"webhook":{"scope":"SERVICE","service":{"id":%q},"team":{"id":%q}}}`, w.service.ID, w.teamA.ID)
		if len(errs) > 0 || string(data) != want {
			t.Errorf("service webhook: %s %+v, want %s", data, errs, want)
		}
	})
}

func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		create := `mutation($input: WebhookInput!) { createWebhook(input: $input) { webhook { ` + webhookFields + ` } signingSecret } }`

		in := w.webhookInput(webhook.ScopeTeam)
		in["description"] = "to chat"
		in["auth"] = map[string]any{"type": "BASIC", "username": "bot", "password": "pa55-word-x"}
		in["headers"] = []map[string]any{{"name": "X-Env", "value": "prod"}}
		in["signing"] = map[string]any{"scheme": "HMAC_SHA512", "headerName": "X-Herald-Signature"}
		in["filter"] = map[string]any{"join": "OR", "conditions": []map[string]any{{"field": "URGENCY", "operator": "IS", "value": "HIGH"}},
			"groups": []map[string]any{{"join": "AND", "conditions": []map[string]any{{"field": "ALERT_SOURCE", "operator": "IS_NOT", "value": "test"}}}}}
		data, errs := w.do(t, "managerA", create, map[string]any{"input": in})
		if len(errs) > 0 {
			t.Fatalf("create: %+v", errs)
		}
		if strings.Contains(string(data), "pa55-word-x") {
			t.Fatal("the password came back")
		}
		var out struct {
			CreateWebhook struct {
				Webhook struct {
					ID          string
					Description *string
					Method      string
					RetryCount  int
					Auth        struct {
						Type, Username string
						HasSecret      bool
					}
					Signing struct{ Scheme, HeaderName string }
					Headers []struct{ Name, Value string }
					Filter  *struct {
						Join   string
						Groups []struct{ Join string }
					}
					Status string
				}
				SigningSecret *string
			}
		}
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		wh := out.CreateWebhook.Webhook
		if wh.Method != "POST" || wh.RetryCount != 3 || wh.Auth.Type != "BASIC" || wh.Auth.Username != "bot" || !wh.Auth.HasSecret ||
			wh.Signing.HeaderName != "X-Herald-Signature" || len(wh.Headers) != 1 || wh.Filter == nil || len(wh.Filter.Groups) != 1 ||
			wh.Status != "ACTIVE" || out.CreateWebhook.SigningSecret == nil {
			t.Errorf("created: %s", data)
		}

		// Validation errors name the field; nothing is saved.
		bad := w.webhookInput(webhook.ScopeTeam)
		bad["headers"] = []map[string]any{{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}, {"name": "Bad Name", "value": "4"}}
		_, errs = w.do(t, "managerA", create, map[string]any{"input": bad})
		if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != "headers[3].name" {
			t.Errorf("bad header: %+v", errs)
		}
		bad = w.webhookInput(webhook.ScopeTeam)
		bad["filter"] = map[string]any{"join": "AND", "groups": []map[string]any{{"join": "OR", "conditions": []map[string]any{
			{"field": "SERVICE", "operator": "IS", "value": "x"}, {"field": "SERVICE", "operator": "IS", "value": ""}}}}}
		_, errs = w.do(t, "managerA", create, map[string]any{"input": bad})
		if len(errs) != 1 || errs[0].Extensions["field"] != "filter.groups[0].conditions[1].value" {
			t.Errorf("bad filter: %+v", errs)
		}
		bad = w.webhookInput(webhook.ScopeTeam)
		bad["method"] = nil
		bad["bodyTemplate"] = "{{ incident.nope }}"
		_, errs = w.do(t, "managerA", create, map[string]any{"input": bad})
		if len(errs) != 1 || errs[0].Extensions["field"] != "bodyTemplate" || !strings.Contains(errs[0].Message, "line 1, column") {
			t.Errorf("bad template: %+v", errs)
		}

		// Patch: omitted fields keep their value, credentials included; null clears.
		update := `mutation($id: ID!, $input: WebhookPatch!) { updateWebhook(id: $id, input: $input) { ` + webhookFields + ` } }`
		data, errs = w.do(t, "managerA", update, map[string]any{"id": wh.ID, "input": map[string]any{"name": "Renamed", "description": nil}})
		if len(errs) > 0 {
			t.Fatalf("update: %+v", errs)
		}
		for _, want := range []string{`"name":"Renamed"`, `"description":null`, `"hasSecret":true`, `"username":"bot"`, `"headers":[{"name":"X-Env","value":"prod"}]`, `"join":"OR"`} {
			if !strings.Contains(string(data), want) {
				t.Errorf("after update %s lacks %s", data, want)
			}
		}
		stored, err := s.FindWebhookByID(context.Background(), wh.ID)
		if err != nil {
			t.Fatal(err)
		}
		if auth, _, _ := s.WebhookSecrets(context.Background(), stored); auth.Reveal() != "pa55-word-x" {
			t.Error("update lost the password")
		}
		_, errs = w.do(t, "managerA", update, map[string]any{"id": wh.ID, "input": map[string]any{"auth": map[string]any{"type": "BEARER"}}})
		if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != "auth.token" {
			t.Errorf("auth type without credentials: %+v", errs)
		}
		data, errs = w.do(t, "managerA", update, map[string]any{"id": wh.ID, "input": map[string]any{"filter": nil, "headers": []any{}}})
		if len(errs) > 0 || !strings.Contains(string(data), `"filter":null`) || !strings.Contains(string(data), `"headers":[]`) {
			t.Errorf("clear filter and headers: %s %+v", data, errs)
		}

		// Rotation returns the new secret once.
		data, errs = w.do(t, "managerA", `mutation($id: ID!) { rotateWebhookSecret(id: $id) { signingSecret } }`, map[string]any{"id": wh.ID})
		if len(errs) > 0 || strings.Contains(string(data), *out.CreateWebhook.SigningSecret) || !strings.Contains(string(data), `"signingSecret":"`) {
			t.Errorf("rotate: %s %+v", data, errs)
		}

		// A patch to a scheme the current secret does not suit hands the new secret back
		// once; any other answer shows none.
		newSecret := `mutation($id: ID!, $input: WebhookPatch!) { updateWebhook(id: $id, input: $input) { signing { scheme } newSigningSecret } }`
		data, errs = w.do(t, "managerA", newSecret, map[string]any{"id": wh.ID, "input": map[string]any{"signing": map[string]any{"scheme": "STANDARD_WEBHOOKS"}}})
		if len(errs) > 0 || !strings.Contains(string(data), `"newSigningSecret":"whsec_`) {
			t.Errorf("switch to STANDARD_WEBHOOKS: %s %+v", data, errs)
		}
		data, errs = w.do(t, "managerA", newSecret, map[string]any{"id": wh.ID, "input": map[string]any{"name": "Renamed again"}})
		if len(errs) > 0 || !strings.Contains(string(data), `"newSigningSecret":null`) {
			t.Errorf("rename after the switch: %s %+v", data, errs)
		}

		// Deactivation records who did it; activation clears it.
		data, errs = w.do(t, "managerA", `mutation($id: ID!) { deactivateWebhook(id: $id) { status inactiveReason } }`, map[string]any{"id": wh.ID})
		if len(errs) > 0 || string(data) != `{"deactivateWebhook":{"inactiveReason":"deactivated by managerA","status":"INACTIVE"}}` {
			t.Errorf("deactivate: %s %+v", data, errs)
		}
		data, errs = w.do(t, "managerA", `mutation($id: ID!) { activateWebhook(id: $id) { status inactiveReason consecutiveFailures } }`, map[string]any{"id": wh.ID})
		if len(errs) > 0 || string(data) != `{"activateWebhook":{"consecutiveFailures":0,"inactiveReason":null,"status":"ACTIVE"}}` {
			t.Errorf("activate: %s %+v", data, errs)
		}

		// The sixth webhook of a team is refused.
		for i := range webhook.MaxWebhooksPerTarget - 1 {
			if _, errs := w.do(t, "managerA", create, map[string]any{"input": w.webhookInput(webhook.ScopeTeam)}); len(errs) > 0 {
				t.Fatalf("webhook %d: %+v", i+2, errs)
			}
		}
		_, errs = w.do(t, "managerA", create, map[string]any{"input": w.webhookInput(webhook.ScopeTeam)})
		if got := webhookErrCode(t, errs); got != models.CodeLimitExceeded {
			t.Errorf("sixth webhook: %q, want LIMIT_EXCEEDED", got)
		}
	})
}
