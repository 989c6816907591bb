package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald-hq/herald/models/webhook/outcome"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AttemptCompletion is the outcome of one attempt at a claimed delivery.
type AttemptCompletion struct {
	// LeaseToken is the token the delivery was claimed with.
	LeaseToken string
	// Attempt is the log row to insert; its DeliveryID and WebhookID are set.
	Attempt *Attempt
	// Decision is what the outcome policy (outcome.Policy.Decide) said follows the attempt,
	// before the webhook's standing: CompleteAttempts completes it with Given.
	Decision outcome.Decision
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
	// Notice is the failure e-mail the attempt calls for (none for a delivery cancelled while
	// the attempt was in flight).
	Notice outcome.Notice
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
// webhooks' consecutive failures (counted in order and written once per webhook) and, when the
// outcome policy says so (outcome.Decision.Given with the webhook's locked count), the webhook
// made INACTIVE with its PENDING deliveries CANCELLED — so a later completion of the same
// webhook in the batch finds its delivery cancelled. A delivery cancelled while its attempt
// was in flight keeps its state; the attempt is still logged. results[i] is nil when
// completion i lost its lease (its delivery was claimed again under another token): nothing of
// it is stored and it does not count. Nothing is stored when an error is returned; the leases
// then expire and the deliveries are tried again. On PostgreSQL the transaction commits without
// waiting for the WAL flush (see openBookkeeping). Errors: INTERNAL.
func (s *Store) CompleteAttempts(ctx context.Context, cs []*AttemptCompletion) ([]*CompletionResult, error) {
	hookIDs, failedIDs, err := completionWebhooks(cs)
	if err != nil {
		return nil, err
	}
	results := make([]*CompletionResult, len(cs))
	var b completionBatch
	err = s.bk.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		clear(results)
		b = completionBatch{now: s.Now()}
		hooks, order, err := s.lockCompletionWebhooks(tx, hookIDs, failedIDs)
		if err != nil {
			return err
		}
		// When no completion of the batch can deactivate its webhook, every delivery's new
		// state is known up front and one statement updates them all; otherwise each is
		// updated in turn, so that a deactivation cancels the deliveries completed after it.
		var updated map[string]bool
		if !mayDeactivate(cs, hooks) {
			if updated, err = s.updateDeliveries(tx, cs, b.now); err != nil {
				return err
			}
		}
		for i, c := range cs {
			if results[i], err = b.apply(tx, c, hooks[*c.Attempt.WebhookID], updated); err != nil {
				return err
			}
		}
		return b.write(tx, order)
	})
	if err != nil {
		return nil, fmt.Errorf("complete attempts: %w", err)
	}
	ids := make([]string, len(b.logged))
	for i, a := range b.logged {
		ids[i] = a.ID
	}
	s.announceAttempts(ids...)
	s.announceStatusChanges(b.changes...)
	s.countCancelled(b.cancelled)
	return results, nil
}

