package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ErrLeaseLost is returned by CompleteAttempt when the delivery's lease has expired and another
// worker has claimed it since: the attempt's outcome is dropped (the other worker's counts).
var ErrLeaseLost = errors.New("delivery lease lost")

// ClaimedDelivery is a delivery leased to one worker, with its webhook as it was at claim time.
type ClaimedDelivery struct {
	Delivery *Delivery
	Webhook  *Webhook
}

// ClaimDeliveries leases up to n due PENDING deliveries whose lease is free or expired, oldest
// due first and at most perWebhook of any one webhook (0: no such bound), leaving out those of
// the webhooks in skipWebhooks (the ones this worker already runs at their in-flight cap). It
// looks at the 4n oldest due deliveries: a webhook with a long queue takes at most perWebhook
// of them, the rest go to the others' older work. Each claimed row gets the lease token owner
// (use a new token per call), a lease until now+lease, and attempts+1; the claim commits at
// once (on PostgreSQL without waiting for the WAL flush, see openBookkeeping). On PostgreSQL
// the rows are picked with FOR UPDATE SKIP LOCKED, so concurrent workers never claim the same
// row; on SQLite writers are serialized. Errors: INTERNAL.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, n, perWebhook int, lease time.Duration, skipWebhooks []string) ([]*ClaimedDelivery, error) {
	if n <= 0 {
		return nil, nil
	}
	if perWebhook <= 0 {
		perWebhook = n
	}
	now := s.Now()
	expires := now.Add(lease)
	var q strings.Builder
	args := []any{owner, expires, now}
	q.WriteString(`UPDATE deliveries SET lease_token = ?, lease_expires_at = ?, attempts = attempts + 1, updated_at = ?
		WHERE id IN (SELECT id FROM (
			SELECT id, next_attempt_at, row_number() OVER (PARTITION BY webhook_id ORDER BY next_attempt_at, id) AS nth
			FROM (SELECT id, webhook_id, next_attempt_at FROM deliveries
				WHERE status = ? AND next_attempt_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at < ?)`)
	args = append(args, DeliveryPending, now, now)
	if len(skipWebhooks) > 0 {
		q.WriteString(" AND webhook_id NOT IN ?")
		args = append(args, skipWebhooks)
	}
	q.WriteString(" ORDER BY next_attempt_at LIMIT ?")
	args = append(args, 4*n)
	if s.dialect == DialectPostgres {
		q.WriteString(" FOR UPDATE SKIP LOCKED")
	}
	q.WriteString(`) AS due) AS ranked
			WHERE nth <= ? ORDER BY next_attempt_at LIMIT ?)
		RETURNING *`)
	args = append(args, perWebhook, n)
	var claimed []*Delivery
	if err := s.bk.WithContext(ctx).Raw(q.String(), args...).Scan(&claimed).Error; err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return s.WithWebhooks(ctx, claimed)
}

// WithWebhooks pairs leased deliveries with their webhooks as they are now (nil for a webhook
// deleted meanwhile), as ClaimDeliveries returns them. Errors: INTERNAL.
func (s *Store) WithWebhooks(ctx context.Context, claimed []*Delivery) ([]*ClaimedDelivery, error) {
	if len(claimed) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(claimed))
	seen := make(map[string]bool, len(claimed))
	for _, d := range claimed {
		if !seen[d.WebhookID] {
			seen[d.WebhookID] = true
			ids = append(ids, d.WebhookID)
		}
	}
	var hooks []*Webhook
	if err := s.bk.WithContext(ctx).Where("id IN ?", ids).Find(&hooks).Error; err != nil {
		// The leases expire on their own; releasing them here would need the same database.
		return nil, fmt.Errorf("load webhooks: %w", err)
	}
	byID := make(map[string]*Webhook, len(hooks))
	for _, w := range hooks {
		byID[w.ID] = w
	}
	out := make([]*ClaimedDelivery, 0, len(claimed))
	for _, d := range claimed {
		out = append(out, &ClaimedDelivery{Delivery: d, Webhook: byID[d.WebhookID]})
	}
	return out, nil
}

// ReleaseLeases gives back deliveries claimed with the lease token owner that were never sent
// (the worker is draining, or their webhook was at its in-flight cap): the lease is cleared and
// the claim's attempt count undone, so they are due again at once. Errors: INTERNAL.
func (s *Store) ReleaseLeases(ctx context.Context, owner string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.bk.WithContext(ctx).Model(&Delivery{}).
		Where("id IN ? AND lease_token = ? AND status = ?", ids, owner, DeliveryPending).
		Updates(map[string]any{
			"lease_token":      nil,
			"lease_expires_at": nil,
			"attempts":         gorm.Expr("attempts - 1"),
		}).Error
	if err != nil {
		return fmt.Errorf("release leases: %w", err)
	}
	return nil
}

