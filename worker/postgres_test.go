package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/worker"
)

// childDBEnv carries the database URL to a worker run as a subprocess of the test binary.
const childDBEnv = "HERALD_TEST_WORKER_DB"

// openPostgres opens a second store on url (a separate pool, as another process would).
func openPostgres(t testing.TB, url string) *models.Store {
	t.Helper()
	s, err := models.Open(context.Background(), models.Options{
		DatabaseURL: url, SecretKey: storetest.Key, BaseURL: "http://herald.test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// idCounter is a receiver handler counting requests by webhook-id.
type idCounter struct {
	mu    sync.Mutex
	byID  map[string]int
	total int
	delay time.Duration
}

func (c *idCounter) handle(w http.ResponseWriter, r *http.Request, _ int) {
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	c.mu.Lock()
	c.byID[r.Header.Get("Webhook-Id")]++
	c.total++
	c.mu.Unlock()
}

func (c *idCounter) snapshot() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.byID))
	for k, v := range c.byID {
		m[k] = v
	}
	return m, c.total
}

func countStatus(t testing.TB, s *models.Store, status string) int64 {
	var n int64
	if err := s.DB().Model(&models.Delivery{}).Where("status = ?", status).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoWorkersNeverShareADelivery: two workers on one PostgreSQL database (separate pools,
// as two processes) claim with SKIP LOCKED; each delivery reaches the receiver exactly once.
func TestTwoWorkersNeverShareADelivery(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, models.DialectPostgres)
	a, b := openPostgres(t, url), openPostgres(t, url)
	counter := &idCounter{byID: map[string]int{}, delay: 2 * time.Millisecond}
	rc := newReceiver(t, counter.handle)
	const hooks, per = 6, 50
	var ids []string
	for range hooks {
		ids = append(ids, newDeliveries(t, a, newHook(t, a, rc.URL, nil), per)...)
	}
	start(t, worker.Config{Store: a, Concurrency: 32})
	start(t, worker.Config{Store: b, Concurrency: 32})
	b.WakeWorker()
	eventually(t, 60*time.Second, "all delivered", func() bool { return countStatus(t, a, models.DeliverySucceeded) == hooks*per })
	byID, total := counter.snapshot()
	if total != hooks*per {
		t.Errorf("receiver got %d requests for %d deliveries", total, hooks*per)
	}
	for _, id := range ids {
		if byID[id] != 1 {
			t.Errorf("delivery %s sent %d times", id, byID[id])
		}
	}
	var attempts int64
	a.DB().Model(&models.Attempt{}).Count(&attempts)
	if attempts != hooks*per {
		t.Errorf("%d attempts logged for %d deliveries", attempts, hooks*per)
	}
}

// TestWorkerProcess is the body of the subprocess TestKilledWorker starts; on its own it
// does nothing.
func TestWorkerProcess(t *testing.T) {
	url := os.Getenv(childDBEnv)
	if url == "" {
		t.Skip("runs only as TestKilledWorker's subprocess")
	}
	s := openPostgres(t, url)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	w, err := worker.New(worker.Config{Store: s, Concurrency: 16, AllowPrivateTargets: true,
		Lease: 2 * time.Second, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKilledWorker: a worker process killed with SIGKILL mid-load loses its leases; a second
// worker takes over once they expire and every delivery reaches the receiver at least once.
func TestKilledWorker(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, models.DialectPostgres)
	s := openPostgres(t, url)
	counter := &idCounter{byID: map[string]int{}, delay: 20 * time.Millisecond}
	rc := newReceiver(t, counter.handle)
	const hooks, per = 5, 60
	var ids []string
	for range hooks {
		ids = append(ids, newDeliveries(t, s, newHook(t, s, rc.URL, func(h *models.Webhook) { h.TimeoutSeconds = 1 }), per)...)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDBEnv+"="+url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the child to be mid-load", func() bool { _, n := counter.snapshot(); return n >= 40 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	_, atKill := counter.snapshot()
	var leased int64
	s.DB().Model(&models.Delivery{}).Where("status = ? AND lease_token IS NOT NULL", models.DeliveryPending).Count(&leased)
	t.Logf("killed the child after %d requests with %d deliveries leased", atKill, leased)

	start(t, worker.Config{Store: s, Concurrency: 16, Lease: 2 * time.Second})
	eventually(t, 60*time.Second, "all delivered", func() bool { return countStatus(t, s, models.DeliverySucceeded) == hooks*per })
	byID, total := counter.snapshot()
	dups := 0
	for _, id := range ids {
		switch n := byID[id]; {
		case n == 0:
			t.Errorf("delivery %s never reached the receiver", id)
		case n > 1:
			dups += n - 1
		}
	}
	t.Logf("%d requests for %d deliveries (%d duplicates from the killed worker)", total, len(ids), dups)
}

// takenVia reads herald_worker_deliveries_taken_total{via} from reg.
func takenVia(t testing.TB, reg *prometheus.Registry, via string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "herald_worker_deliveries_taken_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "via" && l.GetValue() == via {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no herald_worker_deliveries_taken_total{via=%q}", via)
	return 0
}

// TestIngestHandsDeliveriesToItsWorker: on PostgreSQL, the deliveries an alert makes reach
// this process's worker without a claim, each sent once with one attempt; once the worker has
// stopped, they are written unleased, for any worker's claim.
func TestIngestHandsDeliveriesToItsWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPostgres(t, storetest.URL(t, models.DialectPostgres))
	team, err := s.CreateTeam(ctx, storetest.Name("team"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := s.CreateService(ctx, team.ID, "checkout")
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := s.CreateIntegration(ctx, svc.ID, "Grafana", payload.APIFilter{TitleKey: "title"})
	if err != nil {
		t.Fatal(err)
	}
	counter := &idCounter{byID: map[string]int{}}
	rc := newReceiver(t, counter.handle)
	newHook(t, s, rc.URL, nil)
	reg := prometheus.NewRegistry()
	metrics, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	w, err := worker.New(worker.Config{Store: s, Concurrency: 16, AllowPrivateTargets: true, Metrics: metrics,
		Logger: testLogger(t), PollInterval: time.Hour, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(stop)

	alert := func(title string) string {
		t.Helper()
		res, err := s.Ingest(ctx, in, "", fmt.Appendf(nil, `{"title":%q}`, title))
		if err != nil || res.Action != models.IngestCreated {
			t.Fatalf("ingest: %+v, %v", res, err)
		}
		return res.IncidentID
	}
	// The first alert may arrive before the worker takes handoffs; once it is delivered, the
	// worker surely does.
	alert("warm-up")
	eventually(t, 10*time.Second, "the warm-up alert delivered", func() bool { return countStatus(t, s, models.DeliverySucceeded) == 1 })
	claimedBefore := takenVia(t, reg, "claim")

	// One alert at a time, each delivered before the next, so the webhook's room in the worker
	// is never full: a delivery the worker has no room for is written unleased and claimed, which
	// is what this test must not see.
	const alerts = 20
	for i := range alerts {
		alert(fmt.Sprintf("alert %d", i))
		eventually(t, 10*time.Second, "the alert delivered", func() bool { return countStatus(t, s, models.DeliverySucceeded) == int64(i+2) })
	}
	if got := takenVia(t, reg, "handoff"); got < alerts {
		t.Errorf("%v deliveries handed over, want at least %d", got, alerts)
	}
	if got := takenVia(t, reg, "claim"); got != claimedBefore {
		t.Errorf("%v deliveries claimed after the warm-up, want none", got-claimedBefore)
	}
	byID, total := counter.snapshot()
	if total != alerts+1 || len(byID) != alerts+1 {
		t.Errorf("receiver got %d requests for %d distinct deliveries, want %d", total, len(byID), alerts+1)
	}
	var attempts int64
	s.DB().Model(&models.Attempt{}).Count(&attempts)
	if attempts != alerts+1 {
		t.Errorf("%d attempts logged for %d deliveries", attempts, alerts+1)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	id := alert("after the worker stopped")
	var d models.Delivery
	if err := s.DB().Where("incident_id = ?", id).Take(&d).Error; err != nil {
		t.Fatal(err)
	}
	if d.LeaseToken != nil || d.LeaseExpiresAt != nil || d.Attempts != 0 || d.Status != models.DeliveryPending {
		t.Errorf("delivery written after the worker stopped: %+v, want pending and unleased", d)
	}
}
