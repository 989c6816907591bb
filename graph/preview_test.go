package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/render"
)

// TestRenderPreviewOfASavedWebhook checks that with webhookId what the input gives wins and what
// it omits (or sets to null) comes from the saved webhook, also where the schema has a default.
func TestRenderPreviewOfASavedWebhook(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	save := func(spec webhook.Spec) string {
		spec.Scope, spec.Events, spec.URLs = webhook.ScopeGlobal, []string{webhook.EventCreated}, []string{"https://example.com/h"}
		spec.Signing = webhook.Signing{Scheme: "NONE"}
		spec.RetryCount, spec.RetryIntervalMinutes, spec.TimeoutSeconds = 3, 1, 3
		wh, _, err := w.s.CreateWebhook(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		return wh.ID
	}
	saved := "saved {{incident.id}}"
	text := save(webhook.Spec{Name: "text", Method: "POST", SendDataUsing: "BODY", ContentType: "TEXT", BodyTemplate: &saved})
	query := save(webhook.Spec{Name: "query", Method: "GET", SendDataUsing: "QUERY_PARAMS", ContentType: "JSON",
		QueryParams: []webhook.KV{{Name: "saved", Value: "{{incident.id}}"}}})

	type preview struct {
		Body      *string
		Query     *string
		ValidJSON *bool
		Errors    []any
	}
	const fields = `{ body query validJson errors { message } }`
	tests := map[string]struct {
		literal string         // the input written in the query, or
		input   map[string]any // the input as a variable
		check   func(p preview) bool
	}{
		"saved body and content type": {input: map[string]any{"webhookId": text},
			check: func(p preview) bool {
				return p.Body != nil && strings.HasPrefix(*p.Body, "saved ") && p.ValidJSON == nil
			}},
		"contentType given": {input: map[string]any{"webhookId": text, "contentType": "JSON"},
			check: func(p preview) bool { return p.Body != nil && p.ValidJSON != nil && !*p.ValidJSON }},
		"contentType given in the query": {literal: `{webhookId: "` + text + `", contentType: JSON}`,
			check: func(p preview) bool { return p.Body != nil && p.ValidJSON != nil && !*p.ValidJSON }},
		"contentType null": {input: map[string]any{"webhookId": text, "contentType": nil},
			check: func(p preview) bool { return p.Body != nil && p.ValidJSON == nil }},
		"sendDataUsing and queryParams given": {
			input: map[string]any{"webhookId": text, "sendDataUsing": "QUERY_PARAMS", "queryParams": []any{map[string]any{"name": "x", "value": "{{incident.id}}"}}},
			check: func(p preview) bool { return p.Body == nil && p.Query != nil && strings.HasPrefix(*p.Query, "x=") }},
		"bodyTemplate given": {input: map[string]any{"webhookId": text, "bodyTemplate": `{"a": 1}`},
			check: func(p preview) bool { return p.Body != nil && *p.Body == `{"a": 1}` && p.ValidJSON == nil }},
		"saved query parameters": {input: map[string]any{"webhookId": query},
			check: func(p preview) bool { return p.Body == nil && p.Query != nil && strings.HasPrefix(*p.Query, "saved=") }},
		"sendDataUsing given": {input: map[string]any{"webhookId": query, "sendDataUsing": "BODY"},
			check: func(p preview) bool { return p.Query == nil && p.Body != nil && p.ValidJSON != nil && *p.ValidJSON }},
		"sendDataUsing given in the query": {literal: `{webhookId: "` + query + `", sendDataUsing: BODY}`,
			check: func(p preview) bool { return p.Query == nil && p.Body != nil && p.ValidJSON != nil && *p.ValidJSON }},
		"queryParams given": {input: map[string]any{"webhookId": query, "queryParams": []any{map[string]any{"name": "y", "value": "1"}}},
			check: func(p preview) bool { return p.Body == nil && p.Query != nil && *p.Query == "y=1" }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q, vars := `query($in: RenderPreviewInput!) { renderPreview(input: $in) `+fields+` }`, map[string]any{"in": tc.input}
			if tc.literal != "" {
				q, vars = `{ renderPreview(input: `+tc.literal+`) `+fields+` }`, nil
			}
			data, errs := w.do(t, "admin", q, vars)
			var out struct{ RenderPreview preview }
			if err := json.Unmarshal(data, &out); err != nil || len(errs) > 0 {
				t.Fatalf("%s: %v %+v", data, err, errs)
			}
			if p := out.RenderPreview; len(p.Errors) > 0 || !tc.check(p) {
				t.Errorf("got %s", data)
			}
		})
	}
}

