package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// Metric names as worker/metrics.go defines them.
const (
	metricAttempts   = "herald_delivery_attempts_total"
	metricLatency    = "herald_delivery_attempt_duration_seconds"
	metricDeliveries = "herald_deliveries_finished_total"
	metricDepth      = "herald_delivery_queue_depth"
	metricOldestAge  = "herald_delivery_queue_oldest_age_seconds"
	metricInFlight   = "herald_worker_in_flight"
	// metricSubscriptions is the live-subscriptions gauge of SPEC §9: deliveryLog subscriptions
	// open in the process.
	metricSubscriptions = "herald_live_subscriptions"
)

// metricsWait bounds a wait for a metric.
const metricsWait = 30 * time.Second

// TestMetricsCountDeliveriesAndQueue drives the real program with webhooks whose receiver
// answers 200, 500, holds a request until released, or answers 503 with a Retry-After of an
// hour, and checks what /metrics says against what the receiver saw: attempts and finished
// deliveries by outcome, the latency histogram, the queue depth and age while a webhook is held
// back at its in-flight cap, once everything is delivered, and while a retry waits.
func TestMetricsCountDeliveriesAndQueue(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			rcv := newMetricsReceiver(t)
			p, tok := startMetricsHerald(t, dialect, map[string]string{
				// One request in flight per webhook (max(1, 8/8)); retries 100 ms apart.
				"HERALD_WORKER_CONCURRENCY": "8",
				"HERALD_RETRY_UNIT":         "100ms",
			})
			team := mustGQL(t, p, tok, `mutation { createTeam(name: "Metrics") { id } }`, nil)["createTeam"].(map[string]any)["id"].(string)
			route := func(name string, hook map[string]any) (integration, webhookID string) {
				t.Helper()
				service := mustGQL(t, p, tok, `mutation($t: ID!, $n: String!) { createService(teamId: $t, name: $n) { id } }`,
					map[string]any{"t": team, "n": name})["createService"].(map[string]any)["id"].(string)
				in := map[string]any{"name": name, "scope": "SERVICE", "serviceId": service,
					"events": []string{"INCIDENT_CREATED"}, "urls": []string{rcv.srv.URL + "/" + name}}
				for k, v := range hook {
					in[k] = v
				}
				webhookID = mustGQL(t, p, tok, `mutation($in: WebhookInput!) { createWebhook(input: $in) { webhook { id } } }`,
					map[string]any{"in": in})["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)
				integration = mustGQL(t, p, tok, `mutation($s: ID!) { createIntegration(serviceId: $s, name: "alertmanager",
					apiFilter: { titleKey: "commonLabels.alertname", mappingKey: "groupKey" }) { token } }`,
					map[string]any{"s": service})["createIntegration"].(map[string]any)["token"].(string)
				return integration, webhookID
			}
			okRoute, _ := route("ok", nil)
			// Two attempts per delivery: four failures in a row stay under the six that deactivate.
			flakyRoute, _ := route("flaky", map[string]any{"retryCount": 1, "retryIntervalMinutes": 1})
			slowRoute, _ := route("slow", map[string]any{"timeoutSeconds": 30})
			laterRoute, laterHook := route("later", nil)

			m := scrapeMetrics(t, p)
			for _, o := range []string{models.AttemptSucceeded, models.AttemptFailed} {
				m.want(t, 0, metricAttempts, "outcome", o)
				m.wantHistogram(t, 0, metricLatency, "outcome", o)
			}
			for _, s := range []string{models.DeliverySucceeded, models.DeliveryFailed, models.DeliveryCancelled} {
				m.want(t, 0, metricDeliveries, "status", s)
			}
			m.want(t, 0, metricDepth)
			m.want(t, 0, metricOldestAge)
			m.want(t, 0, metricInFlight)

			// Held back: the slow webhook's first request blocks, and its cap of one keeps the
			// other two deliveries PENDING and due.
			posted := time.Now()
			for i := range 3 {
				postMetricsAlert(t, p, slowRoute, fmt.Sprintf("slow-%d", i))
			}
			arrived := rcv.waitArrival(t, "slow")
			m = pollMetrics(t, p, "queue depth 3 with a due delivery waiting", func(m metricSet) bool {
				d, _ := m.value(metricDepth)
				age, _ := m.value(metricOldestAge)
				return d == 3 && age > 0
			})
			if age, _ := m.value(metricOldestAge); age > time.Since(posted).Seconds()+1 {
				t.Errorf("%s = %v, more than the %v since the first alert", metricOldestAge, age, time.Since(posted))
			}
			m.want(t, 1, metricInFlight)
			m.want(t, 0, metricAttempts, "outcome", models.AttemptSucceeded)
			m.wantHistogram(t, 0, metricLatency, "outcome", models.AttemptSucceeded)
			if n := rcv.count("slow", 0); n != 1 {
				t.Errorf("the slow receiver got %d requests at once, want 1 (the webhook's cap)", n)
			}
			blocked := time.Since(arrived)
			rcv.unblock()

			// Everything delivered: 3 + 3 deliveries succeed at their first attempt, 2 fail after
			// two attempts each.
			for i := range 3 {
				postMetricsAlert(t, p, okRoute, fmt.Sprintf("ok-%d", i))
			}
			for i := range 2 {
				postMetricsAlert(t, p, flakyRoute, fmt.Sprintf("flaky-%d", i))
			}
			m = pollMetrics(t, p, "8 finished deliveries and an empty queue", func(m metricSet) bool {
				s, _ := m.value(metricDeliveries, "status", models.DeliverySucceeded)
				f, _ := m.value(metricDeliveries, "status", models.DeliveryFailed)
				d, _ := m.value(metricDepth)
				return s+f >= 8 && d == 0
			})
			got := rcv.answers()
			if want := map[string]int{"ok 200": 3, "slow 200": 3, "flaky 500": 4}; !equalCounts(got, want) {
				t.Fatalf("the receiver answered %v, want %v", got, want)
			}
			succeeded, failed := rcv.outcomes()
			m.want(t, float64(succeeded), metricAttempts, "outcome", models.AttemptSucceeded)
			m.want(t, float64(failed), metricAttempts, "outcome", models.AttemptFailed)
			m.wantHistogram(t, succeeded, metricLatency, "outcome", models.AttemptSucceeded)
			m.wantHistogram(t, failed, metricLatency, "outcome", models.AttemptFailed)
			// The held request alone lasted longer than blocked: the histogram measures real time.
			if _, sum, _ := m.histogram(metricLatency, "outcome", models.AttemptSucceeded); sum < blocked.Seconds() {
				t.Errorf("%s_sum{outcome=SUCCEEDED} = %v, less than the %v one request was held", metricLatency, sum, blocked)
			}
			if _, sum, _ := m.histogram(metricLatency, "outcome", models.AttemptFailed); sum <= 0 {
				t.Errorf("%s_sum{outcome=FAILED} = %v, want > 0", metricLatency, sum)
			}
			m.want(t, 6, metricDeliveries, "status", models.DeliverySucceeded)
			m.want(t, 2, metricDeliveries, "status", models.DeliveryFailed)
			m.want(t, 0, metricDeliveries, "status", models.DeliveryCancelled)
			m.want(t, 0, metricOldestAge)
			m.want(t, 0, metricInFlight)

			// A retry in the future: the 503 asks for an hour, so the delivery stays PENDING, in
			// the depth, but nothing is due, so the age is 0; its attempt counts, the delivery
			// has not finished.
			postMetricsAlert(t, p, laterRoute, "later-0")
			waitDeliveryStatus(t, p, tok, laterHook, models.DeliveryPending, 1)
			m = pollMetrics(t, p, "queue depth 1 with no due delivery", func(m metricSet) bool {
				d, _ := m.value(metricDepth)
				age, _ := m.value(metricOldestAge)
				return d == 1 && age == 0
			})
			if n := rcv.count("later", 503); n != 1 {
				t.Errorf("the later receiver answered 503 %d times, want 1", n)
			}
			m.want(t, float64(failed+1), metricAttempts, "outcome", models.AttemptFailed)
			m.wantHistogram(t, failed+1, metricLatency, "outcome", models.AttemptFailed)
			m.want(t, 6, metricDeliveries, "status", models.DeliverySucceeded)
			m.want(t, 2, metricDeliveries, "status", models.DeliveryFailed)

			// Deactivating the webhook through the API cancels its waiting retry: one CANCELLED
			// delivery, and the queue is empty.
			mustGQL(t, p, tok, `mutation($id: ID!) { deactivateWebhook(id: $id) { status } }`, map[string]any{"id": laterHook})
			m = pollMetrics(t, p, "the cancelled retry counted and gone from the queue", func(m metricSet) bool {
				c, _ := m.value(metricDeliveries, "status", models.DeliveryCancelled)
				d, _ := m.value(metricDepth)
				return c == 1 && d == 0
			})
			m.want(t, 6, metricDeliveries, "status", models.DeliverySucceeded)
			m.want(t, 2, metricDeliveries, "status", models.DeliveryFailed)
		})
	}
}

