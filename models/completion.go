package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// MaxConsecutiveFailures is how many failed attempts in a row (test sends excepted) make a
// webhook INACTIVE (SPEC §4).
const MaxConsecutiveFailures = 6

// AttemptCompletion is the outcome of one attempt at a claimed delivery.
type AttemptCompletion struct {
	// LeaseToken is the token the delivery was claimed with.
	LeaseToken string
	// Attempt is the log row to insert; its DeliveryID and WebhookID are set.
	Attempt *Attempt
	// Status is the delivery's next state: SUCCEEDED, PENDING (retry at NextAttemptAt) or FAILED.
	Status        string
	NextAttemptAt *time.Time
	// Deactivate, when set, makes the webhook INACTIVE at once with this reason (410 Gone).
	Deactivate string
}

// CompletionResult says what CompleteAttempt changed.
type CompletionResult struct {
	// Status is the delivery's state after the attempt (CANCELLED when the webhook was
	// deactivated while a retry was due).
	Status string
	// ConsecutiveFailures is the webhook's count after the attempt.
	ConsecutiveFailures int
	// Deactivated is set when this attempt made the webhook INACTIVE; Reason says why.
	Deactivated bool
	Reason      string
}

// CompleteAttempt records one attempt; it is CompleteAttempts with a batch of one.
// Errors: ErrLeaseLost, INTERNAL.
func (s *Store) CompleteAttempt(ctx context.Context, c *AttemptCompletion) (*CompletionResult, error) {
	res, err := s.CompleteAttempts(ctx, []*AttemptCompletion{c})
	if err != nil {
		return nil, err
	}
	if res[0] == nil {
		return nil, ErrLeaseLost
	}
	return res[0], nil
}

