package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/outcome"
)

// TestURLChangeCancelsRemovedURLs: deliveries go only where the webhook sends now. When an
// update removes a URL, its pending deliveries are CANCELLED — an attempt in flight to it is
// still logged when it completes — its past deliveries keep their URL and history but can no
// longer be redelivered, and the URLs that stay keep theirs.
func TestURLChangeCancelsRemovedURLs(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			var cancelled int
			s := storetest.Open(t, dialect, func(o *models.Options) { o.OnCancelled = func(n int) { cancelled += n } })
			w := newIncWorld(t, s)
			ctx := context.Background()
			const a, b, c = "https://a.example.com/hook", "https://b.example.com/hook", "https://c.example.com/hook"
			spec := validWebhookSpec(w.teamA.ID)
			spec.URLs = []string{a, b}
			hook, _, err := s.CreateWebhook(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			w.create(t, w.svcA1, "first")
			var finished models.Delivery
			if err := s.DB().Take(&finished, "webhook_id = ? AND url = ?", hook.ID, a).Error; err != nil {
				t.Fatal(err)
			}
			if err := s.DB().Model(&finished).Updates(map[string]any{"status": models.DeliverySucceeded, "next_attempt_at": nil}).Error; err != nil {
				t.Fatal(err)
			}
			w.create(t, w.svcA1, "second")
			// The second incident's delivery to a is in flight when the update lands.
			claimed, err := s.ClaimDeliveries(ctx, "token", 10, 0, time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			var inFlight *models.Delivery
			for _, cd := range claimed {
				if cd.Delivery.URL == a {
					inFlight = cd.Delivery
				} else if err := s.ReleaseLeases(ctx, "token", []string{cd.Delivery.ID}); err != nil {
					t.Fatal(err)
				}
			}
			if inFlight == nil {
				t.Fatal("no pending delivery to a")
			}

			if _, _, err := s.UpdateWebhook(ctx, hook.ID, models.WebhookPatch{URLs: []string{c, b}}); err != nil {
				t.Fatal(err)
			}
			count := func(u, status string) int64 {
				return countRows(t, s, &models.Delivery{}, "webhook_id = ? AND url = ? AND status = ?", hook.ID, u, status)
			}
			if count(a, models.DeliveryCancelled) != 1 || count(a, models.DeliverySucceeded) != 1 || count(b, models.DeliveryPending) != 2 || count(c, models.DeliveryPending) != 0 {
				t.Errorf("after removing a: a cancelled %d, succeeded %d; b pending %d; c pending %d — want 1, 1, 2, 0",
					count(a, models.DeliveryCancelled), count(a, models.DeliverySucceeded), count(b, models.DeliveryPending), count(c, models.DeliveryPending))
			}
			if cancelled != 1 {
				t.Errorf("%d cancellations counted, want 1", cancelled)
			}
			res, err := s.CompleteAttempt(ctx, &models.AttemptCompletion{LeaseToken: "token", Decision: outcome.Decision{Verdict: outcome.Delivered}, Attempt: &models.Attempt{
				DeliveryID: &inFlight.ID, WebhookID: &hook.ID, Event: inFlight.Event, Number: 1, Outcome: models.AttemptSucceeded, StartedAt: time.Now(),
			}})
			if err != nil || res.Status != models.DeliveryCancelled {
				t.Fatalf("the attempt in flight to the removed URL: %+v, %v; want it logged, the delivery staying CANCELLED", res, err)
			}
			if n := countRows(t, s, &models.Attempt{}, "delivery_id = ?", inFlight.ID); n != 1 {
				t.Errorf("%d attempts logged for the delivery in flight, want 1", n)
			}
			_, err = s.RedeliverDelivery(ctx, finished.ID)
			wantCode(t, err, models.CodeValidation)
		})
	}
}

