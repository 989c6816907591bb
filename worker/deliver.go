package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/outcome"
)

// deliver runs one claimed delivery to its end: format, send, complete, notify. Once the
// request is over it gives back s's request slot, which bounds requests in flight, and, when
// the request succeeded, the webhook's share of the cap, before the attempt is recorded: the
// share bounds requests to the webhook's endpoint, and a success cannot change what the
// webhook's next deliveries do. A failed attempt keeps the share until it is recorded, so that
// the failure that deactivates a webhook is counted before its next request starts (the sixth
// failure in a row is the last request sent with a cap of one).
func (w *Worker) deliver(ctx context.Context, c *models.ClaimedDelivery, token string, s *slot) {
	d, hook := c.Delivery, c.Webhook
	log := w.log.With("delivery_id", d.ID, "webhook_id", hook.ID, "attempt", d.Attempts)
	now := w.now()
	sendable, err := w.store.SendableWebhook(hook)
	var req *webhook.Request
	if err == nil {
		req, err = webhook.Format(sendable, dataFor(d, now), d.URL, w.cache, now)
	}
	res := w.attempt(ctx, log, hook, req, err, d.Attempts)
	s.answered(res.attempt.Outcome == models.AttemptSucceeded)
	a := res.attempt
	a.DeliveryID, a.WebhookID, a.Event = &d.ID, &hook.ID, d.Event
	if ctx.Err() != nil && err == nil && a.Response.V == nil {
		// Cut short at the end of the grace period, before any answer. The request may have
		// reached the receiver, so the attempt is logged; the delivery is due again at once.
		a.Outcome, a.Error = models.AttemptFailed, ptr("abandoned: Herald stopped before the answer came (shutdown grace period over); the delivery will be sent again")
		bctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if err := w.store.AbandonAttempt(bctx, token, a); err != nil {
			log.Error("record abandoned attempt", "err", err)
			return
		}
		log.Warn("attempt abandoned at shutdown")
		return
	}

	dec := w.policy.Decide(outcome.Attempt{
		Succeeded:            a.Outcome == models.AttemptSucceeded,
		StatusCode:           res.status,
		RetryAfter:           res.retryAfter,
		Try:                  d.Attempts - d.RetryBase,
		RetryCount:           hook.RetryCount,
		RetryIntervalMinutes: hook.RetryIntervalMinutes,
	}, w.now())
	comp := &models.AttemptCompletion{LeaseToken: token, Attempt: a, Decision: dec}

	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	out, err := w.recordAttempt(ctx, log, comp)
	if errors.Is(err, models.ErrLeaseLost) {
		log.Warn("lease lost before the attempt was recorded", "outcome", a.Outcome)
		return
	}
	if err != nil {
		log.Error("complete attempt", "err", err)
		return
	}
	if out.Status == models.DeliverySucceeded || out.Status == models.DeliveryFailed {
		// CANCELLED ones are counted through the store (see CountCancelled).
		w.metrics.deliveries.WithLabelValues(out.Status).Inc()
	}
	attrs := []any{"outcome", a.Outcome, "delivery_status", out.Status, "duration", time.Duration(a.DurationMs) * time.Millisecond}
	if res.status != 0 {
		attrs = append(attrs, "status_code", res.status)
	}
	if a.Error != nil {
		attrs = append(attrs, "err", *a.Error)
	}
	log.Info("attempt", attrs...)

	lastErr := ""
	if a.Error != nil {
		lastErr = *a.Error
	}
	n := notice{target: d.URL, lastErr: lastErr, delivery: d.ID, incident: d.Snapshot.V.IncidentID}
	if d.Snapshot.V.URL != "" {
		n.incident += " " + d.Snapshot.V.URL
	}
	if out.Deactivated {
		w.forgetHeld(bctx, hook.ID)
		hook.Status, hook.InactiveReason = models.WebhookInactive, &out.Reason
		log.Warn("webhook deactivated", "reason", out.Reason)
	}
	n.kind = out.Notice
	switch out.Notice {
	case outcome.NoticeDeactivated:
		n.subject = fmt.Sprintf("Herald deactivated webhook %q", hook.Name)
		n.what = fmt.Sprintf("Herald deactivated the webhook %q (%s): %s.\nIts pending deliveries were cancelled; activate it again once the endpoint works.", hook.Name, hook.ID, out.Reason)
		w.notify(bctx, hook, n)
	case outcome.NoticeFailed:
		tries := "1 attempt"
		if k := d.Attempts - d.RetryBase; k != 1 {
			tries = fmt.Sprintf("%d attempts", k)
		}
		n.subject = fmt.Sprintf("Herald webhook %q: a delivery failed", hook.Name)
		n.what = fmt.Sprintf("A delivery of the webhook %q (%s), event %s, failed after %s and will not be retried.", hook.Name, hook.ID, webhook.EventWireName(d.Event), tries)
		w.notify(bctx, hook, n)
	}
}

// recordAttempt stores the outcome of an attempt. While the database cannot be reached it
// tries again every recordRetry (jittered) until ctx is done: the request was sent, the
// worker keeps the delivery's lease meanwhile (keepLeases, and claim extends it first once
// the database is back), and recording it then spares the receiver the same request again.
// Errors: models.ErrLeaseLost, UNAVAILABLE, INTERNAL.
func (w *Worker) recordAttempt(ctx context.Context, log *slog.Logger, comp *models.AttemptCompletion) (*models.CompletionResult, error) {
	for logged := false; ; {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		out, err := w.complete(bctx, comp)
		cancel()
		if models.ErrorCode(err) != models.CodeUnavailable {
			return out, err
		}
		if !logged {
			log.Warn("record attempt: database unavailable, trying again until it is back", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(jitter(recordRetry)):
		}
	}
}

func ptr[T any](v T) *T { return &v }
