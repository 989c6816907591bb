package worker

import (
	"context"
	"sync"
	"time"
)

// leaseKeeper remembers the lease tokens this worker took deliveries with (claims and handoff
// reservations), when each was issued and when its leases were last extended, so that
// extendLeases can keep the leases of what the worker still holds: a lease is short
// (Config.Lease), and a dead process's deliveries are claimable again as soon as it runs out.
// A token is kept for at most maxHold: longer than the worker holds any delivery (a request
// of at most 30 s, a hold of a second, its recording), so that a delivery it lost track of (a
// release that failed) is not kept from other workers for good.
type leaseKeeper struct {
	mu     sync.Mutex
	tokens map[string]*tokenLease
	// kept is when the leases were last extended (or the keeper started).
	kept time.Time
}

// tokenLease is what leaseKeeper knows of one token.
type tokenLease struct {
	issued, extended time.Time
}

// maxHold bounds how long leaseKeeper extends one token's leases.
const maxHold = 2 * time.Minute

func newLeaseKeeper(now time.Time) *leaseKeeper {
	return &leaseKeeper{tokens: map[string]*tokenLease{}, kept: now}
}

// add remembers token, issued at issued (no later than the leases it was written with start).
func (k *leaseKeeper) add(token string, issued time.Time) {
	k.mu.Lock()
	k.tokens[token] = &tokenLease{issued: issued, extended: issued}
	k.mu.Unlock()
}

// due returns the tokens whose leases may run out before now + 3/4 lease: those issued or
// extended more than a quarter lease ago (a lease lasts lease from then), and not older than
// maxHold.
func (k *leaseKeeper) due(now time.Time, lease time.Duration) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var due []string
	for token, l := range k.tokens {
		if l.extended.Before(now.Add(-lease/4)) && l.issued.After(now.Add(-maxHold)) {
			due = append(due, token)
		}
	}
	return due
}

// extended records an extension at now of the leases of tokens, and forgets the tokens asked
// about (due) that extended nothing and are older than a lease, and those older than maxHold
// and a lease: none of their deliveries is still kept.
func (k *leaseKeeper) extended(now time.Time, lease time.Duration, asked, extended []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kept = now
	for _, token := range extended {
		k.tokens[token].extended = now
	}
	for _, token := range asked {
		if k.tokens[token].extended.Before(now.Add(-lease)) {
			delete(k.tokens, token)
		}
	}
	for token, l := range k.tokens {
		if l.issued.Before(now.Add(-maxHold - lease)) {
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

// extendLeases extends the leases of the deliveries this worker holds that run out within
// three quarters of a lease, by one statement, so that each is extended at least half a lease
// before it would run out. Errors: UNAVAILABLE, INTERNAL.
func (w *Worker) extendLeases(ctx context.Context) error {
	now, lease := w.now(), w.cfg.Lease
	due := w.leases.due(now, lease)
	extended, err := w.store.ExtendLeases(ctx, due, now.Add(3*lease/4), now.Add(lease))
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
		// A statement slower than a tick is given up and tried again at the next: the
		// margin before a lease runs out is half a lease.
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Lease/4)
		if err := w.extendLeases(ctx); err != nil {
			w.logStoreError("extend leases", err)
		}
		cancel()
	}
}
