package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/outcome"
)

// TestCompleteAttemptsInOrder records one batch that holds a success, a lease lost in the
// middle and eight failures of one webhook: counted in order, the sixth failure deactivates
// the webhook, the two after it find their deliveries cancelled and the lost lease counts for
// nothing.
func TestCompleteAttemptsInOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		hook := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated}), ConsecutiveFailures: 1})
		other := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated})})
		for range 11 {
			w.create(t, w.svcA1, "x")
		}
		ctx := context.Background()
		claimed, err := s.ClaimDeliveries(ctx, "token", 100, 0, time.Minute, nil)
		if err != nil || len(claimed) != 22 {
			t.Fatalf("claimed %d, %v", len(claimed), err)
		}
		var mine, theirs []*models.Delivery
		for _, c := range claimed {
			if c.Delivery.WebhookID == hook.ID {
				mine = append(mine, c.Delivery)
			} else {
				theirs = append(theirs, c.Delivery)
			}
		}
		completion := func(d *models.Delivery, token, result string, v outcome.Verdict) *models.AttemptCompletion {
			return &models.AttemptCompletion{LeaseToken: token, Decision: outcome.Decision{Verdict: v}, Attempt: &models.Attempt{
				DeliveryID: &d.ID, WebhookID: &d.WebhookID, Event: d.Event, Number: 1, Outcome: result, StartedAt: time.Now(),
			}}
		}
		var cs []*models.AttemptCompletion
		cs = append(cs, completion(mine[0], "token", models.AttemptSucceeded, outcome.Delivered)) // resets 1 → 0
		cs = append(cs, completion(theirs[0], "token", models.AttemptSucceeded, outcome.Delivered))
		cs = append(cs, completion(mine[1], "stolen", models.AttemptFailed, outcome.Failed)) // lease lost
		for _, d := range mine[2:10] {
			cs = append(cs, completion(d, "token", models.AttemptFailed, outcome.Failed))
		}
		res, err := s.CompleteAttempts(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range res {
			if r == nil {
				got = append(got, "lost")
				continue
			}
			got = append(got, fmt.Sprintf("%s/%d/%v", r.Status, r.ConsecutiveFailures, r.Deactivated))
		}
		want := []string{"SUCCEEDED/0/false", "SUCCEEDED/0/false", "lost",
			"FAILED/1/false", "FAILED/2/false", "FAILED/3/false", "FAILED/4/false", "FAILED/5/false",
			"FAILED/6/true", "CANCELLED/7/false", "CANCELLED/8/false"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("results\n got %v\nwant %v", got, want)
		}
		var h models.Webhook
		if err := s.DB().Take(&h, "id = ?", hook.ID).Error; err != nil {
			t.Fatal(err)
		}
		if h.Status != models.WebhookInactive || h.ConsecutiveFailures != 8 || h.InactiveReason == nil || !strings.Contains(*h.InactiveReason, "6 consecutive") {
			t.Fatalf("webhook: %s, %d failures, reason %v", h.Status, h.ConsecutiveFailures, h.InactiveReason)
		}
		if n := countRows(t, s, &models.Attempt{}, ""); n != 10 {
			t.Fatalf("%d attempts logged, want 10 (all but the lost lease)", n)
		}
		// Deactivation cancels every PENDING delivery of the webhook: the two completed after
		// the sixth failure, the lost lease's and the one not in the batch.
		if n := countRows(t, s, &models.Delivery{}, "webhook_id = ? AND status = ?", hook.ID, models.DeliveryCancelled); n != 4 {
			t.Fatalf("%d cancelled deliveries, want 4", n)
		}
		if n := countRows(t, s, &models.Delivery{}, "webhook_id = ? AND status = ?", other.ID, models.DeliveryPending); n != 10 {
			t.Fatalf("the other webhook has %d pending deliveries, want 10", n)
		}
	})
}

