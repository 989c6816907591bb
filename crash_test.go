package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
)

// TestBinaryRecoversFromKill: Herald killed with SIGKILL while requests are in flight, then
// started again on the same PostgreSQL, sends every delivery (nothing lost), and sends again
// only what was in flight at the kill. How long after the restart those were sent again is
// logged (a lease is 10 s, so within seconds, where a lease used to last 90 s); a figure, not
// an assertion.
func TestBinaryRecoversFromKill(t *testing.T) {
	t.Parallel()
	p, env, token, service := startWithService(t, models.DialectPostgres)
	var (
		mu       sync.Mutex
		got      = map[string]int{}
		inFlight = map[string]bool{}
		killed   bool
		atKill   map[string]bool
		again    = map[string]time.Time{} // when a delivery arrived a second time
		answered = map[string]time.Time{} // when each request was answered
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("Webhook-Id")
		mu.Lock()
		if got[id]++; got[id] == 2 {
			again[id] = time.Now()
		}
		inFlight[id] = true
		mu.Unlock()
		time.Sleep(time.Second)
		mu.Lock()
		if !killed {
			delete(inFlight, id)
			answered[id] = time.Now()
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	mustGQL(t, p, token, `mutation($s: ID!, $u: String!) { createWebhook(input: {name: "slow", scope: SERVICE, serviceId: $s,
		events: [INCIDENT_CREATED], urls: [$u]}) { webhook { id } } }`, map[string]any{"s": service, "u": receiver.URL})
	integration := mustGQL(t, p, token, `mutation($s: ID!) { createIntegration(serviceId: $s, name: "am") { token } }`,
		map[string]any{"s": service})["createIntegration"].(map[string]any)["token"].(string)
	const alerts = 40
	for i := range alerts {
		postAlert(t, p, integration, fmt.Sprintf(`{"title":"alert %d"}`, i))
	}
	eventually(t, 30*time.Second, "requests in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(inFlight) >= 4
	})
	mu.Lock()
	killed = true
	mu.Unlock()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	// In flight at the kill: requests not yet answered, and those answered so shortly before
	// that Herald may not have recorded them.
	mu.Lock()
	atKill = map[string]bool{}
	unanswered := len(inFlight)
	for id := range inFlight {
		atKill[id] = true
	}
	for id, at := range answered {
		if time.Since(at) < time.Second {
			atKill[id] = true
		}
	}
	mu.Unlock()

	startHerald(t, env)
	restarted := time.Now()
	eventually(t, 60*time.Second, "every delivery, and those in flight at the kill again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= alerts && len(again) >= unanswered
	})
	mu.Lock()
	var last time.Time
	for _, at := range again {
		if at.After(last) {
			last = at
		}
	}
	mu.Unlock()
	t.Logf("the %d requests unanswered at the kill were sent again within %.1f s of the restart; all %d arrived by %.1f s",
		unanswered, last.Sub(restarted).Seconds(), alerts, time.Since(restarted).Seconds())
	time.Sleep(2 * time.Second) // late duplicates
	mu.Lock()
	defer mu.Unlock()
	if len(got) != alerts {
		t.Errorf("%d distinct deliveries arrived, want %d", len(got), alerts)
	}
	for id, n := range got {
		if n > 1 && !atKill[id] {
			t.Errorf("delivery %s arrived %d times but was not in flight at the kill", id, n)
		}
	}
}

// eventually polls cond every 50 ms until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}
