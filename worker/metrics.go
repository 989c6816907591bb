package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the worker's Prometheus collectors.
type metrics struct {
	attempts   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
	depth      prometheus.Gauge
	oldest     prometheus.Gauge
	inFlight   prometheus.Gauge
	// completionBatch observes how many attempts each completion transaction records.
	completionBatch prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
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
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_delivery_queue_depth",
			Help: "PENDING deliveries, due or waiting for a retry.",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_delivery_queue_oldest_age_seconds",
			Help: "How long the longest-waiting due delivery has been due; 0 when none is.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_worker_in_flight",
			Help: "Webhook requests in flight in this process.",
		}),
		completionBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_worker_completion_batch_size",
			Help:    "Attempts recorded per completion transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.latency, m.deliveries, m.depth, m.oldest, m.inFlight, m.completionBatch} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("worker metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(outcome string, d time.Duration) {
	m.attempts.WithLabelValues(outcome).Inc()
	m.latency.WithLabelValues(outcome).Observe(d.Seconds())
}

// stats refreshes the queue gauges every statsInterval until ctx is done.
func (w *Worker) stats(ctx context.Context) {
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		w.refreshStats(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) refreshStats(ctx context.Context) {
	st, err := w.store.StatDeliveryQueue(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("queue stats", "err", err)
		}
		return
	}
	w.metrics.depth.Set(float64(st.Pending))
	age := 0.0
	if !st.OldestDue.IsZero() {
		age = max(w.now().Sub(st.OldestDue).Seconds(), 0)
	}
	w.metrics.oldest.Set(age)
}