// CancelClaimedDelivery ends a claimed delivery whose webhook is no longer ACTIVE (or gone) as
// CANCELLED, without an attempt. Errors: ErrLeaseLost, INTERNAL.
func (s *Store) CancelClaimedDelivery(ctx context.Context, id, owner string) error {
	upd := s.bk.WithContext(ctx).Model(&Delivery{}).
		Where("id = ? AND lease_token = ? AND status = ?", id, owner, DeliveryPending).
		Updates(map[string]any{
			"status": DeliveryCancelled, "next_attempt_at": nil, "lease_token": nil,
			"lease_expires_at": nil, "attempts": gorm.Expr("attempts - 1"), "updated_at": s.Now(),
		})
	if upd.Error != nil {
		return fmt.Errorf("cancel delivery: %w", upd.Error)
	}
	if upd.RowsAffected == 0 {
		return ErrLeaseLost
	}
	s.countCancelled(1)
	return nil
}

// RedeliverDelivery sends a delivery again: a finished one (SUCCEEDED, FAILED or CANCELLED)
// becomes PENDING again, and a PENDING one waiting for its retry is due at once; either way due
// now, with a fresh retry budget (RetryBase = Attempts: its attempts go on being numbered where
// they were), and the workers are woken. Errors: NOT_FOUND, VALIDATION (an attempt of the
// delivery is in flight, its webhook is inactive, or its URL is no longer one of the
// webhook's), INTERNAL.
func (s *Store) RedeliverDelivery(ctx context.Context, id string) (*Delivery, error) {
	var d Delivery
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Preload("Webhook").Where("id = ?", id).Take(&d).Error; err != nil {
			return translate(err, "delivery")
		}
		now := s.Now()
		if d.Status == DeliveryPending && d.LeaseExpiresAt != nil && d.LeaseExpiresAt.After(now) {
			return Invalid("deliveryId", "an attempt of the delivery is in flight; wait for its outcome")
		}
		if d.Webhook == nil || d.Webhook.Status != WebhookActive {
			return Invalid("deliveryId", "the delivery's webhook is inactive; activate it first")
		}
		if !slices.Contains(d.Webhook.URLs.V, d.URL) {
			return Invalid("deliveryId", "the delivery's URL was removed from the webhook")
		}
		upd := tx.Model(&Delivery{}).Where("id = ? AND status = ? AND (lease_expires_at IS NULL OR lease_expires_at <= ?)", id, d.Status, now).Updates(map[string]any{
			"status": DeliveryPending, "next_attempt_at": now, "retry_base": gorm.Expr("attempts"), "lease_token": nil,
			"lease_expires_at": nil, "last_error": nil, "updated_at": now,
		})
		if upd.Error != nil {
			return fmt.Errorf("redeliver: %w", upd.Error)
		}
		if upd.RowsAffected == 0 {
			return Invalid("deliveryId", "the delivery changed meanwhile; try again")
		}
		d.Status, d.NextAttemptAt, d.RetryBase, d.LastError, d.UpdatedAt = DeliveryPending, &now, d.Attempts, nil, now
		return nil
	})
	if err != nil {
		return nil, translate(err, "delivery")
	}
	s.announceDeliveries()
	return &d, nil
}

// QueueStats describes the delivery queue for metrics.
type QueueStats struct {
	// Pending counts PENDING deliveries, due or waiting for a retry.
	Pending int64
	// OldestDue is when the longest-waiting due delivery became due; zero when none is due.
	OldestDue time.Time
}

// StatDeliveryQueue returns the queue depth and the oldest due delivery. Errors: INTERNAL.
func (s *Store) StatDeliveryQueue(ctx context.Context) (QueueStats, error) {
	var st QueueStats
	db := s.db.WithContext(ctx)
	if err := db.Model(&Delivery{}).Where("status = ?", DeliveryPending).Count(&st.Pending).Error; err != nil {
		return st, fmt.Errorf("stat delivery queue: %w", err)
	}
	var d Delivery
	err := db.Select("next_attempt_at").Where("status = ? AND next_attempt_at <= ?", DeliveryPending, s.Now()).
		Order("next_attempt_at").Limit(1).Take(&d).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
	case err != nil:
		return st, fmt.Errorf("stat delivery queue: %w", err)
	case d.NextAttemptAt != nil:
		st.OldestDue = *d.NextAttemptAt
	}
	return st, nil
}

// ExtendLeases moves to until the expiry of the PENDING deliveries leased with one of tokens
// whose lease runs out before soon, and returns the tokens of those it extended (once each): a
// worker keeps the leases of what it still holds, so that a short lease is picked up again
// within seconds when its process dies. Deliveries finished or given back (their lease token
// cleared) and leases not yet near their end are not touched. Errors: UNAVAILABLE, INTERNAL.
func (s *Store) ExtendLeases(ctx context.Context, tokens []string, soon, until time.Time) ([]string, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	var extended []string
	// Every leased delivery is due (claims take due ones; handoff writes them due now): the
	// next_attempt_at bound lets the statement walk idx_delivery_due, lease_token having no
	// index of its own.
	err := s.bk.WithContext(ctx).Raw(`UPDATE deliveries SET lease_expires_at = ?
		WHERE status = ? AND next_attempt_at <= ? AND lease_token IN ? AND lease_expires_at < ?
		RETURNING lease_token`, until, DeliveryPending, s.Now(), tokens, soon).Scan(&extended).Error
	if err != nil {
		return nil, fmt.Errorf("extend leases: %w", err)
	}
	slices.Sort(extended)
	return slices.Compact(extended), nil
}
