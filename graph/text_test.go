package graph

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/text"
	"github.com/herald-hq/herald/models/webhook"
)

// TestTextRuleOfEveryMutation sends a NUL, a newline where a field is one line, and text over
// the limit to every text argument of every mutation: each is VALIDATION naming the field, on
// both databases, and no driver's text reaches the client.
func TestTextRuleOfEveryMutation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupSendingWorld(t, s)
		ctx := context.Background()
		in, _, err := s.CreateIntegration(ctx, w.service.ID, "alerts", payload.APIFilter{})
		if err != nil {
			t.Fatal(err)
		}
		hook, _, err := s.CreateWebhook(ctx, webhook.Spec{Name: "hook", Scope: webhook.ScopeGlobal,
			Events: []string{webhook.EventCreated}, URLs: []string{"https://example.com/hook"},
			RetryCount: 3, RetryIntervalMinutes: 1, TimeoutSeconds: 3})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]any{"team": w.teamA.ID, "service": w.service.ID, "user": w.userID(t, "admin"), "integration": in.ID, "webhook": hook.ID}
		webhookArg := func(k string) func(v string) map[string]any {
			return func(v string) map[string]any {
				i := w.webhookInput(webhook.ScopeGlobal)
				i[k] = v
				return map[string]any{"i": i}
			}
		}
		arg := func(v string) map[string]any { return map[string]any{"v": v} }
		type mutation struct {
			query string
			vars  func(v string) map[string]any
			field string
			max   int
			lines bool // the field may hold newlines and tabs
		}
		mutations := map[string]mutation{
			"createTeam name":     {`mutation($v: String!) { createTeam(name: $v) { id } }`, arg, "name", models.MaxNameChars, false},
			"createService name":  {`mutation($team: ID!, $v: String!) { createService(teamId: $team, name: $v) { id } }`, arg, "name", models.MaxNameChars, false},
			"createUser name":     {`mutation($v: String!) { createUser(input: {name: $v, role: MEMBER}) { id } }`, arg, "name", models.MaxNameChars, false},
			"createUser email":    {`mutation($v: String!) { createUser(input: {name: "n", email: $v, role: MEMBER}) { id } }`, arg, "email", text.MaxEmailChars, false},
			"createApiToken name": {`mutation($user: ID!, $v: String!) { createApiToken(userId: $user, name: $v) }`, arg, "name", models.MaxNameChars, false},
			"createIntegration name": {`mutation($service: ID!, $v: String!) { createIntegration(serviceId: $service, name: $v) { token } }`,
				arg, "name", models.MaxNameChars, false},
			"createIntegration match value": {`mutation($service: ID!, $v: String!) { createIntegration(serviceId: $service, name: "n", apiFilter: {mappingKey: "id", resolveWhen: {key: "status", value: $v}}) { token } }`,
				arg, "apiFilter.resolveWhen.value", 1000, false},
			"updateIntegration name":    {`mutation($integration: ID!, $v: String) { updateIntegration(id: $integration, name: $v) { id } }`, arg, "name", models.MaxNameChars, false},
			"createWebhook name":        {`mutation($i: WebhookInput!) { createWebhook(input: $i) { webhook { id } } }`, webhookArg("name"), "name", webhook.MaxWebhookNameChars, false},
			"createWebhook description": {`mutation($i: WebhookInput!) { createWebhook(input: $i) { webhook { id } } }`, webhookArg("description"), "description", webhook.MaxWebhookDescriptionChars, true},
			"createWebhook failureNotificationEmail": {`mutation($i: WebhookInput!) { createWebhook(input: $i) { webhook { id } } }`,
				webhookArg("failureNotificationEmail"), "failureNotificationEmail", text.MaxEmailChars, false},
			"createWebhook bodyTemplate": {`mutation($i: WebhookInput!) { createWebhook(input: $i) { webhook { id } } }`,
				func(v string) map[string]any { return webhookArg("bodyTemplate")(`"` + v + `"`) }, "bodyTemplate", webhook.MaxWebhookTemplateChars - 2, true},
			"updateWebhook name":        {`mutation($webhook: ID!, $v: String) { updateWebhook(id: $webhook, input: {name: $v}) { id } }`, arg, "name", webhook.MaxWebhookNameChars, false},
			"updateWebhook description": {`mutation($webhook: ID!, $v: String) { updateWebhook(id: $webhook, input: {description: $v}) { id } }`, arg, "description", webhook.MaxWebhookDescriptionChars, true},
			"testWebhook input name":    {`mutation($i: WebhookInput) { testWebhook(input: $i) { id } }`, webhookArg("name"), "name", webhook.MaxWebhookNameChars, false},
			"createIncident title":      {`mutation($service: ID!, $v: String!) { createIncident(input: {serviceId: $service, title: $v}) { id } }`, arg, "title", models.MaxTitleChars, false},
			"createIncident description": {`mutation($service: ID!, $v: String) { createIncident(input: {serviceId: $service, title: "t", description: $v}) { id } }`,
				arg, "description", models.MaxDescriptionChars, true},
			"createIncident mappedWith": {`mutation($service: ID!, $v: String) { createIncident(input: {serviceId: $service, title: "t", mappedWith: $v}) { id } }`, arg, "mappedWith", 200, false},
		}
		for name, m := range mutations {
			values := map[string]string{
				"NUL":      "a\x00b@example.com",
				"too long": strings.Repeat("é", m.max+1),
			}
			if !m.lines {
				values["newline"] = "a\nb@example.com"
			}
			for what, v := range values {
				t.Run(name+"/"+what, func(t *testing.T) {
					vars := m.vars(v)
					for k, id := range ids {
						if strings.Contains(m.query, "$"+k+":") {
							vars[k] = id
						}
					}
					data, errs := w.do(t, "admin", m.query, maps.Clone(vars))
					if len(errs) != 1 {
						t.Fatalf("got %s %+v, want one error", data, errs)
					}
					e := errs[0]
					if e.Extensions["code"] != models.CodeValidation || e.Extensions["field"] != m.field || strings.Contains(e.Message, "SQLSTATE") {
						t.Errorf("got %+v, want VALIDATION on %s", e, m.field)
					}
				})
			}
		}
	})
}
