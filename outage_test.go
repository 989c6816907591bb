package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// metricDatabaseUp is the gauge that says whether the process reaches its database.
const metricDatabaseUp = "herald_database_up"

// TestBinaryRidesOutDatabaseOutage runs the real program on PostgreSQL through a proxy the
// test cuts, as a database that goes away: an alert accepted before the cut has its first
// attempt refused by the receiver, and its retry falls due while the database is away. During
// the cut /v1/process answers 503 with Retry-After, GraphQL UNAVAILABLE, and
// herald_database_up reads 0; once the proxy is restored the gauge reads 1 again, the worker
// claims the retry by itself and the receiver gets the alert, and new alerts are accepted.
func TestBinaryRidesOutDatabaseOutage(t *testing.T) {
	t.Parallel()
	proxy, via := storetest.NewProxy(t, storetest.URL(t, models.DialectPostgres))

	var mu sync.Mutex
	var arrivals []time.Time
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		first := len(arrivals) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer receiver.Close()

	const token = "outage-admin-token-0123456789"
	// One retryIntervalMinutes lasts 3 s: the retry falls due during the cut below.
	const retryUnit = 3 * time.Second
	p := startHerald(t, map[string]string{
		"HERALD_DATABASE_URL":          via,
		"HERALD_SECRET_KEY":            storetest.Key,
		"HERALD_ADMIN_TOKEN":           token,
		"HERALD_ALLOW_PRIVATE_TARGETS": "true",
		"HERALD_RETRY_UNIT":            retryUnit.String(),
	})
	team := mustGQL(t, p, token, `mutation { createTeam(name: "Ops") { id } }`, nil)["createTeam"].(map[string]any)["id"].(string)
	service := mustGQL(t, p, token, `mutation($t: ID!) { createService(teamId: $t, name: "api") { id } }`,
		map[string]any{"t": team})["createService"].(map[string]any)["id"].(string)
	hook := mustGQL(t, p, token, `mutation($s: ID!, $u: String!) { createWebhook(input: {
		name: "receiver", scope: SERVICE, serviceId: $s, events: [INCIDENT_CREATED], urls: [$u], retryIntervalMinutes: 1
	}) { webhook { id } } }`, map[string]any{"s": service, "u": receiver.URL})
	hookID := hook["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)
	integration := mustGQL(t, p, token, `mutation($s: ID!) { createIntegration(serviceId: $s, name: "alertmanager") { token } }`,
		map[string]any{"s": service})["createIntegration"].(map[string]any)["token"].(string)
	if up, ok := scrapeMetrics(t, p).value(metricDatabaseUp); !ok || up != 1 {
		t.Fatalf("%s = %v (present %v) with the database up, want 1", metricDatabaseUp, up, ok)
	}

	postMetricsAlert(t, p, integration, "before-the-cut")
	waitDeliveryStatus(t, p, token, hookID, models.DeliveryPending, 1)
	mu.Lock()
	retryDue := arrivals[0].Add(retryUnit)
	mu.Unlock()

	proxy.Cut()
	resp := postRaw(t, p, integration, `{"status":"firing","groupKey":"during-the-cut"}`)
	var refused struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(resp.body, &refused); err != nil {
		t.Fatalf("503 body %s: %v", resp.body, err)
	}
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" ||
		refused.Error.Code != models.CodeUnavailable {
		t.Fatalf("POST /v1/process during the cut: %d Retry-After %q %s, want 503 with Retry-After and UNAVAILABLE",
			resp.status, resp.header.Get("Retry-After"), resp.body)
	}
	if strings.Contains(string(resp.body), "EOF") || strings.Contains(string(resp.body), "connect") {
		t.Errorf("503 body shows the driver's error: %s", resp.body)
	}
	_, errs := p.gql(t, token, `{ me { id } }`, nil)
	if len(errs) != 1 || errs[0]["extensions"].(map[string]any)["code"] != models.CodeUnavailable {
		t.Fatalf("GraphQL during the cut: %v, want one UNAVAILABLE error", errs)
	}
	pollMetrics(t, p, metricDatabaseUp+" = 0", func(m metricSet) bool {
		up, _ := m.value(metricDatabaseUp)
		return up == 0
	})
	// The worker meets the database away while the retry is due.
	time.Sleep(time.Until(retryDue.Add(time.Second)))

	restored := time.Now()
	proxy.Restore()
	pollMetrics(t, p, metricDatabaseUp+" = 1", func(m metricSet) bool {
		up, _ := m.value(metricDatabaseUp)
		return up == 1
	})
	waitDeliveryStatus(t, p, token, hookID, models.DeliverySucceeded, 2)
	mu.Lock()
	if len(arrivals) != 2 || arrivals[1].Before(restored) {
		t.Errorf("receiver arrivals %v, want the retry after the restore at %v", arrivals, restored)
	}
	mu.Unlock()
	postMetricsAlert(t, p, integration, "after-the-restore")
}

// TestBinaryRecordsAttemptAnsweredDuringOutage: an attempt whose answer comes after the
// database went away is recorded once it is back, without waiting for its lease to run out
// and without sending the receiver the same request again.
func TestBinaryRecordsAttemptAnsweredDuringOutage(t *testing.T) {
	t.Parallel()
	proxy, via := storetest.NewProxy(t, storetest.URL(t, models.DialectPostgres))
	arrived, release := make(chan struct{}, 8), make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
	}))
	defer receiver.Close()
	const token = "outage-admin-token-0123456789"
	p := startHerald(t, map[string]string{
		"HERALD_DATABASE_URL":          via,
		"HERALD_SECRET_KEY":            storetest.Key,
		"HERALD_ADMIN_TOKEN":           token,
		"HERALD_ALLOW_PRIVATE_TARGETS": "true",
	})
	team := mustGQL(t, p, token, `mutation { createTeam(name: "Ops") { id } }`, nil)["createTeam"].(map[string]any)["id"].(string)
	service := mustGQL(t, p, token, `mutation($t: ID!) { createService(teamId: $t, name: "api") { id } }`,
		map[string]any{"t": team})["createService"].(map[string]any)["id"].(string)
	hook := mustGQL(t, p, token, `mutation($s: ID!, $u: String!) { createWebhook(input: {
		name: "receiver", scope: SERVICE, serviceId: $s, events: [INCIDENT_CREATED], urls: [$u]
	}) { webhook { id } } }`, map[string]any{"s": service, "u": receiver.URL})
	hookID := hook["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)
	integration := mustGQL(t, p, token, `mutation($s: ID!) { createIntegration(serviceId: $s, name: "alertmanager") { token } }`,
		map[string]any{"s": service})["createIntegration"].(map[string]any)["token"].(string)

	postMetricsAlert(t, p, integration, "answered-during-the-cut")
	select {
	case <-arrived:
	case <-time.After(metricsWait):
		t.Fatal("the webhook never arrived")
	}
	proxy.Cut()
	close(release) // the 200 comes back with the database away
	pollMetrics(t, p, metricDatabaseUp+" = 0", func(m metricSet) bool {
		up, _ := m.value(metricDatabaseUp)
		return up == 0
	})
	proxy.Restore()
	waitDeliveryStatus(t, p, token, hookID, models.DeliverySucceeded, 1)
	if n := len(arrived); n != 0 {
		t.Errorf("the receiver got the request %d more times", n)
	}
}

// rawAnswer is an answer of the incoming API.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
}

// postRaw posts an alert to /v1/process and returns the answer whatever its status.
func postRaw(t *testing.T, p *process, integration, alert string) rawAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+"/v1/process?from=prometheus", strings.NewReader(alert))
	req.Header.Set("Authorization", "Bearer "+integration)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return rawAnswer{resp.StatusCode, resp.Header, body}
}