// TestMetricsWithoutDatabase: while the database is gone, /metrics still answers with every
// metric it can read (the process's and the worker's counters), leaving out only the queue
// gauges that need the database.
func TestMetricsWithoutDatabase(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, models.DialectPostgres)
	p := startHerald(t, map[string]string{
		"HERALD_DATABASE_URL": url,
		"HERALD_SECRET_KEY":   storetest.Key,
		"HERALD_ADMIN_TOKEN":  "metrics-admin-token-0123456789",
	})
	if _, ok := scrapeMetrics(t, p).value(metricDepth); !ok {
		t.Fatalf("no %s while the database is up", metricDepth)
	}
	storetest.DropDatabase(t, url)
	m := pollMetrics(t, p, "a scrape without the queue gauges", func(m metricSet) bool {
		_, ok := m.value(metricDepth)
		return !ok
	})
	for _, name := range []string{"go_goroutines", metricInFlight} {
		if _, ok := m.value(name); !ok {
			t.Errorf("/metrics lost %s while the database is down", name)
		}
	}
	m.want(t, 0, metricAttempts, "outcome", models.AttemptFailed)
}

// TestMetricsLiveSubscriptions checks that the live-subscriptions gauge counts a
// graphql-transport-ws client subscribed to deliveryLog while it is, and no longer once it
// has disconnected.
func TestMetricsLiveSubscriptions(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p, tok := startMetricsHerald(t, dialect, nil)
			before, ok := scrapeMetrics(t, p).value(metricSubscriptions)
			if !ok {
				t.Fatalf("/metrics has no %s: SPEC §9 asks for live subscriptions", metricSubscriptions)
			}
			t.Run("subscribed", func(t *testing.T) {
				subscribeDeliveryLog(t, p, tok) // disconnects when this subtest ends
				pollMetrics(t, p, fmt.Sprintf("%s = %v", metricSubscriptions, before+1), func(m metricSet) bool {
					n, _ := m.value(metricSubscriptions)
					return n == before+1
				})
			})
			pollMetrics(t, p, fmt.Sprintf("%s back to %v after the client left", metricSubscriptions, before), func(m metricSet) bool {
				n, _ := m.value(metricSubscriptions)
				return n == before
			})
		})
	}
}

