package graph

import (
	"context"
	"sync"
	"time"

	"github.com/herald-hq/herald/models"
)

// loadedAttempt is an announced attempt with what authorising and filtering it needs, read
// from the database once for every subscriber of the process.
type loadedAttempt struct {
	once    sync.Once
	attempt *models.Attempt
	webhook *models.Webhook
	snap    models.Snapshot
	err     error
}

// attemptLoader shares the loading of announced attempts among subscribers: the first one to
// ask reads the rows, the others (on their connections' pump goroutines) wait for that read.
// It keeps the most recent ids only, more than the hub's backlog, so that a subscriber the hub
// has not dropped finds the attempts it reads loaded already.
type attemptLoader struct {
	mu      sync.Mutex
	entries map[string]*loadedAttempt
	order   []string
}

// attemptLoaderSize bounds how many recent attempts stay loaded.
const attemptLoaderSize = 1024

func (l *attemptLoader) get(id string) *loadedAttempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[id]; ok {
		return e
	}
	if l.entries == nil {
		l.entries = map[string]*loadedAttempt{}
	}
	if len(l.order) >= attemptLoaderSize {
		delete(l.entries, l.order[0])
		l.order = l.order[1:]
	}
	e := &loadedAttempt{}
	l.entries[id] = e
	l.order = append(l.order, id)
	return e
}

// load returns the attempt, its webhook and its delivery's snapshot (empty for test sends).
// The read does not depend on the asking subscriber's context, which may end at any time.
func (l *attemptLoader) load(ctx context.Context, store *models.Store, id string) *loadedAttempt {
	e := l.get(id)
	e.once.Do(func() {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if e.attempt, e.err = store.FindAttemptByID(lctx, id); e.err != nil {
			return
		}
		if e.attempt.WebhookID == nil {
			return
		}
		if e.webhook, e.err = store.FindWebhookByID(lctx, *e.attempt.WebhookID); e.err != nil {
			return
		}
		if e.attempt.DeliveryID != nil {
			d, err := store.FindDeliveryByID(lctx, *e.attempt.DeliveryID)
			if err != nil {
				e.err = err
				return
			}
			e.snap = d.Snapshot.V
		}
	})
	return e
}