// TestRedeliverPending: redelivering a PENDING delivery that waits for its retry makes it due
// now with a fresh retry budget; one whose attempt is in flight is refused.
func TestRedeliverPending(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		ctx := context.Background()
		spec := validWebhookSpec(w.teamA.ID)
		spec.URLs = spec.URLs[:1]
		hook, _, err := s.CreateWebhook(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		w.create(t, w.svcA1, "x")
		var d models.Delivery
		if err := s.DB().Take(&d, "webhook_id = ?", hook.ID).Error; err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour)
		if err := s.DB().Model(&d).Updates(map[string]any{"attempts": 2, "next_attempt_at": later}).Error; err != nil {
			t.Fatal(err)
		}
		got, err := s.RedeliverDelivery(ctx, d.ID)
		if err != nil {
			t.Fatalf("redeliver a waiting retry: %v", err)
		}
		if got.Status != models.DeliveryPending || got.NextAttemptAt == nil || got.NextAttemptAt.After(time.Now()) || got.RetryBase != 2 {
			t.Errorf("after redeliver: %s, next %v, retry base %d; want PENDING, due now, base 2", got.Status, got.NextAttemptAt, got.RetryBase)
		}
		claimed, err := s.ClaimDeliveries(ctx, "token", 10, 0, time.Minute, nil)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		_, err = s.RedeliverDelivery(ctx, d.ID)
		wantCode(t, err, models.CodeValidation)
	})
}

// TestAbandonAttempt: an attempt cut short by shutdown is logged, its delivery is free and due
// at once with its retry budget moved on by one; a second record of it finds the lease gone.
func TestAbandonAttempt(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		ctx := context.Background()
		hook := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated})})
		w.create(t, w.svcA1, "x")
		claimed, err := s.ClaimDeliveries(ctx, "token", 10, 0, time.Minute, nil)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		d := claimed[0].Delivery
		reason := "abandoned"
		a := &models.Attempt{DeliveryID: &d.ID, WebhookID: &hook.ID, Event: d.Event, Number: d.Attempts, Outcome: models.AttemptFailed, Error: &reason, StartedAt: time.Now()}
		if err := s.AbandonAttempt(ctx, "token", a); err != nil {
			t.Fatal(err)
		}
		var got models.Delivery
		if err := s.DB().Take(&got, "id = ?", d.ID).Error; err != nil {
			t.Fatal(err)
		}
		if got.Status != models.DeliveryPending || got.LeaseToken != nil || got.Attempts != 1 || got.RetryBase != 1 ||
			got.NextAttemptAt == nil || got.NextAttemptAt.After(time.Now()) {
			t.Errorf("delivery: %s lease %v attempts %d base %d next %v", got.Status, got.LeaseToken, got.Attempts, got.RetryBase, got.NextAttemptAt)
		}
		if n := countRows(t, s, &models.Attempt{}, "delivery_id = ?", d.ID); n != 1 {
			t.Errorf("%d attempts logged, want 1", n)
		}
		if !errors.Is(s.AbandonAttempt(ctx, "token", &models.Attempt{DeliveryID: &d.ID, WebhookID: &hook.ID, Event: d.Event, Outcome: models.AttemptFailed, StartedAt: time.Now()}), models.ErrLeaseLost) {
			t.Error("a second record under the same lease was not refused")
		}

		// Cut short after a deactivation cancelled the delivery: logged, and it stays cancelled.
		claimed, err = s.ClaimDeliveries(ctx, "second", 10, 0, time.Minute, nil)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim again: %d, %v", len(claimed), err)
		}
		if _, err := s.DeactivateWebhook(ctx, hook.ID, "test", "test"); err != nil {
			t.Fatal(err)
		}
		if err := s.AbandonAttempt(ctx, "second", &models.Attempt{DeliveryID: &d.ID, WebhookID: &hook.ID, Event: d.Event, Number: 2, Outcome: models.AttemptFailed, StartedAt: time.Now()}); err != nil {
			t.Fatalf("an attempt cut short after its delivery was cancelled: %v", err)
		}
		if n := countRows(t, s, &models.Attempt{}, "delivery_id = ?", d.ID); n != 2 {
			t.Errorf("%d attempts logged, want 2", n)
		}
		if err := s.DB().Take(&got, "id = ?", d.ID).Error; err != nil || got.Status != models.DeliveryCancelled {
			t.Errorf("delivery after it: %s, %v; want CANCELLED", got.Status, err)
		}
	})
}
