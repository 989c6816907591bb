package models

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// AttemptChannel is the PostgreSQL NOTIFY channel that carries the ids of completed attempts.
const AttemptChannel = "herald_attempts"

// Hub fans completed-attempt ids out to this process's subscribers. Publish never blocks: a
// subscriber whose buffer is full is dropped (its Dropped channel closes) instead of slowing
// the worker or the other subscribers.
type Hub struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

// Subscription receives attempt ids on C until it is closed or dropped.
type Subscription struct {
	C       chan string
	Dropped chan struct{}
	hub     *Hub
	once    sync.Once
}

// subscriptionBuffer is how many ids a subscriber may fall behind before it is dropped.
const subscriptionBuffer = 256

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[*Subscription]struct{}{}} }

// Subscribe registers a new subscriber.
func (h *Hub) Subscribe() *Subscription {
	s := &Subscription{C: make(chan string, subscriptionBuffer), Dropped: make(chan struct{}), hub: h}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
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

// Publish hands an attempt id to every subscriber without waiting for any of them.
func (h *Hub) Publish(id string) {
	var slow []*Subscription
	h.mu.RLock()
	for s := range h.subs {
		select {
		case s.C <- id:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		s.Close()
		s.once.Do(func() { close(s.Dropped) })
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
		for _, id := range ids {
			s.hub.Publish(id)
		}
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
			// A payload carries the comma-separated ids of the attempts of one flush.
			for id := range strings.SplitSeq(n.Payload, ",") {
				if id != "" {
					s.hub.Publish(id)
				}
			}
		}
	}
}
