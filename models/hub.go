package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// AttemptChannel is the PostgreSQL NOTIFY channel that carries the ids of completed attempts.
const AttemptChannel = "herald_attempts"

// Hub fans completed-attempt ids out to this process's subscribers without waiting for any
// of them. The ids are kept once, in a ring of the last hubBacklog shared by all subscribers;
// a subscriber is a read position in it and a callback, so an idle one costs a few words.
// Publish calls every subscriber's notify; a subscriber that falls more than hubBacklog ids
// behind is dropped instead of slowing the worker or the other subscribers.
type Hub struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	ring [hubBacklog]string
	seq  uint64 // ids ever published; the last is ring[(seq-1)%hubBacklog]
}

// hubBacklog is how many ids a subscriber may fall behind before it is dropped. One NOTIFY
// payload carries up to about 200 ids, published at once: the backlog must hold that many
// for a subscriber that keeps up. It costs nothing per subscriber.
const hubBacklog = 256

// errBehind ends the subscription of a subscriber that fell too far behind.
var errBehind = Errorf(CodeLimitExceeded, "the live log fell more than %d attempts behind; subscribe again", hubBacklog)

// Subscription is one subscriber's read position in its hub.
type Subscription struct {
	hub    *Hub
	notify func()
	next   atomic.Uint64 // seq of the next id to read
	// dropped is set, with hub.mu held, when the hub drops the subscriber.
	dropped bool
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[*Subscription]struct{}{}} }

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
		return "", errBehind
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

// Hub returns the store's hub of completed attempts.
func (s *Store) Hub() *Hub { return s.hub }

// announceAttempts publishes attempts after the commit that stored them: on SQLite straight to
// the local hub; on PostgreSQL through a coalesced NOTIFY, which every process's Listen loop
// (this one's included) publishes to its hub. Live logs are best effort: an attempt whose
// NOTIFY is lost (the process dies between commit and send, or the statement fails) is not
// pushed to subscribers, though it is stored and shown by the delivery log's next read.
func (s *Store) announceAttempts(ids ...string) {
	if s.notifier == nil {
		s.hub.Publish(ids...)
		return
	}
	s.notifier.add(false, ids)
}

// Listen follows PostgreSQL's notifications until ctx ends: new deliveries wake the worker and
// completed attempts reach the hub. It reconnects after a lost connection and returns at once
// on SQLite, where everything happens in one process.
func (s *Store) Listen(ctx context.Context) {
	if s.dialect != DialectPostgres {
		return
	}
	for ctx.Err() == nil {
		if err := s.listenOnce(ctx); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "listen for notifications", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{DeliveryChannel, AttemptChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	// Work may have been announced while no connection listened.
	s.WakeWorker()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		switch n.Channel {
		case DeliveryChannel:
			s.WakeWorker()
		case AttemptChannel:
			// A payload carries the comma-separated ids of the attempts of one flush,
			// published together so that each subscriber is notified once.
			s.hub.Publish(slices.DeleteFunc(strings.Split(n.Payload, ","), func(id string) bool { return id == "" })...)
		}
	}
}
