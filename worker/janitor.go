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
