package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestURLChangeRetargetsDeliveries: deliveries go where the webhook sends now. A URL replaced
// by an update (removed, with another added in its place) takes its deliveries along, finished
// ones included, so that retries and redeliveries reach the new URL; a URL removed with none in
// its place has its pending deliveries CANCELLED, and its finished ones can no longer be
// redelivered. URLs that stay keep theirs.
func TestURLChangeRetargetsDeliveries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		ctx := context.Background()
		var cancelled int
		s.CancelledFunc = func(n int) { cancelled += n }
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
		if err := s.DB().Model(&finished).Updates(map[string]any{"status": models.DeliveryFailed, "next_attempt_at": nil}).Error; err != nil {
			t.Fatal(err)
		}
		w.create(t, w.svcA1, "second")
		urls := func(status string) map[string]int64 {
			got := map[string]int64{}
			for _, u := range []string{a, b, c} {
				if n := countRows(t, s, &models.Delivery{}, "webhook_id = ? AND url = ? AND status = ?", hook.ID, u, status); n > 0 {
					got[u] = n
				}
			}
			return got
		}

		// a is replaced by c: a's deliveries, the failed one included, now go to c.
		if _, _, err := s.UpdateWebhook(ctx, hook.ID, models.WebhookPatch{URLs: []string{c, b}}); err != nil {
			t.Fatal(err)
		}
		if got := urls(models.DeliveryPending); got[c] != 1 || got[b] != 2 || len(got) != 2 {
			t.Errorf("pending after replacing a with c: %v, want c:1 b:2", got)
		}
		if got := urls(models.DeliveryFailed); got[c] != 1 || len(got) != 1 {
			t.Errorf("failed after replacing a with c: %v, want c:1", got)
		}
		if _, err := s.RedeliverDelivery(ctx, finished.ID); err != nil {
			t.Fatalf("redeliver to the new URL: %v", err)
		}
		if err := s.DB().Model(&finished).Updates(map[string]any{"status": models.DeliveryFailed, "next_attempt_at": nil}).Error; err != nil {
			t.Fatal(err)
		}

		// c is removed with nothing in its place: its pending delivery is cancelled, b's stay.
		if _, _, err := s.UpdateWebhook(ctx, hook.ID, models.WebhookPatch{URLs: []string{b}}); err != nil {
			t.Fatal(err)
		}
		if got := urls(models.DeliveryPending); got[b] != 2 || len(got) != 1 {
			t.Errorf("pending after removing c: %v, want b:2", got)
		}
		if got := urls(models.DeliveryCancelled); got[c] != 1 || len(got) != 1 {
			t.Errorf("cancelled after removing c: %v, want c:1", got)
		}
		if cancelled != 1 {
			t.Errorf("%d cancellations counted, want 1", cancelled)
		}
		var gone models.Delivery
		if err := s.DB().Take(&gone, "webhook_id = ? AND url = ? AND status = ?", hook.ID, c, models.DeliveryCancelled).Error; err != nil {
			t.Fatal(err)
		}
		if gone.NextAttemptAt != nil || gone.LastError == nil {
			t.Errorf("cancelled delivery: next attempt %v, last error %v; want none and a reason", gone.NextAttemptAt, gone.LastError)
		}
		_, err = s.RedeliverDelivery(ctx, finished.ID)
		wantCode(t, err, models.CodeValidation)
	})
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
		hook := insertWebhook(t, s, models.Webhook{Scope: models.ScopeGlobal, Events: models.NewJSON([]string{models.EventCreated})})
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
	})
}
