package graph

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// Environment of the benchmark's client process (TestDeliveryLogBenchClients).
const (
	benchClientURL   = "HERALD_BENCH_CLIENT_URL"
	benchClientToken = "HERALD_BENCH_CLIENT_TOKEN"
	benchClientCount = "HERALD_BENCH_CLIENT_COUNT"
)

// benchProfileDir names a folder where BenchmarkDeliveryLogFanout writes the server's heap and
// goroutine profiles once every subscriber is connected.
const benchProfileDir = "HERALD_BENCH_PROFILE_DIR"

// BenchmarkDeliveryLogFanout measures deliveryLog fan-out on one process: N graphql-transport-ws
// subscribers on real websockets through NewHandler, each attempt timed from the call of
// CreateTestAttempt to its arrival at the last subscriber. (The insert and commit take a
// fraction of a millisecond, but on SQLite the call returns only after publishing the attempt
// to the hub, which wakes every subscriber: timing from its return would leave out much of the
// fan-out, whose pumps compete with it for the CPUs.) It reports the p50 and p99 of those
// times over b.N attempts, the server's heap and stack per subscriber (together and apart) and
// its goroutines per subscriber. The clients run in a child process (this test binary running
// TestDeliveryLogBenchClients), so that neither their memory nor their file descriptors count
// against the server.
//
// N is 100 unless HERALD_BENCH_SUBSCRIBERS lists counts ("1000,10000"); HERALD_BENCH_DIALECT
// picks the store (sqlite, the default, or postgres); HERALD_BENCH_PROFILE_DIR, a folder for
// the server's heap and goroutine profiles taken while every subscriber is connected. For
// example:
//
//	HERALD_BENCH_SUBSCRIBERS=1000,10000 go test ./graph -run '^$' -bench DeliveryLogFanout -benchtime 20x
func BenchmarkDeliveryLogFanout(b *testing.B) {
	counts := []int{100}
	if v := os.Getenv("HERALD_BENCH_SUBSCRIBERS"); v != "" {
		counts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("HERALD_BENCH_SUBSCRIBERS: %q is not a positive number", f)
			}
			counts = append(counts, n)
		}
	}
	dialect := os.Getenv("HERALD_BENCH_DIALECT")
	if dialect == "" {
		dialect = models.DialectSQLite
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("%s/subscribers=%d", dialect, n), func(b *testing.B) { benchFanout(b, dialect, n) })
	}
}