// startMetricsHerald starts the binary on a database of its own with the extra environment and
// returns it with its admin token.
func startMetricsHerald(t *testing.T, dialect string, extra map[string]string) (*process, string) {
	t.Helper()
	const token = "metrics-admin-token-0123456789"
	env := map[string]string{
		"HERALD_DATABASE_URL":          storetest.URL(t, dialect),
		"HERALD_SECRET_KEY":            storetest.Key,
		"HERALD_ADMIN_TOKEN":           token,
		"HERALD_ALLOW_PRIVATE_TARGETS": "true",
	}
	for k, v := range extra {
		env[k] = v
	}
	return startHerald(t, env), token
}

func mustGQL(t *testing.T, p *process, token, query string, vars map[string]any) map[string]any {
	t.Helper()
	data, errs := p.gql(t, token, query, vars)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", query, errs)
	}
	return data
}

// postMetricsAlert posts a firing alert whose groupKey makes a new incident.
func postMetricsAlert(t *testing.T, p *process, integration, key string) {
	t.Helper()
	postAlert(t, p, integration, fmt.Sprintf(`{"status":"firing","groupKey":%q,"commonLabels":{"alertname":%q}}`, key, key))
}

// waitDeliveryStatus polls the API until the webhook's only delivery has the status and that
// many attempts recorded.
func waitDeliveryStatus(t *testing.T, p *process, token, webhookID, status string, attempts int) {
	t.Helper()
	var last any
	for deadline := time.Now().Add(metricsWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		data := mustGQL(t, p, token, `query($w: ID!) { deliveries(webhookId: $w) { edges { node { status attempts { number } } } } }`,
			map[string]any{"w": webhookID})
		edges := data["deliveries"].(map[string]any)["edges"].([]any)
		last = edges
		if len(edges) == 1 {
			node := edges[0].(map[string]any)["node"].(map[string]any)
			if node["status"] == status && len(node["attempts"].([]any)) == attempts {
				return
			}
		}
	}
	t.Fatalf("webhook %s: want one %s delivery with %d attempts, last saw %v; herald stderr:\n%s", webhookID, status, attempts, last, p.stderr)
}

// metricsReceiver is the webhooks' endpoint: /ok answers 200, /flaky 500, /later 503 with a
// Retry-After of an hour, and /slow holds each request until unblock, then answers 200. It
// counts its answers by path and status (0: the request ended before an answer).
type metricsReceiver struct {
	srv       *httptest.Server
	release   chan struct{}
	unblockMu sync.Once
	mu        sync.Mutex
	arrivals  map[string][]time.Time
	answered  map[string]int // "path status"
}

