package worker_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/worker"
)

// TestLeaseKeptWhileRequestRuns: a request that outlasts the lease keeps its delivery: the
// worker extends the lease, so a second worker polling the same queue never takes it, and the
// receiver gets the delivery once.
func TestLeaseKeptWhileRequestRuns(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			time.Sleep(5 * time.Second) // two and a half leases
			w.WriteHeader(http.StatusNoContent)
		})
		hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.TimeoutSeconds = 10 })
		newDeliveries(t, s, hook, 1)
		const lease = 2 * time.Second
		start(t, worker.Config{Store: s, Lease: lease})
		eventually(t, 10*time.Second, "the request to start", func() bool { return rc.count() == 1 })
		start(t, worker.Config{Store: s, Lease: lease})
		eventually(t, 20*time.Second, "the delivery to succeed", func() bool { return countStatus(t, s, models.DeliverySucceeded) == 1 })
		if n := rc.count(); n != 1 {
			t.Errorf("the receiver got %d requests for one delivery, want 1: the second worker took a lease still held", n)
		}
	})
}
