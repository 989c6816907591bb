package models_test

import (
	"context"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// apiKeyInQuery sets API_KEY auth sent as the query parameter key.
func apiKeyInQuery(w *webhook.Spec, key string) {
	w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: key, Value: "NEW", Placement: webhook.PlacementQuery}
}

// sendQueryParams makes w send params in the query string.
func sendQueryParams(w *webhook.Spec, params ...webhook.KV) {
	w.Method, w.SendDataUsing, w.QueryParams = webhook.MethodGet, webhook.SendQueryParams, params
}

// TestCreateWebhookRefusesAmbiguousInput covers inputs that used to be saved although they
// could not be sent as written: each is refused with VALIDATION naming the field, and nothing
// is saved.
func TestCreateWebhookRefusesAmbiguousInput(t *testing.T) {
	t.Parallel()
	wantRefusals(t, map[string]refusal{
		"api key query already in url": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"https://example.com/hook?api_key=OLD"}
			apiKeyInQuery(w, "api_key")
		}, "auth.key", "urls[0]"},
		"api key query in second url, encoded": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"https://a.example/x?a=1", "https://b.example/y?x=1&api%5Fkey=OLD"}
			apiKeyInQuery(w, "api_key")
		}, "auth.key", "urls[1]"},
		"api key query with space in url as plus": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"https://example.com/hook?my+key"}
			apiKeyInQuery(w, "my key")
		}, "auth.key", "urls[0]"},
		"api key query in queryParams": {func(_ webhookFixture, w *webhook.Spec) {
			apiKeyInQuery(w, "api_key")
			sendQueryParams(w, webhook.KV{Name: "id", Value: "{{incident.id}}"}, webhook.KV{Name: "api_key", Value: "x"})
		}, "auth.key", "queryParams[1]"},
		"name NUL":                 {func(_ webhookFixture, w *webhook.Spec) { w.Name = "Chat\x00ops" }, "name", "control"},
		"name newline":             {func(_ webhookFixture, w *webhook.Spec) { w.Name = "Chat\nops" }, "name", "control"},
		"name tab":                 {func(_ webhookFixture, w *webhook.Spec) { w.Name = "Chat\tops" }, "name", "control"},
		"name ESC":                 {func(_ webhookFixture, w *webhook.Spec) { w.Name = "\x1b[31mChat" }, "name", "control"},
		"name DEL":                 {func(_ webhookFixture, w *webhook.Spec) { w.Name = "Chat\x7f" }, "name", "control"},
		"name C1":                  {func(_ webhookFixture, w *webhook.Spec) { w.Name = "Chat\u0085ops" }, "name", "control"},
		"description NUL":          {func(_ webhookFixture, w *webhook.Spec) { w.Description = whPtr("a\x00b") }, "description", "control"},
		"description ESC":          {func(_ webhookFixture, w *webhook.Spec) { w.Description = whPtr("line\n\x1b[31mred") }, "description", "control"},
		"description vertical tab": {func(_ webhookFixture, w *webhook.Spec) { w.Description = whPtr("a\vb") }, "description", "control"},
		"basic username blank": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "   ", Password: "pw"}
		}, "auth.username", ""},
		"basic username tab only": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "\t", Password: "pw"}
		}, "auth.username", ""},
		"basic username colon": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "user:name", Password: "pw"}
		}, "auth.username", "colon"},
		"basic username control": {func(_ webhookFixture, w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "us\x1ber", Password: "pw"}
		}, "auth.username", "control"},
		"url fragment": {func(_ webhookFixture, w *webhook.Spec) { w.URLs = []string{"https://e.com/hook#section"} }, "urls[0]", "never sent"},
		"url empty fragment": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"https://a.example/", "https://e.com/hook#"}
		}, "urls[1]", "never sent"},
		"url duplicate host case": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"https://Example.com/x", "https://example.com/x"}
		}, "urls[1]", "twice"},
		"url duplicate scheme case": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"HTTPS://example.com/x", "https://example.com/x"}
		}, "urls[1]", "twice"},
		"url duplicate https default port": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"https://example.com/x", "https://EXAMPLE.com:443/x"}
		}, "urls[1]", "twice"},
		"url duplicate http default port": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"http://e.com:80/?a=1", "http://e.com/?a=1"}
		}, "urls[1]", "twice"},
		"url duplicate empty path": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"https://a.example/", "https://e.com", "https://e.com/"}
		}, "urls[2]", "twice"},
		"url duplicate zero-led port": {func(_ webhookFixture, w *webhook.Spec) {
			w.URLs = []string{"http://e.com:8080/", "http://e.com:08080/"}
		}, "urls[1]", "twice"},
		"query param name placeholder": {func(_ webhookFixture, w *webhook.Spec) {
			sendQueryParams(w, webhook.KV{Name: "id", Value: "1"}, webhook.KV{Name: "{{incident.id}}", Value: "x"})
		}, "queryParams[1].name", "only values"},
	})
}