// TestDeactivatingRetryIsCancelledWithoutNextTime: the sixth failure asks for a retry, but
// it deactivates the webhook, so its delivery is CANCELLED — with no next attempt time — and
// its attempt shows no next retry; an attempt completed after that, its delivery cancelled
// while in flight, shows none either.
func TestDeactivatingRetryIsCancelledWithoutNextTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated}),
			ConsecutiveFailures: outcome.MaxConsecutiveFailures - 1})
		w.create(t, w.svcA1, "x")
		w.create(t, w.svcA1, "y")
		ctx := context.Background()
		claimed, err := s.ClaimDeliveries(ctx, "token", 10, 0, time.Minute, nil)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claimed %d, %v", len(claimed), err)
		}
		next := time.Now().Add(time.Minute)
		var attempts []*models.Attempt
		for _, c := range claimed {
			d := c.Delivery
			a := &models.Attempt{DeliveryID: &d.ID, WebhookID: &d.WebhookID, Event: d.Event, Number: 1,
				Outcome: models.AttemptFailed, StartedAt: time.Now(), NextRetryAt: &next}
			attempts = append(attempts, a)
			res, err := s.CompleteAttempt(ctx, &models.AttemptCompletion{LeaseToken: "token", Decision: outcome.Decision{Verdict: outcome.Retry, RetryAt: next}, Attempt: a})
			if err != nil || res.Status != models.DeliveryCancelled {
				t.Fatalf("completion: %+v, %v", res, err)
			}
		}
		for i, c := range claimed {
			var d models.Delivery
			if err := s.DB().Take(&d, "id = ?", c.Delivery.ID).Error; err != nil {
				t.Fatal(err)
			}
			var a models.Attempt
			if err := s.DB().Take(&a, "id = ?", attempts[i].ID).Error; err != nil {
				t.Fatal(err)
			}
			if d.Status != models.DeliveryCancelled || d.NextAttemptAt != nil || a.NextRetryAt != nil {
				t.Errorf("delivery %d: %s, next attempt %v; its attempt's next retry %v — want CANCELLED and none", i, d.Status, d.NextAttemptAt, a.NextRetryAt)
			}
		}
	})
}

// TestCompleteAttemptsOneStatement records a batch that cannot deactivate anything (so its
// deliveries are updated by one statement): a success, a retry, a lost lease and a delivery
// cancelled while in flight.
func TestCompleteAttemptsOneStatement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		hook := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated})})
		for range 4 {
			w.create(t, w.svcA1, "x")
		}
		ctx := context.Background()
		claimed, err := s.ClaimDeliveries(ctx, "token", 100, 0, time.Minute, nil)
		if err != nil || len(claimed) != 4 {
			t.Fatalf("claimed %d, %v", len(claimed), err)
		}
		ds := make([]*models.Delivery, 4)
		for i, c := range claimed {
			ds[i] = c.Delivery
		}
		if err := s.DB().Model(&models.Delivery{}).Where("id = ?", ds[3].ID).Update("status", models.DeliveryCancelled).Error; err != nil {
			t.Fatal(err)
		}
		next := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
		boom := "HTTP 500"
		completion := func(d *models.Delivery, token, result string, v outcome.Verdict) *models.AttemptCompletion {
			c := &models.AttemptCompletion{LeaseToken: token, Decision: outcome.Decision{Verdict: v}, Attempt: &models.Attempt{
				DeliveryID: &d.ID, WebhookID: &d.WebhookID, Event: d.Event, Number: 1, Outcome: result, StartedAt: time.Now(),
			}}
			if result != models.AttemptSucceeded {
				c.Attempt.Error = &boom
			}
			return c
		}
		retry := completion(ds[1], "token", models.AttemptFailed, outcome.Retry)
		retry.Decision.RetryAt = next
		res, err := s.CompleteAttempts(ctx, []*models.AttemptCompletion{
			completion(ds[0], "token", models.AttemptSucceeded, outcome.Delivered),
			retry,
			completion(ds[2], "stolen", models.AttemptFailed, outcome.Failed),
			completion(ds[3], "token", models.AttemptFailed, outcome.Failed),
		})
		if err != nil {
			t.Fatal(err)
		}
		if res[0] == nil || res[0].Status != models.DeliverySucceeded || res[1] == nil || res[1].Status != models.DeliveryPending ||
			res[1].ConsecutiveFailures != 1 || res[2] != nil || res[3] == nil || res[3].Status != models.DeliveryCancelled || res[3].ConsecutiveFailures != 2 {
			t.Fatalf("results: %+v %+v %+v %+v", res[0], res[1], res[2], res[3])
		}
		var got []models.Delivery
		if err := s.DB().Where("id IN ?", []string{ds[0].ID, ds[1].ID, ds[2].ID}).Find(&got).Error; err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			switch d.ID {
			case ds[0].ID:
				if d.Status != models.DeliverySucceeded || d.LeaseToken != nil || d.LastError != nil {
					t.Errorf("success: %s, lease %v, error %v", d.Status, d.LeaseToken, d.LastError)
				}
			case ds[1].ID:
				if d.Status != models.DeliveryPending || d.LeaseToken != nil || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(next) || d.LastError == nil || *d.LastError != boom {
					t.Errorf("retry: %s, lease %v, next %v (want %v), error %v", d.Status, d.LeaseToken, d.NextAttemptAt, next, d.LastError)
				}
			case ds[2].ID:
				if d.Status != models.DeliveryPending || d.LeaseToken == nil || *d.LeaseToken != "token" {
					t.Errorf("lost lease changed the delivery: %s, lease %v", d.Status, d.LeaseToken)
				}
			}
		}
		var h models.Webhook
		if err := s.DB().Take(&h, "id = ?", hook.ID).Error; err != nil {
			t.Fatal(err)
		}
		if h.Status != models.WebhookActive || h.ConsecutiveFailures != 2 {
			t.Fatalf("webhook: %s, %d failures", h.Status, h.ConsecutiveFailures)
		}
		if n := countRows(t, s, &models.Attempt{}, ""); n != 3 {
			t.Fatalf("%d attempts logged, want 3", n)
		}
	})
}

