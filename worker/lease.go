package worker

import (
	"context"
	"sync"
	"time"
)

// leaseKeeper remembers the lease tokens this worker took deliveries with (claims and handoff
// reservations) and when each was issued or last extended, so that extendLeases can keep the
// leases of what the worker still holds: a lease is short (Config.Lease), and a dead process's
// deliveries are claimable again as soon as it runs out.
type leaseKeeper struct {
	mu     sync.Mutex
	tokens map[string]time.Time
	// kept is when the leases were last extended (or the keeper started).
	kept time.Time
}

func newLeaseKeeper(now time.Time) *leaseKeeper {
	return &leaseKeeper{tokens: map[string]time.Time{}, kept: now}
}

// add remembers token, issued at now.
func (k *leaseKeeper) add(token string, now time.Time) {
	k.mu.Lock()
	k.tokens[token] = now
	k.mu.Unlock()
}

// due returns the tokens whose leases may run out before now + lease/2: those issued or
// extended more than lease/2 ago (a lease lasts lease from then).
func (k *leaseKeeper) due(now time.Time, lease time.Duration) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var due []string
	for token, at := range k.tokens {
		if at.Before(now.Add(-lease / 2)) {
			due = append(due, token)
		}
	}
	return due
}

// extended records an extension at now of the leases of tokens, and forgets the tokens asked
// about (due) that extended nothing and are older than a lease: none of their deliveries is
// still held.
func (k *leaseKeeper) extended(now time.Time, lease time.Duration, asked, extended []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kept = now
	for _, token := range extended {
		k.tokens[token] = now
	}
	for _, token := range asked {
		if k.tokens[token].Before(now.Add(-lease)) {
			delete(k.tokens, token)
		}
	}
}

// behind reports whether the leases went unextended for more than half a lease (the database
// was away): the worker's own expired leases must be extended before it claims again, or it
// would claim, and send a second time, deliveries it still holds.
func (k *leaseKeeper) behind(now time.Time, lease time.Duration) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return now.Sub(k.kept) > lease/2
}

// extendLeases extends the leases of the deliveries this worker holds that run out within half
// a lease, by one statement. Errors: UNAVAILABLE, INTERNAL.
func (w *Worker) extendLeases(ctx context.Context) error {
	now, lease := w.now(), w.cfg.Lease
	due := w.leases.due(now, lease)
	extended, err := w.store.ExtendLeases(ctx, due, now.Add(lease/2), now.Add(lease))
	if err != nil {
		return err
	}
	w.leases.extended(now, lease, due, extended)
	return nil
}

// keepLeases runs extendLeases every quarter lease until stop is closed.
func (w *Worker) keepLeases(stop <-chan struct{}) {
	t := time.NewTicker(w.cfg.Lease / 4)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		if err := w.extendLeases(ctx); err != nil {
			w.logStoreError("extend leases", err)
		}
		cancel()
	}
}
