package models

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
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

// announceAttempt publishes a completed attempt once its transaction commits: on PostgreSQL a
// NOTIFY inside the transaction (every process's Listen loop then publishes it); on SQLite the
// caller passes the id to publishAttempt after commit.
func (s *Store) announceAttempt(tx *gorm.DB, id string) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	if err := tx.Exec("SELECT pg_notify(?, ?)", AttemptChannel, id).Error; err != nil {
		return fmt.Errorf("announce attempt: %w", err)
	}
	return nil
}

// publishAttempt hands a committed attempt to the local hub where no Listen loop will (SQLite).
func (s *Store) publishAttempt(id string) {
	if s.dialect != DialectPostgres {
		s.hub.Publish(id)
	}
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
			s.hub.Publish(n.Payload)
		}
	}
}