// TestSampleWebhookIDIsOneValue checks that a template's {{webhook.id}} without a saved webhook
// is the same everywhere: renderPreview (on the sample incident or a real one), the
// placeholders' example, and a test of an unsaved input.
func TestSampleWebhookIDIsOneValue(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	var mu sync.Mutex
	var bodies []string
	receiver := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer receiver.Close()
	w := setupSendingWorld(t, s)
	inc := w.createIncident(t, "admin", "sample")

	ids := map[string]string{}
	var preview struct{ RenderPreview struct{ Body string } }
	for name, in := range map[string]map[string]any{
		"renderPreview of the sample":     {"bodyTemplate": "{{webhook.id}}", "contentType": "TEXT"},
		"renderPreview of an incident":    {"bodyTemplate": "{{webhook.id}}", "contentType": "TEXT", "incidentId": inc},
		"renderPreview's default payload": {},
	} {
		data, errs := w.do(t, "admin", `query($in: RenderPreviewInput!) { renderPreview(input: $in) { body } }`, map[string]any{"in": in})
		if err := json.Unmarshal(data, &preview); err != nil || len(errs) > 0 {
			t.Fatalf("%s: %s %+v", name, data, errs)
		}
		ids[name] = preview.RenderPreview.Body
	}
	var envelope struct{ WebhookID string }
	if err := json.Unmarshal([]byte(ids["renderPreview's default payload"]), &envelope); err != nil {
		t.Fatal(err)
	}
	ids["renderPreview's default payload"] = envelope.WebhookID

	data, errs := w.do(t, "admin", `{ placeholders { name example } }`, nil)
	var cat struct {
		Placeholders []struct{ Name, Example string }
	}
	if err := json.Unmarshal(data, &cat); err != nil || len(errs) > 0 {
		t.Fatalf("placeholders: %s %+v", data, errs)
	}
	for _, p := range cat.Placeholders {
		if p.Name == "webhook.id" {
			ids["placeholders' example"] = p.Example
		}
	}

	in := w.webhookInput(webhook.ScopeGlobal)
	in["urls"], in["bodyTemplate"], in["contentType"] = []string{receiver.URL}, "{{webhook.id}}", "TEXT"
	if _, errs := w.do(t, "admin", `mutation($in: WebhookInput!) { testWebhook(input: $in) { id } }`, map[string]any{"in": in}); len(errs) > 0 {
		t.Fatalf("testWebhook: %+v", errs)
	}
	mu.Lock()
	if len(bodies) == 1 {
		ids["test of an unsaved input"] = bodies[0]
	}
	mu.Unlock()

	if len(ids) != 5 {
		t.Fatalf("got %v, want five ids", ids)
	}
	for _, id := range ids {
		if id != render.SampleWebhookID {
			t.Errorf("the sample webhook id differs: %v", ids)
			break
		}
	}
}

