package worker

import (
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/render"
)

// dataFor returns what the templates of a delivery sent at sentAt see: its frozen snapshot.
func dataFor(d *models.Delivery, sentAt time.Time) *render.Data {
	return DataFromSnapshot(d.Event, d.ID, d.WebhookID, &d.Snapshot.V, sentAt)
}

// DataFromSnapshot returns what templates see for an event (enum name) about a snapshot, in
// a webhook sent at sentAt ({{timestamp}}, vendor: "Timestamp of webhook (When it sent)").
func DataFromSnapshot(event, deliveryID, webhookID string, s *models.Snapshot, sentAt time.Time) *render.Data {
	return &render.Data{
		Event:      webhook.EventWireName(event),
		DeliveryID: deliveryID,
		WebhookID:  webhookID,
		Timestamp:  sentAt,
		User:       s.User,
		Incident: render.Incident{
			ID:             s.IncidentID,
			Title:          s.Title,
			Description:    s.Description,
			Urgency:        s.Urgency,
			Status:         s.Status,
			MappedWith:     s.MappedWith,
			URL:            s.URL,
			AlertSource:    s.AlertSource,
			ServiceID:      s.ServiceID,
			ServiceName:    s.ServiceName,
			TeamID:         s.TeamID,
			TeamName:       s.TeamName,
			Assignee:       s.Assignee,
			CreatedAt:      s.CreatedAt,
			AcknowledgedAt: s.AcknowledgedAt,
			ResolvedAt:     s.ResolvedAt,
		},
	}
}
