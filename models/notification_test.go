package models_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/outcome"
)

// TestFailureNotificationSlot: one failure e-mail per webhook per interval; a reservation given
// back frees the slot and restores the time it replaced, and giving it back again once a new
// reservation is made changes nothing; none of it counts as an edit of the webhook.
func TestFailureNotificationSlot(t *testing.T) {
	t.Parallel()
	storetest.EachAt(t, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), func(t *testing.T, s *models.Store, clock *storetest.Clock) {
		ctx := context.Background()
		hook := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal})
		notifiedAt := func() *time.Time {
			t.Helper()
			var h models.Webhook
			if err := s.DB().Take(&h, "id = ?", hook.ID).Error; err != nil {
				t.Fatal(err)
			}
			if !h.UpdatedAt.Equal(hook.UpdatedAt) {
				t.Errorf("updated_at moved from %v to %v", hook.UpdatedAt, h.UpdatedAt)
			}
			return h.LastNotifiedAt
		}
		claim := func(want bool) *models.FailureNotification {
			t.Helper()
			n, err := s.ClaimFailureNotification(ctx, hook.ID, outcome.NoticeFailed, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if (n != nil) != want {
				t.Fatalf("at %v: claimed %v, want %v", clock.Now(), n != nil, want)
			}
			return n
		}
		release := func(n *models.FailureNotification) {
			t.Helper()
			if err := s.ReleaseFailureNotification(ctx, n); err != nil {
				t.Fatal(err)
			}
		}

		first := claim(true)
		clock.Add(9 * time.Minute)
		claim(false)
		release(first)
		if at := notifiedAt(); at != nil {
			t.Fatalf("after giving back the first reservation: last notified %v, want none", at)
		}
		claim(true)
		release(first) // given back before: the new reservation stays
		if at := notifiedAt(); at == nil || !at.Equal(clock.Now()) {
			t.Fatalf("after a stale give-back: last notified %v, want %v", at, clock.Now())
		}
		claim(false)

		sent := clock.Now()
		clock.Add(10 * time.Minute)
		third := claim(true)
		release(third)
		if at := notifiedAt(); at == nil || !at.Equal(sent) {
			t.Fatalf("after giving back the third reservation: last notified %v, want %v", at, sent)
		}

		// A deactivation has a slot of its own: a failure e-mail just sent does not silence
		// it, and it is sent at most once per interval too.
		for i, want := range []bool{true, false} {
			n, err := s.ClaimFailureNotification(ctx, hook.ID, outcome.NoticeDeactivated, 10*time.Minute)
			if err != nil || (n != nil) != want {
				t.Fatalf("deactivation e-mail %d: claimed %v (%v), want %v", i+1, n != nil, err, want)
			}
		}

		if n, err := s.ClaimFailureNotification(ctx, "gone", outcome.NoticeFailed, 10*time.Minute); err != nil || n != nil {
			t.Errorf("unknown webhook: %v, %v", n, err)
		}
	})
}

// TestAttemptTruncatedMigrates: a database made before attempts had the truncated column gets
// it on start, false for the attempts already logged; new attempts store it either way,
// recorded by CompleteAttempts or CreateTestAttempt.
func TestAttemptTruncatedMigrates(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := storetest.URL(t, dialect)
			open := func() *models.Store {
				t.Helper()
				s, err := models.Open(ctx, models.Options{DatabaseURL: url, SecretKey: storetest.Key,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					t.Fatalf("open store: %v", err)
				}
				return s
			}
			s := open()
			if err := s.DB().Exec("ALTER TABLE attempts DROP COLUMN truncated").Error; err != nil {
				t.Fatal(err)
			}
			if err := s.DB().Exec("INSERT INTO attempts (id, event, number, test, outcome, duration_ms, started_at) VALUES (?, ?, 1, ?, ?, 0, ?)",
				"old", webhook.EventCreated, true, models.AttemptSucceeded, time.Now().UTC()).Error; err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = open()
			t.Cleanup(func() { _ = s.Close() })
			w := newIncWorld(t, s)
			hook := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated})})
			w.create(t, w.svcA1, "a")
			w.create(t, w.svcA1, "b")
			claimed, err := s.ClaimDeliveries(ctx, "token", 10, 0, time.Minute, nil)
			if err != nil || len(claimed) != 2 {
				t.Fatalf("claimed %d, %v", len(claimed), err)
			}
			var cs []*models.AttemptCompletion
			for i, c := range claimed {
				cs = append(cs, &models.AttemptCompletion{LeaseToken: "token", Decision: outcome.Decision{Verdict: outcome.Delivered}, Attempt: &models.Attempt{
					ID: []string{"cut", "whole"}[i], DeliveryID: &c.Delivery.ID, WebhookID: &hook.ID, Event: webhook.EventCreated,
					Number: 1, Outcome: models.AttemptSucceeded, StartedAt: time.Now().UTC(), Truncated: i == 0,
				}})
			}
			if _, err := s.CompleteAttempts(ctx, cs); err != nil {
				t.Fatal(err)
			}
			test := &models.Attempt{ID: "test", Event: webhook.EventCreated, Number: 1, Outcome: models.AttemptSucceeded, StartedAt: time.Now().UTC(), Truncated: true}
			if err := s.CreateTestAttempt(ctx, test); err != nil {
				t.Fatal(err)
			}

			var as []*models.Attempt
			if err := s.DB().Order("id").Find(&as).Error; err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, a := range as {
				got[a.ID] = a.Truncated
			}
			want := map[string]bool{"cut": true, "old": false, "test": true, "whole": false}
			if len(got) != len(want) {
				t.Fatalf("attempts %v, want %v", got, want)
			}
			for id, v := range want {
				if got[id] != v {
					t.Errorf("attempt %s: truncated %v, want %v", id, got[id], v)
				}
			}
		})
	}
}