func benchFanout(b *testing.B, dialect string, n int) {
	if err := raiseFileLimit(uint64(n + 1024)); err != nil {
		b.Skip(err)
	}
	ctx := context.Background()
	s := storetest.Open(b, dialect)
	listenCtx, stopListen := context.WithCancel(ctx)
	b.Cleanup(stopListen)
	go s.Listen(listenCtx)
	u, err := s.CreateUser(ctx, "bench-admin", nil, models.RoleGlobalAdmin, nil)
	if err != nil {
		b.Fatal(err)
	}
	token, err := s.CreateAPIToken(ctx, u.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	hook, _, err := s.CreateWebhook(ctx, webhook.Spec{
		Name: "bench", Scope: webhook.ScopeGlobal, Events: []string{webhook.EventCreated},
		URLs: []string{"https://receiver.example/hook"}, Method: "POST", Auth: webhook.Auth{Type: "NONE"},
		Signing: webhook.Signing{Scheme: "NONE"}, SendDataUsing: "BODY", ContentType: "JSON",
		RetryCount: 3, RetryIntervalMinutes: 1, TimeoutSeconds: 3,
	})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// All n subscribers use one token: the per-token cap is raised to let them in.
	srv := httptest.NewServer(NewHandler(&Resolver{Store: s, Logger: logger, WebsocketMaxPerToken: n}, nil))
	b.Cleanup(srv.Close)

	before, goroutines := memInUse(), runtime.NumGoroutine()
	arrivals := startBenchClients(b, "ws"+strings.TrimPrefix(srv.URL, "http"), token, n)
	deadline := time.Now().Add(2 * time.Minute)
	for s.Hub().Len() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscriptions registered after two minutes", s.Hub().Len(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := memInUse()
	perSub := float64(after.total()-before.total()) / float64(n) / 1024
	heapPerSub := float64(after.heap-before.heap) / float64(n) / 1024
	stackPerSub := float64(after.stack-before.stack) / float64(n) / 1024
	goroutinesPerSub := float64(runtime.NumGoroutine()-goroutines) / float64(n)
	if dir := os.Getenv(benchProfileDir); dir != "" {
		writeBenchProfiles(b, dir, fmt.Sprintf("%s-%d", dialect, n))
	}

	// On PostgreSQL the listener may connect after the subscriptions: warm up until an attempt
	// is heard, giving each a while so that slow fan-outs do not pile up.
	for try := 1; ; try++ {
		id := benchAttempt(b, s, hook.ID)
		if _, ok := arrivals.wait(id, 20*time.Second); ok {
			break
		}
		if try == 3 {
			b.Fatal("no warm-up attempt reached every subscriber within 20s")
		}
	}

	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		id := benchAttempt(b, s, hook.ID)
		at, ok := arrivals.wait(id, time.Minute)
		if !ok {
			b.Fatalf("attempt %s did not reach every subscriber within a minute", id)
		}
		latencies = append(latencies, at.Sub(start))
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(ms(percentile(latencies, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(latencies, 99)), "p99-ms")
	b.ReportMetric(perSub, "KiB/subscriber")
	b.ReportMetric(heapPerSub, "heap-KiB/subscriber")
	b.ReportMetric(stackPerSub, "stack-KiB/subscriber")
	b.ReportMetric(goroutinesPerSub, "goroutines/subscriber")
}

// benchArrivals records when the client process reported each attempt fully received.
type benchArrivals struct {
	mu     sync.Mutex
	at     map[string]time.Time
	notify chan struct{}
}

// wait returns when attempt id reached the last subscriber, or false after timeout.
func (a *benchArrivals) wait(id string, timeout time.Duration) (time.Time, bool) {
	expire := time.After(timeout)
	for {
		a.mu.Lock()
		at, ok := a.at[id]
		notify := a.notify
		a.mu.Unlock()
		if ok {
			return at, true
		}
		select {
		case <-notify:
		case <-expire:
			return time.Time{}, false
		}
	}
}

// startBenchClients runs the client process with n subscribers and returns once they are all
// subscribed; it fails the benchmark on any error the process reports.
func startBenchClients(b *testing.B, url, token string, n int) *benchArrivals {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeliveryLogBenchClients$", "-test.v")
	cmd.Env = append(os.Environ(), benchClientURL+"="+url, benchClientToken+"="+token, benchClientCount+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	a := &benchArrivals{at: map[string]time.Time{}, notify: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "bench-done "):
				a.mu.Lock()
				a.at[strings.TrimPrefix(line, "bench-done ")] = time.Now()
				close(a.notify)
				a.notify = make(chan struct{})
				a.mu.Unlock()
			case line == "bench-ready", strings.HasPrefix(line, "bench-error "):
				ready <- line
			}
		}
		ready <- "bench-error the client process exited"
	}()
	select {
	case line := <-ready:
		if line != "bench-ready" {
			b.Fatal(line)
		}
	case <-time.After(5 * time.Minute):
		b.Fatal("the client process did not subscribe within five minutes")
	}
	return a
}