// TestValidateWebhookAcceptsNearMisses lists inputs next to the refusals above that are fine.
func TestValidateWebhookAcceptsNearMisses(t *testing.T) {
	t.Parallel()
	wantValid(t, map[string]func(w *webhook.Spec){
		"api key query, url parameter of another case": func(w *webhook.Spec) {
			w.URLs = []string{"https://example.com/hook?API_KEY=1&api_key2=2"}
			apiKeyInQuery(w, "api_key")
		},
		"api key query, name only as a value": func(w *webhook.Spec) {
			w.URLs = []string{"https://example.com/hook?x=api_key"}
			apiKeyInQuery(w, "api_key")
		},
		"api key header, same name in url": func(w *webhook.Spec) {
			w.URLs = []string{"https://example.com/hook?api_key=OLD"}
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "api_key", Value: "v", Placement: webhook.PlacementHeader}
		},
		"api key query, other queryParams": func(w *webhook.Spec) {
			apiKeyInQuery(w, "api_key")
			sendQueryParams(w, webhook.KV{Name: "api_key_id", Value: "{{incident.id}}"})
		},
		"name with spaces around": func(w *webhook.Spec) { w.Name = " Chat ops\n" },
		"name non-ASCII":          func(w *webhook.Spec) { w.Name = "Grüße → ops" },
		"description lines, tabs": func(w *webhook.Spec) { w.Description = whPtr("line 1\r\nline 2\n\tindented") },
		"basic username with space": func(w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthBasic, Username: "jane doe", Password: "pw"}
		},
		"urls other port": func(w *webhook.Spec) { w.URLs = []string{"http://e.com:443/x", "https://e.com/x"} },
		"urls path case":  func(w *webhook.Spec) { w.URLs = []string{"https://e.com/X", "https://e.com/x"} },
		"urls other query": func(w *webhook.Spec) {
			w.URLs = []string{"https://e.com/x?a=1", "https://e.com/x?a=2", "https://e.com/x"}
		},
		"query param value placeholder": func(w *webhook.Spec) {
			sendQueryParams(w, webhook.KV{Name: "id", Value: "{{incident.id}}"}, webhook.KV{Name: "a{b}", Value: "x"})
		},
	})
}

// TestCreateWebhookUrgencyFilterAnyCase checks that an URGENCY condition accepts its value in
// any case, as matching and placeholders do, and is stored as HIGH or LOW.
func TestCreateWebhookUrgencyFilterAnyCase(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		f := setupWebhooks(t, s)
		ctx := context.Background()
		spec := validWebhookSpec(f.team.ID)
		spec.Filter = &webhook.Filter{Join: webhook.FilterOr,
			Conditions: []webhook.Condition{{Field: webhook.FilterUrgency, Operator: webhook.FilterIs, Value: "high"}},
			Groups: []*webhook.Filter{{Join: webhook.FilterAnd, Conditions: []webhook.Condition{
				{Field: webhook.FilterUrgency, Operator: webhook.FilterIsNot, Value: " Low "},
				{Field: webhook.FilterAlertSource, Operator: webhook.FilterIs, Value: "grafana"},
			}}}}
		w, _, err := s.CreateWebhook(ctx, spec)
		if err != nil {
			t.Fatalf("CreateWebhook: %v", err)
		}
		got, err := s.FindWebhookByID(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored := got.Filter.V
		if stored == nil || len(stored.Groups) != 1 {
			t.Fatalf("stored filter = %+v", stored)
		}
		if v := stored.Conditions[0].Value; v != webhook.UrgencyHigh {
			t.Errorf("stored urgency %q, want HIGH", v)
		}
		if v := stored.Groups[0].Conditions[0].Value; v != webhook.UrgencyLow {
			t.Errorf("stored nested urgency %q, want LOW", v)
		}
		if v := stored.Groups[0].Conditions[1].Value; v != "grafana" {
			t.Errorf("alert source value %q changed, want it as written", v)
		}
		if v := spec.Filter.Conditions[0].Value; v != "high" {
			t.Errorf("the caller's filter was changed to %q", v)
		}
		if !stored.Matches(webhook.FilterSubject{Urgency: webhook.UrgencyHigh}) {
			t.Error("stored filter does not match a HIGH incident")
		}

		spec.Filter = &webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{{Field: webhook.FilterUrgency, Operator: webhook.FilterIs, Value: "medium"}}}
		_, _, err = s.CreateWebhook(ctx, spec)
		wantWebhookErr(t, err, models.CodeValidation, "filter.conditions[0].value")
	})
}
