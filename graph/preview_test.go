package graph

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestRenderPreviewOfASavedWebhook checks that with webhookId what the input gives wins and what
// it omits (or sets to null) comes from the saved webhook, also where the schema has a default.
func TestRenderPreviewOfASavedWebhook(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	save := func(spec models.WebhookSpec) string {
		spec.Scope, spec.Events, spec.URLs = models.ScopeGlobal, []string{models.EventCreated}, []string{"https://example.com/h"}
		spec.Signing = models.SigningSpec{Scheme: "NONE"}
		spec.RetryCount, spec.RetryIntervalMinutes, spec.TimeoutSeconds = 3, 1, 3
		wh, _, err := w.s.CreateWebhook(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		return wh.ID
	}
	saved := "saved {{incident.id}}"
	text := save(models.WebhookSpec{Name: "text", Method: "POST", SendDataUsing: "BODY", ContentType: "TEXT", BodyTemplate: &saved})
	query := save(models.WebhookSpec{Name: "query", Method: "GET", SendDataUsing: "QUERY_PARAMS", ContentType: "JSON",
		QueryParams: []models.KV{{Name: "saved", Value: "{{incident.id}}"}}})

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