// TestRenderPreviewWarnsOfWhatIsNotSent checks that renderPreview says so when a template it is
// given is not used by the way the data is sent (a save would refuse it).
func TestRenderPreviewWarnsOfWhatIsNotSent(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	params := []any{map[string]any{"name": "x", "value": "{{incident.id}}"}}
	const (
		bodyUnused  = "bodyTemplate is not used with sendDataUsing QUERY_PARAMS, which sends no body"
		queryUnused = "queryParams are not used with sendDataUsing BODY: they are sent only with QUERY_PARAMS"
	)
	tests := map[string]struct {
		input map[string]any
		want  []string
	}{
		"body template with query parameters": {map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": params, "bodyTemplate": `{"a": 1}`}, []string{bodyUnused}},
		"query parameters with a body":        {map[string]any{"sendDataUsing": "BODY", "queryParams": params, "bodyTemplate": `{"a": 1}`}, []string{queryUnused}},
		"query parameters with the envelope":  {map[string]any{"queryParams": params}, []string{queryUnused}},
		"query parameters":                    {map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": params}, []string{}},
		"body template":                       {map[string]any{"sendDataUsing": "BODY", "bodyTemplate": `{"a": 1}`}, []string{}},
		"empty body template":                 {map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": params, "bodyTemplate": ""}, []string{}},
		"a body template's errors":            {map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": params, "bodyTemplate": `{{nope}}`}, []string{bodyUnused}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, errs := w.do(t, "admin", `query($in: RenderPreviewInput!) { renderPreview(input: $in) { warnings errors { message } } }`, map[string]any{"in": tc.input})
			var out struct {
				RenderPreview struct {
					Warnings []string
					Errors   []any
				}
			}
			if err := json.Unmarshal(data, &out); err != nil || len(errs) > 0 {
				t.Fatalf("%s %v %+v", data, err, errs)
			}
			if got := out.RenderPreview.Warnings; !slices.Equal(got, tc.want) || len(out.RenderPreview.Errors) > 0 {
				t.Errorf("got %s, want the warnings %q and no errors", data, tc.want)
			}
		})
	}
}

// TestRenderPreviewLimits checks that renderPreview, open to every reader, refuses templates
// over the limits saving a webhook enforces, naming the field, and takes them up to the limit
// (counted in characters, as a save counts them).
func TestRenderPreviewLimits(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	longest := strings.Repeat("é", webhook.MaxWebhookTemplateChars)
	param := func(value string) map[string]any { return map[string]any{"name": "x", "value": value} }
	tooMany := make([]any, webhook.MaxWebhookQueryParams+1)
	for i := range tooMany {
		tooMany[i] = param("{{incident.id}}")
	}
	tests := map[string]struct {
		input map[string]any
		field string // "" when the preview is rendered
	}{
		"body template at the limit":   {map[string]any{"bodyTemplate": longest, "contentType": "TEXT"}, ""},
		"body template over the limit": {map[string]any{"bodyTemplate": longest + "x", "contentType": "TEXT"}, "bodyTemplate"},
		"a megabyte of placeholders":   {map[string]any{"bodyTemplate": strings.Repeat("{{user}}", 124980)}, "bodyTemplate"},
		"body template over the limit, not used": {
			map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": []any{param("1")}, "bodyTemplate": longest + "x"}, "bodyTemplate"},
		"query parameter at the limit": {map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": []any{param("1"), param(longest)}}, ""},
		"query parameter over the limit": {
			map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": []any{param("1"), param(longest + "x")}}, "queryParams[1].value"},
		"too many query parameters": {map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": tooMany}, "queryParams"},
		"as many query parameters as allowed": {
			map[string]any{"sendDataUsing": "QUERY_PARAMS", "queryParams": tooMany[:webhook.MaxWebhookQueryParams]}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, errs := w.do(t, "memberA", `query($in: RenderPreviewInput!) { renderPreview(input: $in) { truncated } }`, map[string]any{"in": tc.input})
			if tc.field == "" {
				if len(errs) > 0 || !strings.Contains(string(data), `"truncated"`) {
					t.Errorf("got %s %+v, want a preview", data, errs)
				}
				return
			}
			limit := fmt.Sprint(webhook.MaxWebhookTemplateChars)
			if tc.field == "queryParams" {
				limit = fmt.Sprint(webhook.MaxWebhookQueryParams)
			}
			if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != tc.field ||
				!strings.Contains(errs[0].Message, limit) {
				t.Errorf("got %s %+v, want VALIDATION of %s", data, errs, tc.field)
			}
		})
	}
}
