package models

import (
	"context"
	"strings"
	"sync"
	"time"
)

// DeliveryChannel is the PostgreSQL NOTIFY channel that announces new due deliveries.
const DeliveryChannel = "herald_deliveries"

// Coalesced notifications (PostgreSQL).
const (
	// notifyLinger is how long the notifier gathers announcements before one NOTIFY statement.
	notifyLinger = 2 * time.Millisecond
	// maxNotifyPayload keeps a payload under PostgreSQL's 8000-byte limit.
	maxNotifyPayload = 7900
	// notifyTimeout bounds one NOTIFY statement.
	notifyTimeout = 5 * time.Second
)

// announceDeliveries says, after the commit that made deliveries due, that work is waiting:
// it wakes this process's worker at once and, on PostgreSQL, queues a coalesced NOTIFY for the
// other processes. A lost NOTIFY only delays the work until the workers' next poll.
func (s *Store) announceDeliveries() {
	s.WakeWorker()
	if s.notifier != nil {
		s.notifier.add(true, nil)
	}
}

// WakeWorker wakes this process's worker without blocking; call it after a commit that made
// deliveries due (and from the PostgreSQL LISTEN loop).
func (s *Store) WakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Wakeups delivers a value whenever deliveries may have become due.
func (s *Store) Wakeups() <-chan struct{} { return s.wake }

// notifier sends PostgreSQL notifications after commit, coalesced: announcements made within
// notifyLinger of each other leave in one statement (one wake-up of the delivery channel and
// the ids of all completed attempts and webhook status changes, comma-separated, split into payloads under 8000 bytes).
// NOTIFY inside the writing transactions made PostgreSQL serialise their commits (a
// database-wide lock held across the WAL flush); this one statement takes that lock alone.
type notifier struct {
	s          *Store
	mu         sync.Mutex
	deliveries bool
	attempts   []string
	statuses   []string
	kick       chan struct{}
	stop       chan struct{}
	done       chan struct{}
	once       sync.Once
}

func newNotifier(s *Store) *notifier {
	n := &notifier{s: s, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go n.run()
	return n
}

// add queues a wake-up of the delivery channel and attempt ids without blocking.
func (n *notifier) add(deliveries bool, attempts []string) {
	n.mu.Lock()
	n.deliveries = n.deliveries || deliveries
	n.attempts = append(n.attempts, attempts...)
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// addStatusChanges queues webhook status change ids without blocking.
func (n *notifier) addStatusChanges(ids []string) {
	n.mu.Lock()
	n.statuses = append(n.statuses, ids...)
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// close sends what is queued and stops the notifier.
func (n *notifier) close() {
	n.once.Do(func() { close(n.stop) })
	<-n.done
}

func (n *notifier) run() {
	defer close(n.done)
	linger := time.NewTimer(0)
	<-linger.C
	for {
		select {
		case <-n.kick:
		case <-n.stop:
			n.flush()
			return
		}
		linger.Reset(notifyLinger)
		select {
		case <-linger.C:
		case <-n.stop:
			n.flush()
			return
		}
		n.flush()
	}
}

// flush sends what is queued in one statement. A failure is logged and dropped: workers poll
// for due deliveries anyway, and attempt ids only feed live logs (best effort).
func (n *notifier) flush() {
	n.mu.Lock()
	deliveries, attempts, statuses := n.deliveries, n.attempts, n.statuses
	n.deliveries, n.attempts, n.statuses = false, nil, nil
	n.mu.Unlock()
	if !deliveries && len(attempts) == 0 && len(statuses) == 0 {
		return
	}
	var q strings.Builder
	var args []any
	note := func(channel, payload string) {
		if len(args) > 0 {
			q.WriteString(", ")
		}
		q.WriteString("pg_notify(?, ?)")
		args = append(args, channel, payload)
	}
	q.WriteString("SELECT ")
	if deliveries {
		note(DeliveryChannel, "")
	}
	for _, p := range joinPayloads(attempts, maxNotifyPayload) {
		note(AttemptChannel, p)
	}
	for _, p := range joinPayloads(statuses, maxNotifyPayload) {
		note(StatusChannel, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	if err := n.s.db.WithContext(ctx).Exec(q.String(), args...).Error; err != nil {
		n.s.logger.Warn("send notifications", "err", err, "attempts", len(attempts))
	}
}

// joinPayloads joins ids with commas into payloads of at most max bytes each.
func joinPayloads(ids []string, max int) []string {
	var out []string
	var b strings.Builder
	for _, id := range ids {
		if b.Len() > 0 && b.Len()+1+len(id) > max {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}