// CompleteAttempts records attempts at deliveries, each claimed with its c.LeaseToken, in one
// transaction and in the order given, as if each were recorded on its own: the attempt rows
// (one multi-row INSERT), each delivery's new state (WHERE id = ? AND lease_token = ?), the
// webhooks' consecutive failures (reset on success, +1 on failure; counted in order and
// written once per webhook) and, at MaxConsecutiveFailures or on c.Deactivate, the webhook
// made INACTIVE with its PENDING deliveries CANCELLED — so a later completion of the same
// webhook in the batch finds its delivery cancelled. A delivery cancelled while its attempt
// was in flight keeps its state; the attempt is still logged. results[i] is nil when
// completion i lost its lease (its delivery was claimed again under another token): nothing of
// it is stored and it does not count. Nothing is stored when an error is returned; the leases
// then expire and the deliveries are tried again. On PostgreSQL the transaction commits without
// waiting for the WAL flush (see openBookkeeping). Errors: INTERNAL.
func (s *Store) CompleteAttempts(ctx context.Context, cs []*AttemptCompletion) ([]*CompletionResult, error) {
	hookIDs := make([]string, 0, len(cs))
	var failedIDs []string
	for _, c := range cs {
		a := c.Attempt
		if a.DeliveryID == nil || a.WebhookID == nil {
			return nil, errors.New("complete attempts: an attempt names no delivery or webhook")
		}
		if a.ID == "" {
			a.ID = newID()
		}
		if !slices.Contains(hookIDs, *a.WebhookID) {
			hookIDs = append(hookIDs, *a.WebhookID)
		}
		if a.Outcome != AttemptSucceeded && !slices.Contains(failedIDs, *a.WebhookID) {
			failedIDs = append(failedIDs, *a.WebhookID)
		}
	}
	results := make([]*CompletionResult, len(cs))
	var logged []*Attempt
	var cancelled int64
	var changes []string
	err := s.bk.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		clear(results)
		logged = logged[:0]
		cancelled = 0
		changes = changes[:0]
		now := s.now()
		// Lock the webhooks whose counter changes (a failure, or a success resetting a non-zero
		// count) before any delivery, in the order fan-out locks them (created_at, id): every
		// transaction that locks several webhooks does so in this order, so none deadlock.
		// A success on a webhook at zero changes nothing and locks nothing.
		type hookState struct {
			id       string
			status   string
			failures int
			changed  bool
		}
		pick := tx.Model(&Webhook{}).Select("id", "status", "consecutive_failures").Where("id IN ?", hookIDs)
		if len(failedIDs) > 0 {
			pick = pick.Where("id IN ? OR consecutive_failures <> 0", failedIDs)
		} else {
			pick = pick.Where("consecutive_failures <> 0")
		}
		if s.dialect == DialectPostgres {
			pick = pick.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
		}
		var rows []Webhook
		if err := pick.Order("created_at, id").Find(&rows).Error; err != nil {
			return fmt.Errorf("lock webhooks: %w", err)
		}
		hooks := make(map[string]*hookState, len(rows))
		order := make([]*hookState, 0, len(rows))
		for _, h := range rows {
			st := &hookState{id: h.ID, status: h.Status, failures: h.ConsecutiveFailures}
			hooks[h.ID] = st
			order = append(order, st)
		}

		// When no completion of the batch can deactivate its webhook, every delivery's new
		// state is known up front and one statement updates them all; otherwise each is
		// updated in turn, so that a deactivation cancels the deliveries completed after it.
		var updated map[string]bool
		if !mayDeactivate(cs, func(id string) (string, int, bool) {
			st, ok := hooks[id]
			if !ok {
				return "", 0, false
			}
			return st.status, st.failures, true
		}) {
			var err error
			if updated, err = s.updateDeliveries(tx, cs, now); err != nil {
				return err
			}
		}

		for i, c := range cs {
			a := c.Attempt
			res := &CompletionResult{Status: c.Status}
			failed := a.Outcome != AttemptSucceeded
			// st is nil for a webhook at zero failures with a success (nothing changes) and
			// for a webhook deleted meanwhile (its deliveries went with it: lease lost below).
			st := hooks[*a.WebhookID]
			failures := 0
			if st != nil && failed {
				failures = st.failures + 1
			}
			res.ConsecutiveFailures = failures
			active := st != nil && st.status == WebhookActive
			reason := c.Deactivate
			if reason == "" && failed && active && failures >= MaxConsecutiveFailures {
				reason = fmt.Sprintf("%d consecutive failed attempts", failures)
			}
			deactivate := reason != "" && active
			if deactivate && c.Status == DeliveryPending {
				res.Status = DeliveryCancelled
			}

			done := updated[*a.DeliveryID]
			if updated == nil {
				next := c.NextAttemptAt
				if res.Status != DeliveryPending {
					next = nil
				}
				upd := tx.Model(&Delivery{}).
					Where("id = ? AND lease_token = ? AND status = ?", *a.DeliveryID, c.LeaseToken, DeliveryPending).
					Updates(map[string]any{
						"status":           res.Status,
						"next_attempt_at":  next,
						"lease_token":      nil,
						"lease_expires_at": nil,
						"last_error":       a.Error,
						"updated_at":       now,
					})
				if upd.Error != nil {
					return fmt.Errorf("update delivery: %w", upd.Error)
				}
				done = upd.RowsAffected > 0
			}
			if !done {
				var d Delivery
				err := tx.Select("status").Where("id = ? AND lease_token = ?", *a.DeliveryID, c.LeaseToken).Take(&d).Error
				if errors.Is(err, gorm.ErrRecordNotFound) {
					continue // lease lost: the other worker's attempt counts
				}
				if err != nil {
					return fmt.Errorf("read delivery: %w", err)
				}
				// Cancelled while in flight: log the attempt, leave the rest as it is.
				res.Status, deactivate = d.Status, false
			}
			if st != nil {
				st.failures, st.changed = failures, true
			}
			if res.Status != DeliveryPending {
				a.NextRetryAt = nil // no retry: the delivery was cancelled
			}
			logged = append(logged, a)
			if deactivate {
				if res.Status == DeliveryCancelled {
					cancelled++
				}
				n, changeID, err := deactivateWebhookTx(tx, *a.WebhookID, reason, now)
				if err != nil {
					return err
				}
				cancelled += n
				if changeID != "" {
					changes = append(changes, changeID)
				}
				st.status = WebhookInactive
				res.Deactivated, res.Reason = true, reason
			}
			results[i] = res
		}

		for _, st := range order {
			if !st.changed {
				continue
			}
			err := tx.Model(&Webhook{}).Where("id = ?", st.id).Update("consecutive_failures", st.failures).Error
			if err != nil {
				return fmt.Errorf("count failures: %w", err)
			}
		}
		if len(logged) > 0 {
			if err := tx.Create(&logged).Error; err != nil {
				return fmt.Errorf("insert attempts: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("complete attempts: %w", err)
	}
	ids := make([]string, len(logged))
	for i, a := range logged {
		ids[i] = a.ID
	}
	s.announceAttempts(ids...)
	s.announceStatusChanges(changes...)
	s.countCancelled(cancelled)
	return results, nil
}

// mayDeactivate reports whether a completion of cs can make its webhook INACTIVE: one asks to
// (410 Gone), or an ACTIVE webhook's count plus all its failures in cs reaches
// MaxConsecutiveFailures. hook returns a locked webhook's status and count; webhooks it does
// not know are at zero failures with only successes in cs, or gone.
func mayDeactivate(cs []*AttemptCompletion, hook func(id string) (status string, failures int, ok bool)) bool {
	failures := map[string]int{}
	for _, c := range cs {
		if c.Deactivate != "" {
			return true
		}
		if c.Attempt.Outcome != AttemptSucceeded {
			failures[*c.Attempt.WebhookID]++
		}
	}
	for id, n := range failures {
		if status, count, ok := hook(id); ok && status == WebhookActive && count+n >= MaxConsecutiveFailures {
			return true
		}
	}
	return false
}

// updateDeliveries gives every delivery of cs its new state in one statement (WHERE id = ? AND
// lease_token = ? AND status = PENDING, row by row) and returns the ids it updated; the others
// lost their lease or were cancelled meanwhile.
func (s *Store) updateDeliveries(tx *gorm.DB, cs []*AttemptCompletion, now time.Time) (map[string]bool, error) {
	// PostgreSQL types the VALUES columns from their first row; SQLite has no timestamptz.
	first, row := "(?, ?, ?, ?, ?)", "(?, ?, ?, ?, ?)"
	if s.dialect == DialectPostgres {
		first = "(?::text, ?::text, ?::text, ?::timestamptz, ?::text)"
	}
	var q strings.Builder
	args := make([]any, 0, 5*len(cs)+2)
	q.WriteString("UPDATE deliveries AS d SET status = v.column3, next_attempt_at = v.column4, last_error = v.column5, " +
		"lease_token = NULL, lease_expires_at = NULL, updated_at = ? FROM (VALUES ")
	args = append(args, now)
	for i, c := range cs {
		if i == 0 {
			q.WriteString(first)
		} else {
			q.WriteString(", " + row)
		}
		args = append(args, *c.Attempt.DeliveryID, c.LeaseToken, c.Status, c.NextAttemptAt, c.Attempt.Error)
	}
	q.WriteString(") AS v WHERE d.id = v.column1 AND d.lease_token = v.column2 AND d.status = ? RETURNING id")
	args = append(args, DeliveryPending)
	rows, err := tx.Raw(q.String(), args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("update deliveries: %w", err)
	}
	defer rows.Close()
	updated := make(map[string]bool, len(cs))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("update deliveries: %w", err)
		}
		updated[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("update deliveries: %w", err)
	}
	return updated, nil
}

// deactivateWebhookTx makes the webhook INACTIVE with reason, records the change (by no
// actor) and cancels its PENDING deliveries, inside tx; it returns how many it cancelled and
// the change's id ("" when the webhook was no longer ACTIVE).
func deactivateWebhookTx(tx *gorm.DB, webhookID, reason string, now time.Time) (int64, string, error) {
	upd := tx.Model(&Webhook{}).Where("id = ? AND status = ?", webhookID, WebhookActive).
		Updates(map[string]any{"status": WebhookInactive, "inactive_reason": reason, "updated_at": now})
	if upd.Error != nil {
		return 0, "", fmt.Errorf("deactivate webhook: %w", upd.Error)
	}
	var changeID string
	if upd.RowsAffected > 0 {
		var err error
		if changeID, err = recordStatusChangeTx(tx, webhookID, WebhookInactive, &reason, nil, now); err != nil {
			return 0, "", err
		}
	}
	n, err := cancelPendingTx(tx, webhookID, now)
	return n, changeID, err
}

// cancelPendingTx makes the webhook's PENDING deliveries CANCELLED, inside tx, and returns how
// many there were.
func cancelPendingTx(tx *gorm.DB, webhookID string, now time.Time) (int64, error) {
	upd := tx.Model(&Delivery{}).Where("webhook_id = ? AND status = ?", webhookID, DeliveryPending).
		Updates(map[string]any{"status": DeliveryCancelled, "next_attempt_at": nil, "updated_at": now})
	if upd.Error != nil {
		return 0, fmt.Errorf("cancel pending deliveries: %w", upd.Error)
	}
	return upd.RowsAffected, nil
}

// AbandonAttempt records an attempt at a delivery claimed with owner that was cut short because
// the worker stopped (its request may have reached the receiver, so it is logged): the attempt
// row, and the delivery's lease given back with the delivery due at once (a delivery
// cancelled meanwhile stays cancelled; its attempt is logged all the same). The attempt uses up
// no retry (RetryBase moves on with Attempts) and does not count as a failure of the webhook.
// Errors: ErrLeaseLost (nothing stored), INTERNAL.
func (s *Store) AbandonAttempt(ctx context.Context, owner string, a *Attempt) error {
	if a.DeliveryID == nil {
		return errors.New("abandon attempt: the attempt names no delivery")
	}
	if a.ID == "" {
		a.ID = newID()
	}
	err := s.bk.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.now()
		upd := tx.Model(&Delivery{}).
			Where("id = ? AND lease_token = ? AND status = ?", *a.DeliveryID, owner, DeliveryPending).
			Updates(map[string]any{
				"next_attempt_at": now, "lease_token": nil, "lease_expires_at": nil,
				"retry_base": gorm.Expr("retry_base + 1"), "last_error": a.Error, "updated_at": now,
			})
		if upd.Error != nil {
			return fmt.Errorf("abandon attempt: %w", upd.Error)
		}
		if upd.RowsAffected == 0 {
			// Cancelled while in flight (its lease kept, as CompleteAttempts finds it): the
			// attempt is still logged. Any other miss means the lease was lost.
			var n int64
			if err := tx.Model(&Delivery{}).Where("id = ? AND lease_token = ? AND status = ?", *a.DeliveryID, owner, DeliveryCancelled).Count(&n).Error; err != nil {
				return fmt.Errorf("abandon attempt: %w", err)
			}
			if n == 0 {
				return ErrLeaseLost
			}
		}
		if err := tx.Create(a).Error; err != nil {
			return fmt.Errorf("abandon attempt: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.announceAttempts(a.ID)
	s.announceDeliveries()
	return nil
}

// CreateTestAttempt stores the attempt of a test send (Test is forced true); it counts towards
// nothing. Errors: INTERNAL.
func (s *Store) CreateTestAttempt(ctx context.Context, a *Attempt) error {
	if a.ID == "" {
		a.ID = newID()
	}
	a.Test = true
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(a).Error; err != nil {
			return fmt.Errorf("create test attempt: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.announceAttempts(a.ID)
	return nil
}
