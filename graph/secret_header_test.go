package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// TestSecretHeadersNeverShown follows secret header values from createWebhook to the
// receiver: the receiver gets them, while the API's answers (to a member and to the manager),
// the attempt log with the receiver's echo of them, the live log and the database's raw
// bytes never hold them. An update that gives a secret header the value "" keeps it; a test of
// an unsaved webhook sends its secret headers too.
func TestSecretHeadersNeverShown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		const apiKey, tenant, plain = "apikey-value-0123456789", "tenant-secret-abcdef", "visible-value"
		secrets := []string{apiKey, tenant}
		got := make(chan http.Header, 8)
		receiver := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			got <- r.Header.Clone()
			fmt.Fprintf(rw, `{"seen":{"key":%q,"tenant":%q}}`, r.Header.Get("X-Api-Key"), r.Header.Get("X-Tenant"))
		}))
		t.Cleanup(receiver.Close)
		w := setupSendingWorld(t, s)
		listenCtx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		go s.Listen(listenCtx)
		live := httptest.NewServer(NewHandler(&Resolver{Store: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil))
		t.Cleanup(live.Close)
		lw := &logWorld{url: "ws" + strings.TrimPrefix(live.URL, "http")}
		sub := lw.subscribeTo(t, w.tokens["admin"], `subscription { deliveryLog { id request { headers { name value } } response { body } } }`, nil)
		waitFor(t, func() bool { return s.Hub().Len() == 1 })

		hide := func(what string, data []byte) {
			t.Helper()
			for _, v := range secrets {
				if bytes.Contains(data, []byte(v)) {
					t.Errorf("%s holds the secret header value %s: %s", what, v, data)
				}
			}
		}
		in := w.webhookInput(webhook.ScopeTeam)
		in["urls"] = []string{receiver.URL}
		in["headers"] = []map[string]any{
			{"name": "X-Api-Key", "value": apiKey}, // secret by its name
			{"name": "X-Tenant", "value": tenant, "secret": true},
			{"name": "X-Plain", "value": plain},
		}
		data, errs := w.do(t, "managerA", `mutation($input: WebhookInput!) { createWebhook(input: $input) { webhook { id headers { name value secret } } } }`, map[string]any{"input": in})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		hide("createWebhook's answer", data)
		var created struct {
			CreateWebhook struct{ Webhook struct{ ID string } } `json:"createWebhook"`
		}
		must(t, json.Unmarshal(data, &created))
		id := created.CreateWebhook.Webhook.ID
		want := `[{"name":"X-Api-Key","secret":true,"value":""},{"name":"X-Tenant","secret":true,"value":""},{"name":"X-Plain","secret":false,"value":"visible-value"}]`
		if !strings.Contains(string(data), `"headers":`+want) {
			t.Errorf("createWebhook answered %s, want headers %s", data, want)
		}
		data, errs = w.do(t, "memberA", `query($id: ID!) { webhook(id: $id) { headers { name value secret } } }`, map[string]any{"id": id})
		if len(errs) > 0 || !strings.Contains(string(data), want) {
			t.Errorf("a member reads %s %v, want headers %s", data, errs, want)
		}

		send := func() {
			t.Helper()
			data, errs := w.do(t, "managerA", `mutation($id: ID!) { testWebhook(id: $id) { outcome request { headers { name value } } response { body } } }`, map[string]any{"id": id})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			hide("testWebhook's attempt", data)
			for _, h := range []string{`{"name":"X-Api-Key","value":"[redacted]"}`, `{"name":"X-Tenant","value":"[redacted]"}`, `{"name":"X-Plain","value":"visible-value"}`, `"outcome":"SUCCEEDED"`} {
				if !strings.Contains(string(data), h) {
					t.Errorf("testWebhook answered %s, want %s in it", data, h)
				}
			}
			if !strings.Contains(string(data), `\"key\":\"[redacted]\",\"tenant\":\"[redacted]\"`) {
				t.Errorf("the receiver's echo is not redacted: %s", data)
			}
			h := <-got
			if h.Get("X-Api-Key") != apiKey || h.Get("X-Tenant") != tenant || h.Get("X-Plain") != plain {
				t.Errorf("the receiver got %v", h)
			}
		}
		send()
		// The PostgreSQL listener may connect after the subscription: send until it is heard.
		var streamed wsMessage
		deadline := time.After(10 * time.Second)
		for streamed.Type != "next" {
			select {
			case streamed = <-sub.C:
			case <-time.After(time.Second):
				send()
			case <-deadline:
				t.Fatal("the live log streamed nothing")
			}
		}
		hide("the live log", streamed.Payload)
		if !strings.Contains(string(streamed.Payload), `{"name":"X-Api-Key","value":"[redacted]"}`) {
			t.Errorf("the live log streamed %s, want X-Api-Key redacted", streamed.Payload)
		}

		data, errs = w.do(t, "managerA", `mutation($id: ID!, $h: [KeyValueInput!]) { updateWebhook(id: $id, input: {headers: $h}) { headers { name value secret } } }`,
			map[string]any{"id": id, "h": []map[string]any{
				{"name": "x-api-key", "value": ""},
				{"name": "X-Tenant", "value": "", "secret": true},
				{"name": "X-Plain", "value": plain},
			}})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		hide("updateWebhook's answer", data)
		for len(got) > 0 {
			<-got
		}
		send()
		data, errs = w.do(t, "managerA", `mutation($input: WebhookInput!) { testWebhook(input: $input) { request { headers { name value } } response { body } } }`, map[string]any{"input": in})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		hide("testWebhook(input:)'s attempt", data)
		if h := <-got; h.Get("X-Api-Key") != apiKey || h.Get("X-Tenant") != tenant {
			t.Errorf("the receiver of an unsaved webhook's test got %v", h)
		}

		for _, q := range []string{"SELECT headers FROM webhooks", "SELECT request FROM attempts", "SELECT response FROM attempts"} {
			var cols []string
			must(t, s.DB().Raw(q).Scan(&cols).Error)
			if len(cols) == 0 {
				t.Fatalf("%s: no rows", q)
			}
			hide(q, []byte(strings.Join(cols, "\n")))
		}
		if s.Dialect() == models.DialectSQLite {
			for _, f := range sqliteFiles(t, s) {
				b, err := os.ReadFile(f)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				hide("the bytes of "+f, b)
			}
		}
	})
}

