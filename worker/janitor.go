package worker

import (
	"context"
	"time"
)

// janitor deletes delivery logs older than LogRetention, at start and every janitorInterval,
// until ctx is done.
func (w *Worker) janitor(ctx context.Context) {
	t := time.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		n, err := w.store.DeleteExpiredLogs(ctx, w.now().Add(-w.cfg.LogRetention), janitorBatch)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.Error("delete expired logs", "err", err, "deleted", n)
		case n > 0:
			w.log.Info("deleted expired logs", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// vacuumer vacuums the delivery tables every vacuumInterval until ctx is done, for a
// PostgreSQL whose autovacuum is off (see models.Store.NeedsVacuum; Run starts it only then).
func (w *Worker) vacuumer(ctx context.Context) {
	t := time.NewTicker(vacuumInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.store.Vacuum(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("vacuum delivery tables", "err", err)
		}
	}
}
