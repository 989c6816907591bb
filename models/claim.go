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
	now := s.now()
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

// CancelClaimedDelivery ends a claimed delivery whose webhook is no longer ACTIVE (or gone) as
// CANCELLED, without an attempt. Errors: ErrLeaseLost, INTERNAL.
func (s *Store) CancelClaimedDelivery(ctx context.Context, id, owner string) error {
	upd := s.bk.WithContext(ctx).Model(&Delivery{}).
		Where("id = ? AND lease_token = ? AND status = ?", id, owner, DeliveryPending).
		Updates(map[string]any{
			"status": DeliveryCancelled, "next_attempt_at": nil, "lease_token": nil,
			"lease_expires_at": nil, "attempts": gorm.Expr("attempts - 1"), "updated_at": s.now(),
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
		now := s.now()
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

// Kinds of failure e-mail: each has its own slot of one e-mail per webhook per interval, so
// that a failed delivery's e-mail never silences the deactivation that follows it.
const (
	// NoticeFailed: a delivery finally failed (the slot is last_notified_at).
	NoticeFailed = "failed"
	// NoticeDeactivated: the webhook was deactivated (last_deactivation_notified_at).
	NoticeDeactivated = "deactivated"
)

// noticeColumns are the webhook columns holding each kind's last reservation.
var noticeColumns = map[string]string{NoticeFailed: "last_notified_at", NoticeDeactivated: "last_deactivation_notified_at"}

// FailureNotification is the right to send one failure e-mail of a webhook, reserved by
// ClaimFailureNotification.
type FailureNotification struct {
	webhookID, column string
	// at is the time the reservation set, previous the one it replaced.
	at       time.Time
	previous *time.Time
}

// ClaimFailureNotification reserves the right to send a failure e-mail of kind (NoticeFailed
// or NoticeDeactivated) for the webhook: when none of that kind was sent within interval it
// records now as the kind's last one and returns the reservation, otherwise (or when the
// webhook is gone) nil. The webhook's row is locked while it is read and set, so that workers
// in several processes agree. The times are bookkeeping, not an edit: updated_at stays.
// Errors: INTERNAL.
func (s *Store) ClaimFailureNotification(ctx context.Context, webhookID, kind string, interval time.Duration) (*FailureNotification, error) {
	column, ok := noticeColumns[kind]
	if !ok {
		return nil, fmt.Errorf("claim failure notification: unknown kind %q", kind)
	}
	now := s.now()
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
		if kind == NoticeDeactivated {
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
	err := db.Select("next_attempt_at").Where("status = ? AND next_attempt_at <= ?", DeliveryPending, s.now()).
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

// DeleteExpiredLogs deletes, batch rows at a time, attempts started before cutoff and finished
// deliveries last changed before it (their attempts go with them), and returns how many rows
// went. Errors: INTERNAL.
func (s *Store) DeleteExpiredLogs(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var total int64
	for {
		n, err := s.deleteBatch(ctx, &Attempt{}, s.db.Model(&Attempt{}).Select("id").
			Where("started_at < ?", cutoff).Limit(batch))
		total += n
		if err != nil {
			return total, fmt.Errorf("delete expired attempts: %w", err)
		}
		if n < int64(batch) {
			break
		}
	}
	for {
		pick := s.db.Model(&Delivery{}).Select("id").
			Where("status IN ? AND updated_at < ?", []string{DeliverySucceeded, DeliveryFailed, DeliveryCancelled}, cutoff).
			Limit(batch)
		if _, err := s.deleteBatch(ctx, &Attempt{}, s.db.Model(&Attempt{}).Select("id").Where("delivery_id IN (?)", pick)); err != nil {
			return total, fmt.Errorf("delete expired deliveries: %w", err)
		}
		n, err := s.deleteBatch(ctx, &Delivery{}, pick)
		total += n
		if err != nil {
			return total, fmt.Errorf("delete expired deliveries: %w", err)
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

func (s *Store) deleteBatch(ctx context.Context, model any, ids *gorm.DB) (int64, error) {
	res := s.db.WithContext(ctx).Where("id IN (?)", ids).Delete(model)
	return res.RowsAffected, res.Error
}