func newMetricsReceiver(t *testing.T) *metricsReceiver {
	t.Helper()
	r := &metricsReceiver{release: make(chan struct{}), arrivals: map[string][]time.Time{}, answered: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		path := strings.TrimPrefix(req.URL.Path, "/")
		r.mu.Lock()
		r.arrivals[path] = append(r.arrivals[path], time.Now())
		r.mu.Unlock()
		status := http.StatusOK
		switch path {
		case "flaky":
			status = http.StatusInternalServerError
		case "later":
			w.Header().Set("Retry-After", "3600")
			status = http.StatusServiceUnavailable
		case "slow":
			select {
			case <-r.release:
			case <-req.Context().Done():
				status = 0
			}
		}
		r.mu.Lock()
		r.answered[fmt.Sprintf("%s %d", path, status)]++
		r.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(func() {
		r.unblock()
		r.srv.Close()
	})
	return r
}

func (r *metricsReceiver) unblock() { r.unblockMu.Do(func() { close(r.release) }) }

// waitArrival waits for the first request on path and returns when it arrived.
func (r *metricsReceiver) waitArrival(t *testing.T, path string) time.Time {
	t.Helper()
	for deadline := time.Now().Add(metricsWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r.mu.Lock()
		a := r.arrivals[path]
		r.mu.Unlock()
		if len(a) > 0 {
			return a[0]
		}
	}
	t.Fatalf("no request reached /%s", path)
	return time.Time{}
}

// count returns the requests on path answered with status, or all that arrived for status 0.
func (r *metricsReceiver) count(path string, status int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if status == 0 {
		return len(r.arrivals[path])
	}
	return r.answered[fmt.Sprintf("%s %d", path, status)]
}

func (r *metricsReceiver) answers() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.answered))
	for k, v := range r.answered {
		out[k] = v
	}
	return out
}

// outcomes counts the answers as Herald classifies attempts: 2xx succeeded, the rest failed.
func (r *metricsReceiver) outcomes() (succeeded, failed uint64) {
	for k, n := range r.answers() {
		if strings.HasSuffix(k, " 200") {
			succeeded += uint64(n)
		} else {
			failed += uint64(n)
		}
	}
	return succeeded, failed
}

func equalCounts(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// metricSet is one scrape of /metrics.
type metricSet map[string]*dto.MetricFamily

// scrapeMetrics GETs /metrics as Prometheus would and parses the text format.
func scrapeMetrics(t *testing.T, p *process) metricSet {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// pollMetrics scrapes until ok holds and returns that scrape; it fails the test, showing the
// last scrape, when ok never holds within metricsWait.
func pollMetrics(t *testing.T, p *process, what string, ok func(metricSet) bool) metricSet {
	t.Helper()
	deadline := time.Now().Add(metricsWait)
	for {
		m := scrapeMetrics(t, p)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last scrape:\n%s", metricsWait, what, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// find returns the metric of the family name whose labels are exactly labels (name, value
// pairs).
func (m metricSet) find(name string, labels ...string) *dto.Metric {
	fam := m[name]
	if fam == nil {
		return nil
	}
	for _, mt := range fam.GetMetric() {
		if len(mt.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for i := 0; i < len(labels); i += 2 {
			if !slices.ContainsFunc(mt.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}) {
				match = false
			}
		}
		if match {
			return mt
		}
	}
	return nil
}

// value returns a counter's or a gauge's value; false when the series is not exported.
func (m metricSet) value(name string, labels ...string) (float64, bool) {
	mt := m.find(name, labels...)
	switch {
	case mt == nil:
		return 0, false
	case mt.Counter != nil:
		return mt.Counter.GetValue(), true
	case mt.Gauge != nil:
		return mt.Gauge.GetValue(), true
	case mt.Untyped != nil:
		return mt.Untyped.GetValue(), true
	}
	return 0, false
}

func (m metricSet) histogram(name string, labels ...string) (count uint64, sum float64, ok bool) {
	mt := m.find(name, labels...)
	if mt == nil || mt.Histogram == nil {
		return 0, 0, false
	}
	return mt.Histogram.GetSampleCount(), mt.Histogram.GetSampleSum(), true
}

func (m metricSet) want(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := m.value(name, labels...)
	if !ok {
		t.Errorf("%s%v is not exported, want %v", name, labels, want)
	} else if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func (m metricSet) wantHistogram(t *testing.T, count uint64, name string, labels ...string) {
	t.Helper()
	got, _, ok := m.histogram(name, labels...)
	if !ok {
		t.Errorf("histogram %s%v is not exported, want _count %d", name, labels, count)
	} else if got != count {
		t.Errorf("%s_count%v = %d, want %d", name, labels, got, count)
	}
}

// String shows Herald's own series, for failure messages.
func (m metricSet) String() string {
	var b strings.Builder
	names := make([]string, 0, len(m))
	for name := range m {
		if strings.HasPrefix(name, "herald_") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		_, _ = expfmt.MetricFamilyToText(&b, m[name])
	}
	return b.String()
}
