// Package hub fans ids out to this process's subscribers without waiting for any of them:
// the live delivery log (completed attempts) and webhook status changes, and the watches on
// API tokens that a revocation ends. The store feeds it after each commit (on PostgreSQL from
// its LISTEN loop); the API subscribes. It must not hold rows, do I/O, import the store or
// wait for a subscriber (a slow one is dropped): a subscriber re-reads what an id names, and
// re-checks who may see it, from the store.
package hub

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Hub fans completed-attempt ids out to this process's subscribers without waiting for any
// of them. The ids are kept once, in a ring of the last hubBacklog shared by all subscribers;
// a subscriber is a read position in it and a callback, so an idle one costs a few words.
// Publish calls every subscriber's notify; a subscriber that falls more than hubBacklog ids
// behind is dropped instead of slowing the worker or the other subscribers.
//
// The hub also keeps the watches on API tokens (models.Store.WatchAPIToken) and ends those of a
// token when it is revoked.
type Hub struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	ring [hubBacklog]string
	seq  uint64 // ids ever published; the last is ring[(seq-1)%hubBacklog]

	// wmu guards watches, apart from mu: revocations and Publish never wait for each other.
	wmu     sync.Mutex
	watches map[*TokenWatch]struct{}
}

// hubBacklog is how many ids a subscriber may fall behind before it is dropped. One NOTIFY
// payload carries up to about 200 ids, published at once: the backlog must hold that many
// for a subscriber that keeps up. It costs nothing per subscriber.
const hubBacklog = 256

// ErrBehind ends the subscription of a subscriber that fell too far behind; the store maps it
// to LIMIT_EXCEEDED.
var ErrBehind = fmt.Errorf("the live log fell more than %d attempts behind; subscribe again", hubBacklog)

// Subscription is one subscriber's read position in its hub.
type Subscription struct {
	hub    *Hub
	notify func()
	next   atomic.Uint64 // seq of the next id to read
	// dropped is set, with hub.mu held, when the hub drops the subscriber.
	dropped bool
}

// New returns an empty hub.
func New() *Hub {
	return &Hub{subs: map[*Subscription]struct{}{}, watches: map[*TokenWatch]struct{}{}}
}

// Subscribe registers a subscriber that reads, with Next, the ids published from now on.
// notify is called after each Publish and when the subscriber is dropped, from the
// publishing goroutine: it must return at once (wake a reader, never read itself).
func (h *Hub) Subscribe(notify func()) *Subscription {
	s := &Subscription{hub: h, notify: notify}
	h.mu.Lock()
	s.next.Store(h.seq)
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Next returns the next id published since the subscriber's last read, or "" when it has
// read them all; call it from one goroutine at a time. Once the subscriber has fallen more
// than hubBacklog ids behind it returns a LIMIT_EXCEEDED error, and the hub no longer
// notifies it.
func (s *Subscription) Next() (string, error) {
	h := s.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	next := s.next.Load()
	switch {
	case s.dropped || h.seq-next > hubBacklog:
		return "", ErrBehind
	case next == h.seq:
		return "", nil
	}
	s.next.Store(next + 1)
	return h.ring[next%hubBacklog], nil
}

// Close unregisters the subscriber.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

// Len returns the number of subscribers.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Publish hands attempt ids to every subscriber without waiting for any of them: it keeps
// them for Next and calls each subscriber's notify, dropping those now too far behind.
func (h *Hub) Publish(ids ...string) {
	if len(ids) == 0 {
		return
	}
	h.mu.Lock()
	for _, id := range ids {
		h.ring[h.seq%hubBacklog] = id
		h.seq++
	}
	h.mu.Unlock()
	var slow []*Subscription
	h.mu.RLock()
	for s := range h.subs {
		if h.seq-s.next.Load() > hubBacklog {
			slow = append(slow, s)
			continue
		}
		s.notify()
	}
	h.mu.RUnlock()
	for _, s := range slow {
		h.mu.Lock()
		_, subscribed := h.subs[s]
		s.dropped = true
		delete(h.subs, s)
		h.mu.Unlock()
		if subscribed {
			s.notify()
		}
	}
}

// TokenWatch is a watch on an API token, kept until the token is revoked or Stop is called.
// Revocations are rare: the hub keeps the watches in one set and looks through all of them
// for a revoked token's, which costs an idle connection a map entry and nothing per attempt.
type TokenWatch struct {
	hub     *Hub
	tokenID string
	revoked func()
}

// Watch starts a watch that calls revoked when the token tokenID is revoked.
func (h *Hub) Watch(tokenID string, revoked func()) *TokenWatch {
	w := &TokenWatch{hub: h, tokenID: tokenID, revoked: revoked}
	h.wmu.Lock()
	h.watches[w] = struct{}{}
	h.wmu.Unlock()
	return w
}

// Stop ends the watch. A revocation already under way may still call its revoked.
func (w *TokenWatch) Stop() { w.End() }

// End ends the watch and reports whether it was still on: whoever ends it first calls its
// revoked, if anyone does.
func (w *TokenWatch) End() bool {
	w.hub.wmu.Lock()
	defer w.hub.wmu.Unlock()
	_, on := w.hub.watches[w]
	delete(w.hub.watches, w)
	return on
}

// Revoke ends the watches of the tokens with these ids and calls their revoked, outside
// wmu so that revoked may stop watches.
func (h *Hub) Revoke(ids ...string) {
	if len(ids) == 0 {
		return
	}
	var ended []*TokenWatch
	h.wmu.Lock()
	for w := range h.watches {
		if slices.Contains(ids, w.tokenID) {
			ended = append(ended, w)
			delete(h.watches, w)
		}
	}
	h.wmu.Unlock()
	for _, w := range ended {
		w.revoked()
	}
}

// TokenWatches returns the number of watches on API tokens (models.Store.WatchAPIToken) that are on.
func (h *Hub) TokenWatches() int {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	return len(h.watches)
}

// Watched returns the ids of the tokens watched, each once.
func (h *Hub) Watched() []string {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	seen := map[string]bool{}
	var ids []string
	for w := range h.watches {
		if !seen[w.tokenID] {
			seen[w.tokenID] = true
			ids = append(ids, w.tokenID)
		}
	}
	return ids
}
