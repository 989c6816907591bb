package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook/sign"
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

			p, _, tok, service := startWithService(t, dialect)
			data, errs := p.gql(t, tok, `mutation($s: ID!, $u: String!) { createWebhook(input: {
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

// TestBinaryAnswersProbesWhileDraining: after SIGTERM, while an attempt is still in flight,
// /healthz keeps saying the process is up and /readyz says it is draining, so that an
// orchestrator takes it out of service without killing it mid-drain; the attempt is then
// finished and recorded, and the process exits 0.
func TestBinaryAnswersProbesWhileDraining(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case arrived <- struct{}{}:
				default:
				}
				<-release
			}))
			defer receiver.Close()
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()

			p, env, tok, service := startWithService(t, dialect)
			data, errs := p.gql(t, tok, `mutation($s: ID!, $u: String!) { createWebhook(input: {
				name: "slow", scope: SERVICE, serviceId: $s, events: [INCIDENT_CREATED], urls: [$u], timeoutSeconds: 30
			}) { webhook { id } } }`, map[string]any{"s": service, "u": receiver.URL})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			hookID := data["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)
			if _, errs := p.gql(t, tok, `mutation($s: ID!) { createIncident(input: {serviceId: $s, title: "disk full"}) { id } }`, map[string]any{"s": service}); len(errs) > 0 {
				t.Fatal(errs)
			}
			select {
			case <-arrived:
			case <-time.After(20 * time.Second):
				t.Fatalf("the webhook never arrived; herald stderr:\n%s", p.stderr)
			}

			// A subscriber, told at the end of the drain to reconnect elsewhere.
			ws, _, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial("ws"+strings.TrimPrefix(p.base, "http")+"/query", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if err := ws.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + tok}}); err != nil {
				t.Fatal(err)
			}
			if err := ws.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]string{"query": "subscription { deliveryLog { id } }"}}); err != nil {
				t.Fatal(err)
			}

			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			probe := func(path string) int {
				resp, err := http.Get(p.base + path)
				if err != nil {
					t.Fatalf("GET %s while draining: %v", path, err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			deadline := time.Now().Add(10 * time.Second)
			for probe("/readyz") != http.StatusServiceUnavailable {
				if time.Now().After(deadline) {
					t.Fatal("/readyz still answers 200 after SIGTERM")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if code := probe("/healthz"); code != http.StatusOK {
				t.Errorf("/healthz while draining: %d, want 200", code)
			}
			if _, errs := p.gql(t, tok, `mutation($s: ID!) { createIncident(input: {serviceId: $s, title: "posted while draining"}) { id } }`, map[string]any{"s": service}); len(errs) > 0 {
				t.Errorf("createIncident while draining: %v", errs)
			}

			close(release)
			exited := make(chan error, 1)
			go func() { exited <- p.cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("after SIGTERM: %v; stderr:\n%s", err, p.stderr)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("still running 30 s after SIGTERM; stderr:\n%s", p.stderr)
			}

			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for err == nil {
				_, _, err = ws.ReadMessage()
			}
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Errorf("the subscriber's connection ended with %v, want close 1001 (going away)", err)
			}

			// After a restart, the attempt in flight at SIGTERM is recorded as it ended, and the
			// incident created while draining is delivered.
			p = startHerald(t, env)
			deadline = time.Now().Add(20 * time.Second)
			for {
				data = mustGQL(t, p, tok, `query($w: ID!) { deliveries(webhookId: $w) { edges { node { status incident { title } attempts { outcome } } } } }`, map[string]any{"w": hookID})
				edges := data["deliveries"].(map[string]any)["edges"].([]any)
				done := 0
				for _, e := range edges {
					node := e.(map[string]any)["node"].(map[string]any)
					if node["status"] == models.DeliverySucceeded && len(node["attempts"].([]any)) == 1 {
						done++
					}
				}
				if len(edges) == 2 && done == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("deliveries after restart: %v", edges)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// startWithService starts the binary on a fresh database of dialect, with private targets
// allowed and a known admin token, and creates a team "Ops" with a service "api"; it returns
// the process, its environment (to start it again), the token and the service id.
func startWithService(t *testing.T, dialect string) (p *process, env map[string]string, token, service string) {
	t.Helper()
	env = roleEnv(storetest.URL(t, dialect), "e2e-admin-token-0123456789")(roleAll)
	p = startHerald(t, env)
	token = env["HERALD_ADMIN_TOKEN"]
	team := mustGQL(t, p, token, `mutation { createTeam(name: "Ops") { id } }`, nil)["createTeam"].(map[string]any)["id"].(string)
	data := mustGQL(t, p, token, `mutation($t: ID!) { createService(teamId: $t, name: "api") { id } }`, map[string]any{"t": team})
	return p, env, token, data["createService"].(map[string]any)["id"].(string)
}

// TestBinaryIngestRateIsConfigured: with HERALD_INGEST_BURST=3 and a rate too slow to refill
// within the test, the real program accepts three alerts of one integration at once and answers
// the fourth 429 with Retry-After, while another integration still gets through.
func TestBinaryIngestRateIsConfigured(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HERALD_DATABASE_URL": storetest.URL(t, models.DialectSQLite),
		"HERALD_SECRET_KEY":   storetest.Key,
		"HERALD_ADMIN_TOKEN":  "e2e-admin-token-0123456789",
		"HERALD_INGEST_RATE":  "0.001",
		"HERALD_INGEST_BURST": "3",
	}
	p := startHerald(t, env)
	token := env["HERALD_ADMIN_TOKEN"]
	team := mustGQL(t, p, token, `mutation { createTeam(name: "Ops") { id } }`, nil)["createTeam"].(map[string]any)["id"].(string)
	service := mustGQL(t, p, token, `mutation($t: ID!) { createService(teamId: $t, name: "api") { id } }`,
		map[string]any{"t": team})["createService"].(map[string]any)["id"].(string)
	integration := func(name string) string {
		t.Helper()
		data := mustGQL(t, p, token, `mutation($s: ID!, $n: String!) { createIntegration(serviceId: $s, name: $n) { token } }`,
			map[string]any{"s": service, "n": name})
		return data["createIntegration"].(map[string]any)["token"].(string)
	}
	post := func(tok string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.base+"/v1/request?from=test", strings.NewReader("disk full"))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	first := integration("first")
	for i := range 3 {
		if resp := post(first); resp.StatusCode != http.StatusCreated {
			t.Fatalf("request %d: %d, want 201", i+1, resp.StatusCode)
		}
	}
	resp := post(first)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("request 4: %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := post(integration("second")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("another integration: %d, want 201", resp.StatusCode)
	}
}
