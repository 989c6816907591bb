package models_test

import (
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

func TestListDeliveries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		events := models.NewJSON([]string{webhook.EventCreated})
		global := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: events})
		teamA := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeTeam, TeamID: &w.teamA.ID, Events: events})
		svcA := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeService, ServiceID: &w.svcA1.ID, Events: events})
		for range 3 {
			w.create(t, w.svcA1, "x")
		}
		all, more, total, err := s.ListDeliveries(w.ctx, models.DeliveryFilter{}, 4, "")
		if err != nil || len(all) != 4 || !more || total != 9 {
			t.Fatalf("page 1: %d, %v, %d, %v", len(all), more, total, err)
		}
		rest, more, _, err := s.ListDeliveries(w.ctx, models.DeliveryFilter{}, 10, models.EncodeDeliveryCursor(all[3]))
		if err != nil || len(rest) != 5 || more || rest[0].ID >= all[3].ID {
			t.Fatalf("page 2: %d, %v, %v", len(rest), more, err)
		}
		mine, _, total, _ := s.ListDeliveries(w.ctx, models.DeliveryFilter{TeamIDs: []string{w.teamA.ID}}, 0, "")
		for _, d := range mine {
			if d.WebhookID == global.ID {
				t.Fatal("a team member sees a GLOBAL webhook's delivery")
			}
		}
		if total != 6 || len(mine) != 6 {
			t.Fatalf("team A sees %d/%d deliveries, want 6", len(mine), total)
		}
		if _, _, total, _ := s.ListDeliveries(w.ctx, models.DeliveryFilter{TeamIDs: []string{w.teamB.ID}}, 0, ""); total != 0 {
			t.Fatalf("team B sees %d deliveries", total)
		}
		if _, _, total, _ := s.ListDeliveries(w.ctx, models.DeliveryFilter{WebhookID: &svcA.ID}, 0, ""); total != 3 {
			t.Fatalf("service webhook has %d deliveries", total)
		}
		pending := models.DeliveryPending
		if _, _, total, _ := s.ListDeliveries(w.ctx, models.DeliveryFilter{WebhookID: &teamA.ID, Status: &pending}, 0, ""); total != 3 {
			t.Fatalf("pending of the team webhook: %d", total)
		}
		_, _, _, err = s.ListDeliveries(w.ctx, models.DeliveryFilter{}, 0, "!!")
		wantCode(t, err, models.CodeValidation)
		d, err := s.FindDeliveryByID(w.ctx, all[0].ID)
		if err != nil || d.ID != all[0].ID {
			t.Fatal(err)
		}
		_, err = s.FindDeliveryByID(w.ctx, "nope")
		wantCode(t, err, models.CodeNotFound)
		if as, err := s.ListAttempts(w.ctx, d.ID); err != nil || len(as) != 0 {
			t.Fatalf("attempts = %v, %v", as, err)
		}
		_, err = s.FindAttemptByID(w.ctx, "nope")
		wantCode(t, err, models.CodeNotFound)
	})
}