// sqliteFiles returns the paths of a SQLite store's database file and its write-ahead log.
func sqliteFiles(t *testing.T, s *models.Store) []string {
	t.Helper()
	var rows []struct{ Name, File string }
	must(t, s.DB().Raw("PRAGMA database_list").Scan(&rows).Error)
	for _, r := range rows {
		if r.Name == "main" {
			return []string{r.File, r.File + "-wal"}
		}
	}
	t.Fatal("no main database")
	return nil
}

// TestSecretOnlyOnHeaders checks that secret is refused on query parameters and extra fields,
// naming the field.
func TestSecretOnlyOnHeaders(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		for field, change := range map[string]func(in map[string]any){
			"queryParams[0].secret": func(in map[string]any) {
				in["method"], in["sendDataUsing"], in["signing"] = "GET", "QUERY_PARAMS", map[string]any{"scheme": "NONE"}
				in["queryParams"] = []map[string]any{{"name": "k", "value": "v", "secret": true}}
			},
			"extraFields[1].secret": func(in map[string]any) {
				in["extraFields"] = []map[string]any{{"name": "a", "value": "b"}, {"name": "k", "value": "v", "secret": true}}
			},
		} {
			in := w.webhookInput(webhook.ScopeTeam)
			change(in)
			_, errs := w.do(t, "managerA", `mutation($input: WebhookInput!) { createWebhook(input: $input) { webhook { id } } }`, map[string]any{"input": in})
			if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != field {
				t.Errorf("%s: got %+v, want VALIDATION on it", field, errs)
			}
		}
		_, errs := w.do(t, "memberA", `{ renderPreview(input: {sendDataUsing: QUERY_PARAMS, queryParams: [{name: "k", value: "v", secret: true}]}) { validJson } }`, nil)
		if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != "queryParams[0].secret" {
			t.Errorf("renderPreview: got %+v, want VALIDATION on queryParams[0].secret", errs)
		}
	})
}
