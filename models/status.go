package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herald-hq/herald/models/hub"
	"gorm.io/gorm"
)

// StatusChannel is the PostgreSQL NOTIFY channel that carries the ids of webhook status
// changes (WebhookStatusChange rows).
const StatusChannel = "herald_webhook_status"

// WebhookStatusChange records one change of a webhook's status, written in the transaction
// that made it: by activateWebhook or deactivateWebhook (Actor names the user) or by the
// worker (six consecutive failures, 410 Gone; Actor is nil). It is deleted with its webhook.
type WebhookStatusChange struct {
	ID        string   `gorm:"primaryKey;size:40"`
	WebhookID string   `gorm:"size:40;not null;index"`
	Webhook   *Webhook `gorm:"constraint:OnDelete:CASCADE"`
	Status    string   `gorm:"size:10;not null"`
	Reason    *string
	Actor     *string
	At        time.Time `gorm:"not null"`
}

// recordStatusChangeTx stores, inside tx, that the webhook's status became status, and returns
// the change's id for announceStatusChanges once tx has committed.
func recordStatusChangeTx(tx *gorm.DB, webhookID, status string, reason, actor *string, at time.Time) (string, error) {
	c := &WebhookStatusChange{ID: newID(), WebhookID: webhookID, Status: status, Reason: reason, Actor: actor, At: at}
	if err := tx.Create(c).Error; err != nil {
		return "", fmt.Errorf("record status change: %w", err)
	}
	return c.ID, nil
}

// StatusHub returns the store's hub of webhook status changes (ids of WebhookStatusChange
// rows), fed like Hub: on PostgreSQL through NOTIFY on StatusChannel, so that every process
// sees every change.
func (s *Store) StatusHub() *hub.Hub { return s.statusHub }

// announceStatusChanges publishes status changes after the commit that stored them: on SQLite
// straight to the local hub, on PostgreSQL through the notifier, which every process's Listen
// loop publishes to its status hub. Best effort, like announceAttempts.
func (s *Store) announceStatusChanges(ids ...string) {
	if len(ids) == 0 {
		return
	}
	if s.notifier == nil {
		s.statusHub.Publish(ids...)
		return
	}
	s.notifier.addStatusChanges(ids)
}

// FindWebhookStatusChange returns a status change by id: NOT_FOUND for an unknown id (or one
// deleted with its webhook).
func (s *Store) FindWebhookStatusChange(ctx context.Context, id string) (*WebhookStatusChange, error) {
	var c WebhookStatusChange
	err := s.db.WithContext(ctx).First(&c, "id = ?", id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, NotFound("webhook status change")
	}
	if err != nil {
		return nil, fmt.Errorf("find webhook status change: %w", err)
	}
	return &c, nil
}
