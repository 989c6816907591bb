package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/worker/sign"
)

// TestBinaryDeliversAnAlert follows one alert through the real program as an operator would
// wire it: GraphQL set-up, an alert posted to /v1/process, a signed webhook at a receiver, and
// the delivery with its attempt in the API.
func TestBinaryDeliversAnAlert(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			type arrival struct {
				header http.Header
				body   []byte
			}
			var mu sync.Mutex
			var got []arrival
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, arrival{r.Header.Clone(), b})
				mu.Unlock()
			}))
			defer receiver.Close()

			env := map[string]string{
				"HERALD_DATABASE_URL":          storetest.URL(t, dialect),
				"HERALD_SECRET_KEY":            storetest.Key,
				"HERALD_ADMIN_TOKEN":           "e2e-admin-token-0123456789",
				"HERALD_ALLOW_PRIVATE_TARGETS": "true",
			}
			p := startHerald(t, env)
			tok := env["HERALD_ADMIN_TOKEN"]
			data, errs := p.gql(t, tok, `mutation { createTeam(name: "Ops") { id } }`, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			team := data["createTeam"].(map[string]any)["id"].(string)
			data, errs = p.gql(t, tok, `mutation($t: ID!) { createService(teamId: $t, name: "api") { id } }`, map[string]any{"t": team})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			service := data["createService"].(map[string]any)["id"].(string)
			data, errs = p.gql(t, tok, `mutation($s: ID!, $u: String!) { createWebhook(input: {
				name: "receiver", scope: SERVICE, serviceId: $s, events: [INCIDENT_CREATED], urls: [$u],
				signing: { scheme: STANDARD_WEBHOOKS },
				bodyTemplate: "{\"id\": \"{{incident.id}}\", \"title\": \"{{incident.title}}\", \"urgency\": {{{ if(incident.urgency==high) return(\"high\"); return(\"low\"); }}}}"
			}) { webhook { id } signingSecret } }`, map[string]any{"s": service, "u": receiver.URL + "/hook"})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			created := data["createWebhook"].(map[string]any)
			secret := created["signingSecret"].(string)
			hookID := created["webhook"].(map[string]any)["id"].(string)
			data, errs = p.gql(t, tok, `mutation($s: ID!) { createIntegration(serviceId: $s, name: "alertmanager",
				apiFilter: { titleKey: "commonLabels.alertname", mappingKey: "groupKey", resolveWhen: { key: "status", value: "resolved" } }) { token processUrl } }`,
				map[string]any{"s": service})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			integration := data["createIntegration"].(map[string]any)["token"].(string)

			alert := `{"status":"firing","groupKey":"{}:{alertname=\"HighLatency\"}","commonLabels":{"alertname":"High \"p99\" latency"}}`
			if answer := postAlert(t, p, integration, alert); !bytes.Contains(answer, []byte(`"created"`)) {
				t.Fatalf("POST /v1/process: %s", answer)
			}

			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no webhook arrived; herald stderr:\n%s", p.stderr)
				}
				time.Sleep(20 * time.Millisecond)
			}
			a := got[0]
			if err := sign.Verify(sign.StandardWebhooks, "", secret, a.header, a.body, time.Now(), 5*time.Minute); err != nil {
				t.Errorf("signature does not verify: %v", err)
			}
			want := `{"id": "INC-1", "title": "prometheus - High \"p99\" latency", "urgency": "high"}`
			if string(a.body) != want {
				t.Errorf("body\n got %s\nwant %s", a.body, want)
			}
			if a.header.Get("webhook-id") == "" || !strings.HasPrefix(a.header.Get("User-Agent"), "Herald/") {
				t.Errorf("headers: %v", a.header)
			}

			var status string
			for time.Now().Before(deadline) {
				data, errs = p.gql(t, tok, `query($w: ID!) { deliveries(webhookId: $w) { totalCount edges { node { id status incident { id } attempts { number outcome response { status } } } } } }`, map[string]any{"w": hookID})
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				conn := data["deliveries"].(map[string]any)
				edges := conn["edges"].([]any)
				if len(edges) == 1 {
					node := edges[0].(map[string]any)["node"].(map[string]any)
					status = node["status"].(string)
					if status == models.DeliverySucceeded {
						if node["id"] != a.header.Get("webhook-id") {
							t.Errorf("webhook-id %s is not the delivery id %s", a.header.Get("webhook-id"), node["id"])
						}
						if atts := node["attempts"].([]any); len(atts) != 1 {
							t.Errorf("attempts: %v", atts)
						}
						break
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			if status != models.DeliverySucceeded {
				t.Fatalf("delivery status %q, want SUCCEEDED", status)
			}
		})
	}
}

// postAlert posts an Alertmanager-shaped alert through the integration's token, fails the
// test unless it is answered 201 Created, and returns the answer.
func postAlert(t *testing.T, p *process, integration, alert string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+"/v1/process?from=prometheus", strings.NewReader(alert))
	req.Header.Set("Authorization", "Bearer "+integration)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/process: %d %s", resp.StatusCode, answer)
	}
	return answer
}
