package worker

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/herald-hq/herald/models"
)

// handedBatch is what one ingest transaction handed over (see models.Handoff).
type handedBatch struct {
	token string
	ds    []*models.Delivery
}

// Reserve implements models.Handoff: it takes the longest prefix of the deliveries that the
// worker can start or hold now (request slots, unrecorded places and each webhook's room, as a
// claim counts them, less what earlier reservations took) and leases them for the worker's
// lease. A draining worker takes nothing.
func (w *Worker) Reserve(webhookIDs []string) models.Lease {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.draining {
		return models.Lease{}
	}
	free := min(w.cfg.Concurrency-w.running, w.cfg.Concurrency*unrecordedPerSlot-w.unrecorded-w.heldCount) - w.reserved
	room := w.perWebhook * (1 + holdPerWebhook)
	n := 0
	taken := map[string]int{}
	for _, id := range webhookIDs {
		if n >= free || w.inflight[id]+len(w.held[id])+w.reservedBy[id]+taken[id] >= room {
			break
		}
		taken[id]++
		n++
	}
	if n == 0 {
		return models.Lease{}
	}
	token := uuid.NewString()
	w.reserved += n
	for id, k := range taken {
		w.reservedBy[id] += k
	}
	w.reservations[token] = taken
	now := w.now()
	w.leases.add(token, now)
	return models.Lease{Token: token, Expires: now.Add(w.cfg.Lease), N: n}
}

// Handed implements models.Handoff: it gives the reservation back and queues the deliveries
// for the claim loop, which starts them as it starts claimed ones. A draining worker gives
// their leases back at once instead.
func (w *Worker) Handed(l models.Lease, ds []*models.Delivery) {
	w.mu.Lock()
	for id, k := range w.reservations[l.Token] {
		w.reserved -= k
		if w.reservedBy[id] -= k; w.reservedBy[id] <= 0 {
			delete(w.reservedBy, id)
		}
	}
	delete(w.reservations, l.Token)
	draining := w.draining
	if !draining && len(ds) > 0 {
		w.handed = append(w.handed, handedBatch{token: l.Token, ds: ds})
	}
	w.mu.Unlock()
	if len(ds) == 0 {
		return
	}
	if draining {
		w.releaseHanded(context.Background(), []handedBatch{{token: l.Token, ds: ds}})
		return
	}
	w.metrics.takenByHandoff.Add(float64(len(ds)))
	select {
	case w.arrived <- struct{}{}:
	default:
	}
}

// startHanded starts, holds or gives back what was handed over since the last call.
func (w *Worker) startHanded(ctx, sendCtx context.Context, sends *sync.WaitGroup) error {
	w.mu.Lock()
	batches := w.handed
	w.handed = nil
	w.mu.Unlock()
	for i, b := range batches {
		claimed, err := w.store.WithWebhooks(ctx, b.ds)
		if err != nil {
			// Not started: given back, so that a claim finds them (or their leases expire).
			w.releaseHanded(ctx, batches[i:])
			return err
		}
		w.dispatch(ctx, sendCtx, sends, claimed, b.token)
	}
	return nil
}

// stopHandoffs stops taking deliveries and gives back what was handed over and not started.
func (w *Worker) stopHandoffs(ctx context.Context) {
	w.store.SetHandoff(nil)
	w.mu.Lock()
	w.draining = true
	batches := w.handed
	w.handed = nil
	w.mu.Unlock()
	w.releaseHanded(ctx, batches)
}

// releaseHanded gives back the leases of handed deliveries that will not be sent now.
func (w *Worker) releaseHanded(ctx context.Context, batches []handedBatch) {
	var hs []held
	for _, b := range batches {
		for _, d := range b.ds {
			hs = append(hs, held{c: &models.ClaimedDelivery{Delivery: d}, token: b.token})
		}
	}
	w.releaseHeld(ctx, hs)
}
