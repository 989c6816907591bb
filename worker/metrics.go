package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-hq/herald/models"
)

// Label values of herald_worker_deliveries_taken_total.
const (
	takenByHandoff = "handoff"
	takenByClaim   = "claim"
)

// Metrics are the worker's Prometheus collectors. A process builds them before its store, whose
// Options.OnCancelled is their CountCancelled, and hands them to New in Config.Metrics.
type Metrics struct {
	// reg receives the collectors, and the queue gauges New adds.
	reg prometheus.Registerer

	attempts   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
	inFlight   prometheus.Gauge
	// taken counts the deliveries this worker leased, by how: handed over by this process's
	// ingest at insert, or found by a claim.
	taken *prometheus.CounterVec
	// takenByHandoff and takenByClaim are taken's two children, resolved once.
	takenByHandoff, takenByClaim prometheus.Counter
	// completionBatch observes how many attempts each completion transaction records.
	completionBatch prometheus.Histogram
}

// NewMetrics registers the worker's collectors on reg (a private registry when nil); New adds
// the queue gauges, read from its store at each scrape. Errors: a metric already registered.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_delivery_attempts_total",
			Help: "Delivery attempts by outcome (SUCCEEDED, FAILED); test sends included.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_delivery_attempt_duration_seconds",
			Help:    "Time from sending a webhook request to its response or failure.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_deliveries_finished_total",
			Help: "Deliveries that reached a final status (SUCCEEDED, FAILED, CANCELLED).",
		}, []string{"status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_worker_in_flight",
			Help: "Webhook requests in flight in this process.",
		}),
		taken: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_worker_deliveries_taken_total",
			Help: "Deliveries this process's worker leased: handed over by its own ingest at insert (handoff) or found by a claim (claim).",
		}, []string{"via"}),
		completionBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_worker_completion_batch_size",
			Help:    "Attempts recorded per completion transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.latency, m.deliveries, m.inFlight, m.taken, m.completionBatch} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("worker metrics: %w", err)
		}
	}
	// Every known label value is exported from the start, at 0: a series that appears only on
	// its first increment hides that increment from rate() and increase(), so an alert on the
	// first failed delivery would never fire.
	for _, o := range []string{models.AttemptSucceeded, models.AttemptFailed} {
		m.attempts.WithLabelValues(o)
		m.latency.WithLabelValues(o)
	}
	for _, s := range []string{models.DeliverySucceeded, models.DeliveryFailed, models.DeliveryCancelled} {
		m.deliveries.WithLabelValues(s)
	}
	m.takenByHandoff = m.taken.WithLabelValues(takenByHandoff)
	m.takenByClaim = m.taken.WithLabelValues(takenByClaim)
	return m, nil
}

// registerQueue registers the queue gauges, read from store at each scrape.
func (m *Metrics) registerQueue(store *models.Store, now func() time.Time) error {
	if err := m.reg.Register(&queueCollector{store: store, now: now}); err != nil {
		return fmt.Errorf("worker metrics: %w", err)
	}
	return nil
}

// CountCancelled adds n deliveries to herald_deliveries_finished_total{status="CANCELLED"};
// the process passes it to its store as Options.OnCancelled, so that every cancellation the
// store commits counts, the API's deactivations included.
func (m *Metrics) CountCancelled(n int) {
	m.deliveries.WithLabelValues(models.DeliveryCancelled).Add(float64(n))
}

func (m *Metrics) observe(outcome string, d time.Duration) {
	m.attempts.WithLabelValues(outcome).Inc()
	m.latency.WithLabelValues(outcome).Observe(d.Seconds())
}

var (
	queueDepthDesc = prometheus.NewDesc("herald_delivery_queue_depth",
		"PENDING deliveries in the database, due or waiting for a retry (read at most every 5 s when scraped; every Herald process on the database reports the same).", nil, nil)
	queueAgeDesc = prometheus.NewDesc("herald_delivery_queue_oldest_age_seconds",
		"How long the longest-waiting due PENDING delivery has been due, an attempt in flight included; 0 when none is (read at most every 5 s when scraped).", nil, nil)
)

// queueCollector reads the queue gauges from the database when scraped, so that they are
// current in every process, a worker's or not. A reading serves every scrape for
// queueReadingTTL: /metrics is unauthenticated, and however often it is scraped the database
// sees at most one queue query per TTL from each process (concurrent scrapes wait for it).
type queueCollector struct {
	store *models.Store
	now   func() time.Time

	mu     sync.Mutex
	readAt time.Time
	last   models.QueueStats
}

const (
	// queueScrapeTimeout bounds the queue query of one scrape.
	queueScrapeTimeout = 5 * time.Second
	// queueReadingTTL is how long a queue reading serves scrapes.
	queueReadingTTL = 5 * time.Second
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, err)
		return
	}
	age := 0.0
	if !st.OldestDue.IsZero() {
		age = max(c.now().Sub(st.OldestDue).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
}

// read returns the queue reading, taken anew when the last is older than queueReadingTTL.
func (c *queueCollector) read() (models.QueueStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAt.IsZero() && time.Since(c.readAt) < queueReadingTTL {
		return c.last, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueScrapeTimeout)
	defer cancel()
	st, err := c.store.StatDeliveryQueue(ctx)
	if err != nil {
		return st, err
	}
	c.last, c.readAt = st, time.Now()
	return st, nil
}