// TestBookkeepingPool checks the two PostgreSQL pools: ingest and the API wait for the WAL
// flush, claims and completions do not, and the claim's plan does not depend on statistics.
func TestBookkeepingPool(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectPostgres)
	for name, want := range map[string][2]string{
		"synchronous_commit": {"on", "off"},
		"enable_bitmapscan":  {"on", "off"},
		"enable_seqscan":     {"on", "off"},
	} {
		main, bk, err := models.Setting(context.Background(), s, name)
		if err != nil {
			t.Fatal(err)
		}
		if main != want[0] || bk != want[1] {
			t.Errorf("%s: main pool %q, bookkeeping pool %q; want %q and %q", name, main, bk, want[0], want[1])
		}
	}
}

// TestClaimBoundsEachWebhook: a claim takes at most perWebhook deliveries of one webhook, oldest
// first, leaves the skipped webhooks' alone and stamps every row with the lease token.
func TestClaimBoundsEachWebhook(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		busy := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated})})
		quiet := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeService, ServiceID: &w.svcA1.ID, Events: models.NewJSON([]string{webhook.EventCreated})})
		for range 6 {
			w.create(t, w.svcA2, "only the busy webhook")
		}
		w.create(t, w.svcA1, "both")
		ctx := context.Background()
		claimed, err := s.ClaimDeliveries(ctx, "first", 10, 3, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, c := range claimed {
			per[c.Delivery.WebhookID]++
			if c.Delivery.LeaseToken == nil || *c.Delivery.LeaseToken != "first" || c.Webhook == nil || c.Webhook.ID != c.Delivery.WebhookID {
				t.Errorf("claimed delivery %s: token %v, webhook %v", c.Delivery.ID, c.Delivery.LeaseToken, c.Webhook)
			}
		}
		if per[busy.ID] != 3 || per[quiet.ID] != 1 || len(claimed) != 4 {
			t.Fatalf("claimed per webhook %v (%d in all); want 3 of the busy one and 1 of the quiet one", per, len(claimed))
		}
		again, err := s.ClaimDeliveries(ctx, "second", 10, 3, time.Minute, []string{busy.ID})
		if err != nil || len(again) != 0 {
			t.Fatalf("claim leaving out the busy webhook: %d claimed, %v; want none", len(again), err)
		}
		rest, err := s.ClaimDeliveries(ctx, "third", 10, 0, time.Minute, nil)
		if err != nil || len(rest) != 4 {
			t.Fatalf("claim without a bound: %d claimed, %v; want the busy webhook's other 4", len(rest), err)
		}
	})
}

// TestVacuum: on a PostgreSQL without autovacuum (this machine's) Herald vacuums deliveries
// itself and the dead row versions of delivered rows go; with autovacuum on it leaves the
// tables to PostgreSQL.
func TestVacuum(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectPostgres)
	ctx := context.Background()
	var setting string
	if err := s.DB().Raw("SHOW autovacuum").Scan(&setting).Error; err != nil {
		t.Fatal(err)
	}
	if got, want := s.NeedsVacuum(), setting == "off"; got != want {
		t.Fatalf("NeedsVacuum() = %v with autovacuum %s", got, setting)
	}
	if !s.NeedsVacuum() {
		t.Skip("autovacuum is on here: PostgreSQL vacuums by itself")
	}
	w := newIncWorld(t, s)
	insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated})})
	for range 20 {
		w.create(t, w.svcA1, "x")
	}
	if _, err := s.ClaimDeliveries(ctx, "token", 100, 0, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	dead := func() (n int64) {
		// pg_stat_user_tables lags; the heap's own counts are exact.
		if err := s.DB().Raw("SELECT dead_tuple_count FROM pgstattuple('deliveries')").Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.DB().Exec("CREATE EXTENSION IF NOT EXISTS pgstattuple").Error; err != nil {
		t.Skipf("pgstattuple is not available: %v", err)
	}
	if n := dead(); n == 0 {
		t.Fatal("claims left no dead row versions; the test shows nothing")
	}
	if err := s.Vacuum(ctx); err != nil {
		t.Fatal(err)
	}
	if n := dead(); n != 0 {
		t.Errorf("%d dead row versions after Vacuum", n)
	}
}
