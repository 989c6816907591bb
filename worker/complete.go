package worker

import (
	"context"

	"github.com/herald-hq/herald/models"
)

// completionBatch bounds the attempts recorded in one transaction.
const completionBatch = 128

// completion is one finished attempt waiting to be recorded, and where to answer.
type completion struct {
	c     *models.AttemptCompletion
	reply chan completionReply
}

type completionReply struct {
	res *models.CompletionResult
	err error
}

// complete hands an attempt to the completer and waits until it is committed (or failed to
// be): a delivery's slot is held, and the delivery counts as done, only once its outcome is
// stored. Errors: models.ErrLeaseLost, ctx's, INTERNAL.
func (w *Worker) complete(ctx context.Context, c *models.AttemptCompletion) (*models.CompletionResult, error) {
	reply := make(chan completionReply, 1)
	select {
	case w.completions <- completion{c: c, reply: reply}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// completer records finished attempts in batches until stop is closed (Run closes it once no
// attempt is in flight). A batch is whatever finished while the previous transaction ran, up
// to completionBatch: no time is spent waiting for more, so an idle worker records an attempt
// at once and a busy one shares each commit among many attempts. A crash loses only the
// attempts not yet committed; their leases expire and the deliveries are tried again.
func (w *Worker) completer(stop <-chan struct{}) {
	batch := make([]completion, 0, completionBatch)
	for {
		select {
		case first := <-w.completions:
			batch = append(batch[:0], first)
		case <-stop:
			return
		}
	gather:
		for len(batch) < completionBatch {
			select {
			case c := <-w.completions:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		w.record(batch)
	}
}

// record stores a batch and answers each waiter. When the batch's transaction fails, each
// attempt is tried alone, so that one bad row cannot fail the others.
func (w *Worker) record(batch []completion) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	cs := make([]*models.AttemptCompletion, len(batch))
	for i, b := range batch {
		cs[i] = b.c
	}
	w.metrics.completionBatch.Observe(float64(len(batch)))
	results, err := w.store.CompleteAttempts(ctx, cs)
	if err != nil && len(batch) > 1 {
		w.log.Warn("record attempts: batch failed, recording one by one", "count", len(batch), "err", err)
		for _, b := range batch {
			w.record([]completion{b})
		}
		return
	}
	for i, b := range batch {
		switch {
		case err != nil:
			b.reply <- completionReply{err: err}
		case results[i] == nil:
			b.reply <- completionReply{err: models.ErrLeaseLost}
		default:
			b.reply <- completionReply{res: results[i]}
		}
	}
}
