package models

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/herald-hq/herald/models/webhook"
	"gorm.io/gorm"
)

// DeliveryFilter narrows ListDeliveries.
type DeliveryFilter struct {
	WebhookID  *string
	IncidentID *string
	Status     *string
	// TeamIDs limits the deliveries to TEAM and SERVICE webhooks of these teams (never
	// GLOBAL ones); nil means every delivery.
	TeamIDs []string
}

// EncodeDeliveryCursor returns the opaque Relay cursor of a delivery.
func EncodeDeliveryCursor(d *Delivery) string {
	return base64.RawURLEncoding.EncodeToString([]byte("d:" + d.ID))
}

// decodeDeliveryCursor returns the sort key (the time-ordered id) a cursor stands for.
func decodeDeliveryCursor(c string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", false
	}
	id, ok := strings.CutPrefix(string(b), "d:")
	return id, ok && id != ""
}

// ListDeliveries returns a page of deliveries newest first (ids are time-ordered), at most
// first of them (default 50, at most 200) after the cursor after, whether more follow, and how
// many match the filter in all. VALIDATION for a bad status, first or cursor.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter, first int, after string) ([]*Delivery, bool, int64, error) {
	limit, err := pageSize(first)
	if err != nil {
		return nil, false, 0, err
	}
	q := s.db.WithContext(ctx).Model(&Delivery{})
	if f.WebhookID != nil {
		q = q.Where("webhook_id = ?", *f.WebhookID)
	}
	if f.IncidentID != nil {
		q = q.Where("incident_id = ?", *f.IncidentID)
	}
	if f.Status != nil {
		switch *f.Status {
		case DeliveryPending, DeliverySucceeded, DeliveryFailed, DeliveryCancelled:
		default:
			return nil, false, 0, Invalid("status", "unknown status %q", *f.Status)
		}
		q = q.Where("status = ?", *f.Status)
	}
	if f.TeamIDs != nil {
		teams := nonEmpty(f.TeamIDs)
		q = q.Where("webhook_id IN (?)", s.db.Model(&Webhook{}).Select("id").
			Where("scope <> ?", webhook.ScopeGlobal).
			Where("team_id IN ? OR service_id IN (?)", teams, s.db.Model(&Service{}).Select("id").Where("team_id IN ?", teams)))
	}
	q = q.Session(&gorm.Session{})
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, false, 0, fmt.Errorf("count deliveries: %w", err)
	}
	if after != "" {
		id, ok := decodeDeliveryCursor(after)
		if !ok {
			return nil, false, 0, Invalid("after", "not a cursor of this list")
		}
		q = q.Where("id < ?", id)
	}
	var out []*Delivery
	if err := q.Order("id DESC").Limit(limit + 1).Find(&out).Error; err != nil {
		return nil, false, 0, fmt.Errorf("list deliveries: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, total, nil
}

// FindDeliveryByID returns a delivery: NOT_FOUND when there is none.
func (s *Store) FindDeliveryByID(ctx context.Context, id string) (*Delivery, error) {
	var d Delivery
	if err := s.db.WithContext(ctx).First(&d, "id = ?", id).Error; err != nil {
		return nil, translate(err, "delivery")
	}
	return &d, nil
}

// ListAttempts returns the attempts of a delivery, first attempt first.
func (s *Store) ListAttempts(ctx context.Context, deliveryID string) ([]*Attempt, error) {
	var out []*Attempt
	if err := s.db.WithContext(ctx).Where("delivery_id = ?", deliveryID).Order("started_at, number, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return out, nil
}

// FindAttemptByID returns an attempt: NOT_FOUND when there is none.
func (s *Store) FindAttemptByID(ctx context.Context, id string) (*Attempt, error) {
	var a Attempt
	if err := s.db.WithContext(ctx).First(&a, "id = ?", id).Error; err != nil {
		return nil, translate(err, "attempt")
	}
	return &a, nil
}
