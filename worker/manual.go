package worker

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/render"
)

// Test sends a test delivery of event (an Event* constant of models) to the first URL of hook
// at once: TestURL with no target.
func (s *Sender) Test(ctx context.Context, hook *models.Webhook, draft *webhook.Sendable, event string) (*models.Attempt, error) {
	return s.TestURL(ctx, hook, draft, event, "")
}

// TestURL sends a test delivery of event (an Event* constant of models) to target, one of hook's
// URLs written as it is there ("" for the first), at once, with the built-in sample incident,
// and returns the stored attempt (Test = true; it counts towards nothing). hook may be saved
// (its ID set; draft nil, its sealed credentials are opened) or an unsaved specification
// (with draft, what Format sends it by: models.Store.DraftWebhook). Errors: VALIDATION (no URL; on url, a target that is not one of hook's URLs), INTERNAL.
func (s *Sender) TestURL(ctx context.Context, hook *models.Webhook, draft *webhook.Sendable, event, target string) (*models.Attempt, error) {
	if len(hook.URLs.V) == 0 {
		return nil, models.Invalid("urls", "the webhook has no URL")
	}
	switch {
	case target == "":
		target = hook.URLs.V[0]
	case !slices.Contains(hook.URLs.V, target):
		// Only the webhook's own URLs passed its validation: a test reaches no other.
		return nil, models.Invalid("url", "not one of the webhook's URLs")
	}
	now := s.now()
	if draft == nil {
		var err error
		if draft, err = s.store.SendableWebhook(hook); err != nil {
			return nil, fmt.Errorf("test webhook: %w", err)
		}
		// A test renders its templates afresh, as an unsaved specification does.
		draft.TemplateKey = ""
	}
	d := render.Sample(webhook.EventWireName(event), now)
	d.DeliveryID = "test_" + uuid.NewString()
	if hook.ID != "" {
		d.WebhookID = hook.ID
	}
	if base := s.baseURL; base != "" {
		d.Incident.URL = base + "/incidents/" + d.Incident.ID
	}
	req, err := webhook.Format(draft, &d, target, nil, now)
	log := s.log.With("delivery_id", d.DeliveryID, "webhook_id", hook.ID, "test", true)
	a := s.attempt(ctx, log, hook, req, err, 1).attempt
	a.Event = event
	if hook.ID != "" {
		a.WebhookID = &hook.ID
	}
	if err := s.store.CreateTestAttempt(context.WithoutCancel(ctx), a); err != nil {
		return nil, err
	}
	return a, nil
}

// Redeliver sends a delivery again, due now with a fresh retry budget, and wakes the workers
// (see models.Store.RedeliverDelivery). Errors: NOT_FOUND, VALIDATION (an attempt in flight,
// the webhook inactive, or the delivery's URL removed from it), INTERNAL.
func (w *Worker) Redeliver(ctx context.Context, deliveryID string) (*models.Delivery, error) {
	return w.store.RedeliverDelivery(ctx, deliveryID)
}
