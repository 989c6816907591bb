package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herald-hq/herald/models/webhook/outcome"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// noticeColumns are the webhook columns holding each kind's last reservation.
// Each kind has its own slot, so that a failed delivery's e-mail never silences the
// deactivation that follows it.
var noticeColumns = map[outcome.Notice]string{outcome.NoticeFailed: "last_notified_at", outcome.NoticeDeactivated: "last_deactivation_notified_at"}

// FailureNotification is the right to send one failure e-mail of a webhook, reserved by
// ClaimFailureNotification.
type FailureNotification struct {
	webhookID, column string
	// at is the time the reservation set, previous the one it replaced.
	at       time.Time
	previous *time.Time
}

// ClaimFailureNotification reserves the right to send a failure e-mail of kind
// (outcome.NoticeFailed or outcome.NoticeDeactivated) for the webhook: when none of that kind was sent within interval it
// records now as the kind's last one and returns the reservation, otherwise (or when the
// webhook is gone) nil. The webhook's row is locked while it is read and set, so that workers
// in several processes agree. The times are bookkeeping, not an edit: updated_at stays.
// Errors: INTERNAL.
func (s *Store) ClaimFailureNotification(ctx context.Context, webhookID string, kind outcome.Notice, interval time.Duration) (*FailureNotification, error) {
	column, ok := noticeColumns[kind]
	if !ok {
		return nil, fmt.Errorf("claim failure notification: unknown kind %q", kind)
	}
	now := s.Now()
	var claim *FailureNotification
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		claim = nil
		q := tx.Model(&Webhook{}).Select(column).Where("id = ?", webhookID)
		if s.dialect == DialectPostgres {
			q = q.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
		}
		var h Webhook
		err := q.Take(&h).Error
		last := h.LastNotifiedAt
		if kind == outcome.NoticeDeactivated {
			last = h.LastDeactivationNotifiedAt
		}
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			return nil
		case err != nil:
			return err
		case last != nil && last.After(now.Add(-interval)):
			return nil
		}
		if err := tx.Model(&Webhook{}).Where("id = ?", webhookID).UpdateColumn(column, now).Error; err != nil {
			return err
		}
		claim = &FailureNotification{webhookID: webhookID, column: column, at: now, previous: last}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim failure notification: %w", err)
	}
	return claim, nil
}

// ReleaseFailureNotification gives back a reservation whose e-mail could not be sent: its
// kind's last time returns to the value the reservation replaced, unless another reservation
// has replaced it since. Errors: INTERNAL.
func (s *Store) ReleaseFailureNotification(ctx context.Context, n *FailureNotification) error {
	err := s.db.WithContext(ctx).Model(&Webhook{}).
		Where("id = ? AND "+n.column+" = ?", n.webhookID, n.at).
		UpdateColumn(n.column, n.previous).Error
	if err != nil {
		return fmt.Errorf("release failure notification: %w", err)
	}
	return nil
}
