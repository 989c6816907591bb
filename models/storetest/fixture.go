package storetest

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
)

// Webhook saves an ACTIVE GLOBAL webhook of incident.created posting the default JSON envelope
// to https://example.com/hook, with no auth, no signing, no retry and a 5 s timeout, changed by
// edit (when not nil) before it is saved. It is saved as the row it is, past the store's
// validation: tests give it what CreateWebhook would refuse or choose itself (a known sealed
// secret, a loopback URL, a scope without its team).
func Webhook(t testing.TB, s *models.Store, edit func(*models.Webhook)) *models.Webhook {
	t.Helper()
	h := &models.Webhook{
		ID:                   uuid.NewString(),
		Name:                 Name("hook"),
		Scope:                webhook.ScopeGlobal,
		Events:               models.NewJSON([]string{webhook.EventCreated}),
		URLs:                 models.NewJSON([]string{"https://example.com/hook"}),
		Method:               http.MethodPost,
		AuthType:             webhook.AuthNone,
		SigningScheme:        "NONE",
		SendDataUsing:        webhook.SendBody,
		ContentType:          webhook.ContentJSON,
		RetryIntervalMinutes: 1,
		TimeoutSeconds:       5,
		Status:               models.WebhookActive,
	}
	if edit != nil {
		edit(h)
	}
	if err := s.DB().Create(h).Error; err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	return h
}

// Deliveries saves n PENDING deliveries of hook's first URL, due now by the store's clock, of
// an incident.created event whose snapshot is a fixed incident INC-7 (no incident row: the
// worker reads only the snapshot), each changed by edit (when not nil), and wakes the store's
// worker.
func Deliveries(t testing.TB, s *models.Store, hook *models.Webhook, n int, edit func(*models.Delivery)) []*models.Delivery {
	t.Helper()
	now := s.Now()
	rows := make([]*models.Delivery, n)
	for i := range rows {
		rows[i] = &models.Delivery{
			ID: uuid.NewString(), WebhookID: hook.ID, Event: webhook.EventCreated, URL: hook.URLs.V[0],
			Status: models.DeliveryPending, NextAttemptAt: &now,
			Snapshot: models.NewJSON(models.Snapshot{
				EventAt: now, User: "Ada", IncidentID: "INC-7", Title: `Disk "full"`,
				Urgency: webhook.UrgencyHigh, Status: models.IncidentTriggered, URL: "http://herald.test/incidents/INC-7",
				ServiceID: "svc", ServiceName: "Payments", TeamID: "team", TeamName: "Core", CreatedAt: now,
			}),
		}
		if edit != nil {
			edit(rows[i])
		}
	}
	if err := s.DB().CreateInBatches(rows, 200).Error; err != nil {
		t.Fatalf("create deliveries: %v", err)
	}
	s.WakeWorker()
	return rows
}
