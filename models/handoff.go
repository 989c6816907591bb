package models

import (
	"sync"
	"time"
)

// Handoff takes the deliveries this process's ingest writes straight to its worker: they are
// written leased to it, with their first attempt counted, as a claim would leave them, so that
// no claim statement is needed to find them. What the worker does not take is written unleased
// and announced, for any worker's claim. A crash loses nothing: the leases expire and the
// deliveries are claimed again, as claimed ones are.
type Handoff interface {
	// Reserve returns a lease for the first N of deliveries to these webhooks, in this order
	// (N 0: none taken now); it must not block.
	Reserve(webhookIDs []string) Lease
	// Handed gives the worker, once committed, the deliveries written with the lease (none when
	// the transaction failed, which gives the reservation back); it must not block. Their
	// webhooks are not loaded.
	Handed(l Lease, ds []*Delivery)
}

// Lease is a reservation of a Handoff: the token and expiry the deliveries are written with.
type Lease struct {
	Token   string
	Expires time.Time
	N       int
	to      Handoff
}

// handoffs holds the store's Handoff.
type handoffs struct {
	mu sync.Mutex
	h  Handoff
}

// SetHandoff makes h (nil: none) take the deliveries this process's ingest writes from now on.
func (s *Store) SetHandoff(h Handoff) {
	s.handoffs.mu.Lock()
	defer s.handoffs.mu.Unlock()
	s.handoffs.h = h
}

// reserve asks the Handoff, if there is one, for a lease of deliveries to these webhooks.
func (s *Store) reserve(webhookIDs []string) Lease {
	s.handoffs.mu.Lock()
	h := s.handoffs.h
	s.handoffs.mu.Unlock()
	if h == nil || len(webhookIDs) == 0 {
		return Lease{}
	}
	l := h.Reserve(webhookIDs)
	if l.N <= 0 {
		return Lease{}
	}
	l.N = min(l.N, len(webhookIDs))
	l.to = h
	return l
}

// give hands the leased deliveries (nil after a failed transaction) to the Handoff.
func (l Lease) give(ds []*Delivery) {
	if l.to != nil {
		l.to.Handed(l, ds)
	}
}