// completionWebhooks checks that every attempt of cs names its delivery and webhook, gives
// the attempts their ids, and returns the webhooks of cs and those with a failure in cs.
func completionWebhooks(cs []*AttemptCompletion) (hookIDs, failedIDs []string, err error) {
	hookIDs = make([]string, 0, len(cs))
	for _, c := range cs {
		a := c.Attempt
		if a.DeliveryID == nil || a.WebhookID == nil {
			return nil, nil, errors.New("complete attempts: an attempt names no delivery or webhook")
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
	return hookIDs, failedIDs, nil
}

// hookStanding is a webhook's standing while a batch of completions is recorded.
type hookStanding struct {
	id       string
	status   string
	failures int
	changed  bool
}

// lockCompletionWebhooks locks the webhooks whose counter changes (a failure, or a success
// resetting a non-zero count) before any delivery, in the order fan-out locks them
// (created_at, id): every transaction that locks several webhooks does so in this order, so
// none deadlock. A success on a webhook at zero changes nothing and locks nothing. It returns
// their standing by id and in lock order.
func (s *Store) lockCompletionWebhooks(tx *gorm.DB, hookIDs, failedIDs []string) (map[string]*hookStanding, []*hookStanding, error) {
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
		return nil, nil, fmt.Errorf("lock webhooks: %w", err)
	}
	hooks := make(map[string]*hookStanding, len(rows))
	order := make([]*hookStanding, 0, len(rows))
	for _, h := range rows {
		st := &hookStanding{id: h.ID, status: h.Status, failures: h.ConsecutiveFailures}
		hooks[h.ID] = st
		order = append(order, st)
	}
	return hooks, order, nil
}

// completionBatch is what a transaction of CompleteAttempts has done so far.
type completionBatch struct {
	now       time.Time
	logged    []*Attempt
	cancelled int64
	changes   []string
}

// apply records completion c against its webhook's standing st (nil for a webhook at zero
// failures with a success, where nothing changes, and for a webhook deleted meanwhile, whose
// deliveries went with it): the delivery's new state unless updated already has it, the
// webhook's count in st, and the deactivation the policy calls for. It returns nil when the
// lease was lost.
func (b *completionBatch) apply(tx *gorm.DB, c *AttemptCompletion, st *hookStanding, updated map[string]bool) (*CompletionResult, error) {
	a := c.Attempt
	dec := c.Decision
	if st != nil {
		dec = dec.Given(st.failures, st.status == WebhookActive)
	} else {
		dec = dec.Given(0, false)
	}
	res := &CompletionResult{Status: deliveryStatus(dec.Verdict), ConsecutiveFailures: dec.Failures, Notice: dec.Notice}
	deactivate := dec.Deactivate != ""
	done := updated[*a.DeliveryID]
	if updated == nil {
		upd := tx.Model(&Delivery{}).
			Where("id = ? AND lease_token = ? AND status = ?", *a.DeliveryID, c.LeaseToken, DeliveryPending).
			Updates(map[string]any{
				"status":           res.Status,
				"next_attempt_at":  retryAt(dec),
				"lease_token":      nil,
				"lease_expires_at": nil,
				"last_error":       a.Error,
				"updated_at":       b.now,
			})
		if upd.Error != nil {
			return nil, fmt.Errorf("update delivery: %w", upd.Error)
		}
		done = upd.RowsAffected > 0
	}
	if !done {
		var d Delivery
		err := tx.Select("status").Where("id = ? AND lease_token = ?", *a.DeliveryID, c.LeaseToken).Take(&d).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil // lease lost: the other worker's attempt counts
		}
		if err != nil {
			return nil, fmt.Errorf("read delivery: %w", err)
		}
		// Cancelled while in flight: log the attempt, leave the rest as it is.
		res.Status, res.Notice, deactivate = d.Status, outcome.NoticeNone, false
	}
	if st != nil {
		st.failures, st.changed = dec.Failures, true
	}
	a.NextRetryAt = nil // no retry: the delivery is over or was cancelled
	if res.Status == DeliveryPending {
		a.NextRetryAt = retryAt(dec)
	}
	b.logged = append(b.logged, a)
	if deactivate {
		if res.Status == DeliveryCancelled {
			b.cancelled++
		}
		n, changeID, err := deactivateWebhookTx(tx, *a.WebhookID, dec.Deactivate, b.now)
		if err != nil {
			return nil, err
		}
		b.cancelled += n
		if changeID != "" {
			b.changes = append(b.changes, changeID)
		}
		st.status = WebhookInactive
		res.Deactivated, res.Reason = true, dec.Deactivate
	}
	return res, nil
}

// write stores the webhooks' new counts and the logged attempts.
func (b *completionBatch) write(tx *gorm.DB, order []*hookStanding) error {
	for _, st := range order {
		if !st.changed {
			continue
		}
		err := tx.Model(&Webhook{}).Where("id = ?", st.id).Update("consecutive_failures", st.failures).Error
		if err != nil {
			return fmt.Errorf("count failures: %w", err)
		}
	}
	if len(b.logged) > 0 {
		if err := tx.Create(&b.logged).Error; err != nil {
			return fmt.Errorf("insert attempts: %w", err)
		}
	}
	return nil
}

// deliveryStatus is the delivery state of a policy verdict.
func deliveryStatus(v outcome.Verdict) string {
	switch v {
	case outcome.Delivered:
		return DeliverySucceeded
	case outcome.Retry:
		return DeliveryPending
	case outcome.Cancelled:
		return DeliveryCancelled
	}
	return DeliveryFailed
}

// retryAt is when a delivery the policy retries is due again, nil for any other verdict.
func retryAt(d outcome.Decision) *time.Time {
	if d.Verdict != outcome.Retry {
		return nil
	}
	return &d.RetryAt
}

// mayDeactivate reports whether a completion of cs can make its webhook INACTIVE, counting
// every failure in cs as landed (a lost lease or a success in between only lowers the count).
// Webhooks hooks does not hold are at zero failures with only successes in cs, or gone.
func mayDeactivate(cs []*AttemptCompletion, hooks map[string]*hookStanding) bool {
	failures := map[string]int{}
	for _, c := range cs {
		if c.Decision.Deactivate != "" {
			return true
		}
		id := *c.Attempt.WebhookID
		st, ok := hooks[id]
		if c.Attempt.Outcome == AttemptSucceeded || !ok {
			continue
		}
		if c.Decision.Given(st.failures+failures[id], st.status == WebhookActive).Deactivate != "" {
			return true
		}
		failures[id]++
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
		args = append(args, *c.Attempt.DeliveryID, c.LeaseToken, deliveryStatus(c.Decision.Verdict), retryAt(c.Decision), c.Attempt.Error)
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
		now := s.Now()
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