// TestDeliveryLogBenchClients is BenchmarkDeliveryLogFanout's client process: it subscribes
// HERALD_BENCH_CLIENT_COUNT times to deliveryLog at HERALD_BENCH_CLIENT_URL, prints
// "bench-ready", then "bench-done ID" once attempt ID has reached every subscriber, until its
// stdin closes. Run on its own, it skips.
func TestDeliveryLogBenchClients(t *testing.T) {
	url := os.Getenv(benchClientURL)
	if url == "" {
		t.Skip("runs only as BenchmarkDeliveryLogFanout's client process")
	}
	n, err := strconv.Atoi(os.Getenv(benchClientCount))
	if err != nil {
		t.Fatal(err)
	}
	if err := raiseFileLimit(uint64(n + 1024)); err != nil {
		fmt.Println("bench-error", err)
		return
	}
	var (
		out    sync.Mutex
		counts sync.Map // attempt id → *atomic.Int64
	)
	report := func(line string) {
		out.Lock()
		fmt.Println(line)
		out.Unlock()
	}
	received := func(id string) {
		c, _ := counts.LoadOrStore(id, &atomic.Int64{})
		if c.(*atomic.Int64).Add(1) == int64(n) {
			report("bench-done " + id)
		}
	}
	conns, err := dialSubscribers(url, os.Getenv(benchClientToken), n, received, report)
	if err != nil {
		report("bench-error " + err.Error())
		return
	}
	report("bench-ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
}

// dialSubscribers opens n subscriptions, 32 handshakes at a time, each read by a goroutine
// that answers pings, passes every attempt id to received and every error to report.
func dialSubscribers(url, token string, n int, received func(id string), report func(line string)) ([]*websocket.Conn, error) {
	init, _ := json.Marshal(map[string]any{"Authorization": "Bearer " + token})
	query, _ := json.Marshal(map[string]any{"query": "subscription { deliveryLog { id test outcome webhook { id status } } }"})
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, ReadBufferSize: 1024, WriteBufferSize: 1024}
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(32, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				c, _, err := d.Dial(url, nil)
				if err != nil {
					errs <- fmt.Errorf("dial subscriber %d: %w", i, err)
					return
				}
				conns[i] = c
				var ack wsMessage
				if err := c.WriteJSON(wsMessage{Type: "connection_init", Payload: init}); err != nil {
					errs <- err
					return
				}
				if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
					errs <- fmt.Errorf("subscriber %d: want connection_ack, got %+v (%v)", i, ack, err)
					return
				}
				if err := c.WriteJSON(wsMessage{ID: "1", Type: "subscribe", Payload: query}); err != nil {
					errs <- err
					return
				}
				go readSubscriber(c, received, report)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return conns, err
	}
	return conns, nil
}

// readSubscriber reads one subscriber's messages until its connection closes.
func readSubscriber(c *websocket.Conn, received func(id string), report func(line string)) {
	for {
		var m wsMessage
		if err := c.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case "ping":
			_ = c.WriteJSON(wsMessage{Type: "pong"})
		case "next":
			var p struct {
				Data struct {
					DeliveryLog struct{ ID string } `json:"deliveryLog"`
				} `json:"data"`
				Errors json.RawMessage `json:"errors"`
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || p.Errors != nil || p.Data.DeliveryLog.ID == "" {
				report("bench-error unexpected event " + string(m.Payload))
				continue
			}
			received(p.Data.DeliveryLog.ID)
		default:
			report("bench-error unexpected " + m.Type + " " + string(m.Payload))
		}
	}
}

// benchAttempt stores a test attempt of the webhook and returns its id.
func benchAttempt(b *testing.B, s *models.Store, hookID string) string {
	a := &models.Attempt{
		WebhookID: &hookID, Event: webhook.EventCreated, Number: 1, Outcome: models.AttemptSucceeded,
		Request: models.NewJSON(webhook.RequestLog{Method: "POST", URL: "https://receiver.example/hook"}), StartedAt: time.Now(),
	}
	if err := s.CreateTestAttempt(context.Background(), a); err != nil {
		b.Fatal(err)
	}
	return a.ID
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to at least want descriptors.
func raiseFileLimit(want uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= want {
		return nil
	}
	lim.Cur = want
	lim.Max = max(lim.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open-file limit to %d: %w", want, err)
	}
	return nil
}

// memUse is the heap and stack memory in use, in bytes.
type memUse struct{ heap, stack int64 }

func (m memUse) total() int64 { return m.heap + m.stack }

// memInUse returns the heap and stack memory in use after a collection.
func memInUse() memUse {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memUse{heap: int64(m.HeapInuse), stack: int64(m.StackInuse)}
}

// writeBenchProfiles writes the server's live heap (heap-NAME.pprof, read with
// `go tool pprof -sample_index=inuse_space`) and goroutines (goroutines-NAME.txt) to dir,
// while every subscriber is connected.
func writeBenchProfiles(b *testing.B, dir, name string) {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for file, profile := range map[string]string{"heap-" + name + ".pprof": "heap", "goroutines-" + name + ".txt": "goroutine"} {
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			b.Fatal(err)
		}
		debug := 0
		if profile == "goroutine" {
			debug = 1
		}
		runtime.GC()
		err = pprof.Lookup(profile).WriteTo(f, debug)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
