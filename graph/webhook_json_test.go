package graph

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// TestJSONBodyTemplateMustRenderJSON: a JSON template whose body for the sample incident is
// not JSON is refused at createWebhook, at updateWebhook when what the body renders to changes,
// and in testWebhook(input:), with the place in the rendered body and what to write instead;
// a template stored before the check keeps working until it is changed.
func TestJSONBodyTemplateMustRenderJSON(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupSendingWorld(t, s)
		const (
			create = `mutation($i: WebhookInput!) { createWebhook(input: $i) { webhook { id } } }`
			test   = `mutation($i: WebhookInput) { testWebhook(input: $i) { id } }`
			update = `mutation($id: ID!, $p: WebhookPatch!) { updateWebhook(id: $id, input: $p) { id name } }`
		)
		input := func(template, contentType string) map[string]any {
			in := w.webhookInput(webhook.ScopeGlobal)
			in["events"] = []string{"INCIDENT_CREATED", "INCIDENT_RESOLVED"}
			in["bodyTemplate"], in["contentType"] = template, contentType
			return in
		}
		refused := func(t *testing.T, errs []webhookGQLError, want ...string) {
			t.Helper()
			if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != "bodyTemplate" {
				t.Fatalf("got %+v, want VALIDATION on bodyTemplate", errs)
			}
			for _, s := range want {
				if !strings.Contains(errs[0].Message, s) {
					t.Errorf("message %q lacks %q", errs[0].Message, s)
				}
			}
		}
		bad := map[string]struct {
			template string
			want     []string
		}{
			"unquoted placeholder": {`{"t":{{incident.title}}}`, []string{"line 1, column 6", "invalid character 'p'", `quote the placeholder: "{{incident.title}}"`, "contentType: TEXT"}},
			"on a later line":      {"{\n  \"a\": 1,\n  \"t\": {{incident.title}}\n}", []string{"line 3, column 8", `quote the placeholder: "{{incident.title}}"`}},
			"cut short":            {`{"t":"{{incident.title}}"`, []string{"unexpected end of JSON input", "contentType: TEXT"}},
		}
		for name, tc := range bad {
			t.Run(name, func(t *testing.T) {
				_, errs := w.do(t, "admin", create, map[string]any{"i": input(tc.template, "JSON")})
				refused(t, errs, tc.want...)
				_, errs = w.do(t, "admin", test, map[string]any{"i": input(tc.template, "JSON")})
				refused(t, errs, tc.want...)
			})
		}

		// As a text body the same template is fine.
		data, errs := w.do(t, "admin", create, map[string]any{"i": input(`{"t":{{incident.title}}}`, "TEXT")})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		text := webhookIDOf(t, data)
		_, errs = w.do(t, "admin", update, map[string]any{"id": text, "p": map[string]any{"contentType": "JSON"}})
		refused(t, errs, "line 1, column 6")

		data, errs = w.do(t, "admin", create, map[string]any{"i": input(`{"t":"{{incident.title}}"}`, "JSON")})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		id := webhookIDOf(t, data)
		_, errs = w.do(t, "admin", update, map[string]any{"id": id, "p": map[string]any{"bodyTemplate": `{"t":{{incident.title}}}`}})
		refused(t, errs, "line 1, column 6")

		// A template saved before the check: other changes still save, a change of events
		// checks it.
		if err := s.DB().Model(&models.Webhook{}).Where("id = ?", id).Update("body_template", `{"t":{{incident.title}}}`).Error; err != nil {
			t.Fatal(err)
		}
		if _, errs := w.do(t, "admin", update, map[string]any{"id": id, "p": map[string]any{"name": "renamed"}}); len(errs) > 0 {
			t.Fatalf("renaming a webhook with an old template: %+v", errs)
		}
		_, errs = w.do(t, "admin", update, map[string]any{"id": id, "p": map[string]any{"events": []string{"INCIDENT_RESOLVED"}}})
		refused(t, errs, "INCIDENT_RESOLVED", "line 1, column 6")
	})
}

func webhookIDOf(t *testing.T, data []byte) string {
	t.Helper()
	var out struct {
		CreateWebhook struct{ Webhook struct{ ID string } }
	}
	if err := json.Unmarshal(data, &out); err != nil || out.CreateWebhook.Webhook.ID == "" {
		t.Fatalf("no webhook id in %s (%v)", data, err)
	}
	return out.CreateWebhook.Webhook.ID
}
