package models

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/sign"
)

// PreviousSecretLifetime is how long a rotated-out signing secret keeps signing.
const PreviousSecretLifetime = 24 * time.Hour

// MaxPreviousSecrets bounds the rotated-out secrets that keep signing, so that a loop of
// rotations cannot grow the webhook-signature header without limit: a rotation beyond it
// drops the oldest early.
const MaxPreviousSecrets = 5

// RetiredSecret is a sealed signing secret that a rotation replaced; it signs until ExpiresAt.
type RetiredSecret struct {
	Sealed    []byte    `json:"sealed"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Nullable is a patch field that can also clear its value: Set says the patch touches the
// field, and a nil Value then clears it.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// WebhookPatch changes a webhook. A nil field keeps the stored value; a non-nil empty slice
// clears a list. Auth of the stored type keeps every credential left empty; auth of another
// type replaces the stored one entirely. Signing replaces the signing settings.
type WebhookPatch struct {
	Name                     *string
	Description              Nullable[string]
	Events                   []string
	URLs                     []string
	Method                   *string
	Auth                     *webhook.Auth
	Headers                  []webhook.KV
	Signing                  *webhook.Signing
	SendDataUsing            *string
	ContentType              *string
	BodyTemplate             Nullable[string]
	QueryParams              []webhook.KV
	ExtraFields              []webhook.KV
	RetryCount               *int
	RetryIntervalMinutes     *int
	TimeoutSeconds           *int
	FailureNotificationEmail Nullable[string]
	Filter                   Nullable[webhook.Filter]
}

// WebhookFilter selects webhooks for ListWebhooks. Nil fields do not filter. TeamID matches
// the team of TEAM webhooks and of SERVICE webhooks of the team's services. VisibleTeams,
// when not nil, keeps only TEAM and SERVICE webhooks of those teams; GLOBAL webhooks are
// listed only with IncludeGlobal.
type WebhookFilter struct {
	Scope         *string
	TeamID        *string
	ServiceID     *string
	Status        *string
	VisibleTeams  []string
	IncludeGlobal bool
}

// ValidateWebhookSpec checks a specification completely, the scope target's existence
// included, without saving anything: VALIDATION naming the field. For a SERVICE webhook it
// sets TeamID to the service's team.
func (s *Store) ValidateWebhookSpec(ctx context.Context, spec *webhook.Spec) error {
	if err := webhook.Validate(spec); err != nil {
		return invalidInput(err)
	}
	if err := s.checkTargets(spec, nil); err != nil {
		return err
	}
	return resolveWebhookScope(s.db.WithContext(ctx), spec)
}

// checkTargets refuses a URL of spec that is not in kept (the URLs already saved) and whose host
// Options.CheckTargetHost refuses (the egress guard refuses, before any lookup, localhost and
// loopback, private or link-local literals): VALIDATION on that URL, with the check's
// explanation. Other names are checked when they are connected to.
func (s *Store) checkTargets(spec *webhook.Spec, kept []string) error {
	if s.checkTargetHost == nil {
		return nil
	}
	for i, raw := range spec.URLs {
		if slices.Contains(kept, raw) {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue // webhook.Validate has refused it already
		}
		if err := s.checkTargetHost(u.Hostname()); err != nil {
			return Invalid(fmt.Sprintf("urls[%d]", i), "%s", err)
		}
	}
	return nil
}

// resolveWebhookScope checks that the scope target exists and gives a SERVICE webhook the
// team of its service: VALIDATION otherwise.
func resolveWebhookScope(db *gorm.DB, spec *webhook.Spec) error {
	switch spec.Scope {
	case webhook.ScopeTeam:
		var n int64
		if err := db.Model(&Team{}).Where("id = ?", *spec.TeamID).Count(&n).Error; err != nil {
			return fmt.Errorf("find webhook team: %w", err)
		}
		if n == 0 {
			return Invalid("teamId", "team not found")
		}
	case webhook.ScopeService:
		var sv Service
		err := db.First(&sv, "id = ?", *spec.ServiceID).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Invalid("serviceId", "service not found")
		}
		if err != nil {
			return fmt.Errorf("find webhook service: %w", err)
		}
		if spec.TeamID != nil && *spec.TeamID != sv.TeamID {
			return Invalid("teamId", "the service belongs to another team")
		}
		spec.TeamID = &sv.TeamID
	}
	return nil
}

// CreateWebhook validates (webhook.Validate, webhook.ValidateJSONBody) and saves a new ACTIVE webhook and returns it with its signing
// secret ("" for signing NONE), which is shown once. VALIDATION names the field at fault;
// LIMIT_EXCEEDED when the scope target already has MaxWebhooksPerTarget webhooks.
func (s *Store) CreateWebhook(ctx context.Context, spec webhook.Spec) (*Webhook, webhook.Secret, error) {
	if err := webhook.Validate(&spec); err != nil {
		return nil, "", invalidInput(err)
	}
	if err := s.checkTargets(&spec, nil); err != nil {
		return nil, "", err
	}
	if err := webhook.ValidateJSONBody(&spec); err != nil {
		return nil, "", invalidInput(err)
	}
	secret, err := generateSigningSecret(spec.Signing.Scheme)
	if err != nil {
		return nil, "", err
	}
	w := &Webhook{ID: newID(), Scope: spec.Scope, Status: WebhookActive, Revision: 1}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := resolveWebhookScope(tx, &spec); err != nil {
			return err
		}
		if err := s.checkWebhookLimit(tx, &spec); err != nil {
			return err
		}
		if err := s.fillWebhook(w, &spec); err != nil {
			return err
		}
		if w.SigningSecret, err = s.cipher.Seal(secret); err != nil {
			return err
		}
		if err := tx.Omit(clause.Associations).Create(w).Error; err != nil {
			return fmt.Errorf("create webhook: %w", translate(err, "webhook"))
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return w, secret, nil
}

// DraftWebhook validates an unsaved specification (for testWebhook) and returns it as a
// webhook row that is not stored, with what Format sends it by: its credentials in plaintext
// and a throwaway signing secret (none for NONE). Errors: VALIDATION naming the field, INTERNAL.
func (s *Store) DraftWebhook(ctx context.Context, spec webhook.Spec) (*Webhook, *webhook.Sendable, error) {
	if err := s.ValidateWebhookSpec(ctx, &spec); err != nil {
		return nil, nil, err
	}
	if err := webhook.ValidateJSONBody(&spec); err != nil {
		return nil, nil, invalidInput(err)
	}
	signing, err := generateSigningSecret(spec.Signing.Scheme)
	if err != nil {
		return nil, nil, err
	}
	w := &Webhook{Scope: spec.Scope, Status: WebhookActive}
	if err := s.fillWebhook(w, &spec); err != nil {
		return nil, nil, err
	}
	draft := &webhook.Sendable{Spec: spec}
	if signing != "" {
		draft.SigningSecrets = []webhook.Secret{signing}
	}
	return w, draft, nil
}

// checkWebhookLimit refuses a webhook beyond MaxWebhooksPerTarget of its scope target with
// LIMIT_EXCEEDED. On PostgreSQL a transaction-scoped advisory lock on the target keeps
// concurrent creates from both passing; SQLite transactions are serialized already.
func (s *Store) checkWebhookLimit(tx *gorm.DB, spec *webhook.Spec) error {
	q := tx.Model(&Webhook{}).Where("scope = ?", spec.Scope)
	target := "global"
	switch spec.Scope {
	case webhook.ScopeTeam:
		target = "team " + *spec.TeamID
		q = q.Where("team_id = ?", *spec.TeamID)
	case webhook.ScopeService:
		target = "service " + *spec.ServiceID
		q = q.Where("service_id = ?", *spec.ServiceID)
	}
	if s.dialect == DialectPostgres {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", "herald webhook limit "+target).Error; err != nil {
			return fmt.Errorf("lock webhook scope: %w", err)
		}
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return fmt.Errorf("count webhooks: %w", err)
	}
	if n >= webhook.MaxWebhooksPerTarget {
		return Errorf(CodeLimitExceeded, "at most %d webhooks per %s are allowed", webhook.MaxWebhooksPerTarget, describeTarget(spec.Scope))
	}
	return nil
}

func describeTarget(scope string) string {
	switch scope {
	case webhook.ScopeTeam:
		return "team"
	case webhook.ScopeService:
		return "service"
	}
	return "global scope"
}

// UpdateWebhook applies a patch, validates the whole result and saves it with a new Revision;
// when the patch changes what the body renders to (template, content type, send mode, events)
// the JSON body is checked too (ValidateJSONBody).
// It returns the webhook and, when a change of signing scheme needed a new secret, that
// secret (else ""). NOT_FOUND for an unknown id; VALIDATION naming the field, also when the
// auth type changes without the new type's credentials.
func (s *Store) UpdateWebhook(ctx context.Context, id string, patch WebhookPatch) (*Webhook, webhook.Secret, error) {
	var w *Webhook
	var secret webhook.Secret
	var cancelled int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if w, err = s.lockWebhook(tx, id); err != nil {
			return err
		}
		spec, err := s.specOf(w)
		if err != nil {
			return err
		}
		oldScheme, oldURLs := spec.Signing.Scheme, spec.URLs
		oldBody := bodyOf(spec)
		patch.apply(&spec)
		if err := webhook.Validate(&spec); err != nil {
			return invalidInput(err)
		}
		if err := s.checkTargets(&spec, oldURLs); err != nil {
			return err
		}
		// A stored template is checked again only when what it renders to changes: one saved
		// before the JSON check keeps working until then.
		if !bodyOf(spec).equal(oldBody) {
			if err := webhook.ValidateJSONBody(&spec); err != nil {
				return invalidInput(err)
			}
		}
		if spec.Signing.Scheme != oldScheme {
			if secret, err = s.resetSigningSecret(w, spec.Signing.Scheme); err != nil {
				return err
			}
		}
		if err := s.fillWebhook(w, &spec); err != nil {
			return err
		}
		w.Revision++
		if err := tx.Omit(clause.Associations).Save(w).Error; err != nil {
			return fmt.Errorf("update webhook: %w", translate(err, "webhook"))
		}
		cancelled, err = cancelRemovedURLs(tx, w.ID, oldURLs, spec.URLs, s.Now())
		return err
	})
	if err != nil {
		return nil, "", err
	}
	s.countCancelled(cancelled)
	return w, secret, nil
}

// bodySettings are the settings of a webhook that decide what its body renders to.
type bodySettings struct {
	template, contentType, sendDataUsing string
	events                               []string
}

func bodyOf(spec webhook.Spec) bodySettings {
	b := bodySettings{contentType: spec.ContentType, sendDataUsing: spec.SendDataUsing, events: slices.Clone(spec.Events)}
	if spec.BodyTemplate != nil {
		b.template = *spec.BodyTemplate
	}
	return b
}

func (b bodySettings) equal(o bodySettings) bool {
	return b.template == o.template && b.contentType == o.contentType && b.sendDataUsing == o.sendDataUsing && slices.Equal(b.events, o.events)
}

// cancelRemovedURLs cancels, inside tx, the PENDING deliveries of the URLs an update removed
// from the webhook: nothing more is sent where the operator no longer wants it. Their leases
// stay, so that an attempt in flight is still logged when it completes (as for a
// deactivation); their past attempts stay as they were. It returns how many it cancelled.
func cancelRemovedURLs(tx *gorm.DB, webhookID string, before, after []string, now time.Time) (int64, error) {
	var cancelled int64
	for _, u := range before {
		if slices.Contains(after, u) {
			continue
		}
		upd := tx.Model(&Delivery{}).Where("webhook_id = ? AND url = ? AND status = ?", webhookID, u, DeliveryPending).
			Updates(map[string]any{
				"status": DeliveryCancelled, "next_attempt_at": nil,
				"last_error": "its URL was removed from the webhook", "updated_at": now,
			})
		if upd.Error != nil {
			return 0, fmt.Errorf("update webhook: cancel deliveries of a removed URL: %w", upd.Error)
		}
		cancelled += upd.RowsAffected
	}
	return cancelled, nil
}

// resetSigningSecret adapts the stored secrets to a new scheme: a current secret that suits
// the new scheme stays; otherwise a new one is generated and returned. Retired secrets of
// the old scheme are dropped.
func (s *Store) resetSigningSecret(w *Webhook, scheme string) (webhook.Secret, error) {
	w.PreviousSigningSecret, w.PreviousSecretExpiresAt = nil, nil
	w.OlderSigningSecrets = NewJSON[[]RetiredSecret](nil)
	current, err := s.cipher.Open(w.SigningSecret)
	if err != nil {
		return "", err
	}
	if scheme != sign.None && current != "" && sign.ValidateSecret(scheme, current.Reveal()) == nil {
		return "", nil
	}
	secret, err := generateSigningSecret(scheme)
	if err != nil {
		return "", err
	}
	if w.SigningSecret, err = s.cipher.Seal(secret); err != nil {
		return "", err
	}
	return secret, nil
}

// apply merges the patch into spec.
func (p *WebhookPatch) apply(spec *webhook.Spec) {
	setIf(&spec.Name, p.Name)
	setIf(&spec.Method, p.Method)
	setIf(&spec.SendDataUsing, p.SendDataUsing)
	setIf(&spec.ContentType, p.ContentType)
	setIf(&spec.RetryCount, p.RetryCount)
	setIf(&spec.RetryIntervalMinutes, p.RetryIntervalMinutes)
	setIf(&spec.TimeoutSeconds, p.TimeoutSeconds)
	for _, c := range []struct {
		dst *[]string
		src []string
	}{{&spec.Events, p.Events}, {&spec.URLs, p.URLs}} {
		if c.src != nil {
			*c.dst = c.src
		}
	}
	for _, c := range []struct {
		dst *[]webhook.KV
		src []webhook.KV
	}{{&spec.QueryParams, p.QueryParams}, {&spec.ExtraFields, p.ExtraFields}} {
		if c.src != nil {
			*c.dst = c.src
		}
	}
	if p.Headers != nil {
		spec.Headers = keepSecretHeaderValues(p.Headers, spec.Headers)
	}
	for _, c := range []struct {
		dst **string
		src Nullable[string]
	}{{&spec.Description, p.Description}, {&spec.BodyTemplate, p.BodyTemplate}, {&spec.FailureNotificationEmail, p.FailureNotificationEmail}} {
		if c.src.Set {
			*c.dst = c.src.Value
		}
	}
	if p.Filter.Set {
		spec.Filter = p.Filter.Value
	}
	if p.Signing != nil {
		spec.Signing = *p.Signing
	}
	if p.Auth != nil {
		next := *p.Auth
		if next.Type == "" {
			next.Type = webhook.AuthNone
		}
		if next.Type == spec.Auth.Type {
			old := spec.Auth
			setIfEmpty(&next.Username, old.Username)
			setIfEmpty(&next.Password, old.Password)
			setIfEmpty(&next.Key, old.Key)
			setIfEmpty(&next.Value, old.Value)
			setIfEmpty(&next.Placement, old.Placement)
			setIfEmpty(&next.Token, old.Token)
		}
		spec.Auth = next
	}
}

// keepSecretHeaderValues returns next with each secret header given the value "" holding the
// value of the stored header of the same name (in any case), if there is one.
func keepSecretHeaderValues(next, stored []webhook.KV) []webhook.KV {
	out := slices.Clone(next)
	for i, h := range out {
		if h.Value != "" || !(h.Secret || webhook.SecretHeaderName(h.Name)) {
			continue
		}
		if j := slices.IndexFunc(stored, func(o webhook.KV) bool { return strings.EqualFold(o.Name, h.Name) }); j >= 0 {
			out[i].Value = stored[j].Value
		}
	}
	return out
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func setIfEmpty[T ~string](dst *T, old T) {
	if *dst == "" {
		*dst = old
	}
}

// DeleteWebhook removes a webhook with its deliveries and logs: NOT_FOUND for an unknown id.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Delete(&Webhook{}, "id = ?", id)
	if res.Error != nil {
		return fmt.Errorf("delete webhook: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return NotFound("webhook")
	}
	return nil
}

// ActivateWebhook makes a webhook ACTIVE again and resets its consecutive failures and
// inactive reason: NOT_FOUND for an unknown id. actor names who did it; a change of status is
// recorded and announced (StatusHub).
func (s *Store) ActivateWebhook(ctx context.Context, id, actor string) (*Webhook, error) {
	return s.setWebhookStatus(ctx, id, actor, func(tx *gorm.DB, w *Webhook) error {
		w.Status, w.InactiveReason, w.ConsecutiveFailures = WebhookActive, nil, 0
		return nil
	})
}

// DeactivateWebhook makes a webhook INACTIVE with a reason and cancels its PENDING deliveries
// in the same transaction: NOT_FOUND for an unknown id. actor names who did it; a change of
// status is recorded and announced (StatusHub).
func (s *Store) DeactivateWebhook(ctx context.Context, id, reason, actor string) (*Webhook, error) {
	var cancelled int64
	w, err := s.setWebhookStatus(ctx, id, actor, func(tx *gorm.DB, w *Webhook) error {
		w.Status, w.InactiveReason = WebhookInactive, &reason
		var err error
		cancelled, err = cancelPendingTx(tx, id, s.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	s.countCancelled(cancelled)
	return w, nil
}

// setWebhookStatus locks a webhook, lets change alter it and saves it with a new Revision;
// when its status changed, it records the change, by actor, and announces it after commit.
func (s *Store) setWebhookStatus(ctx context.Context, id, actor string, change func(tx *gorm.DB, w *Webhook) error) (*Webhook, error) {
	var w *Webhook
	var changeID string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		changeID = ""
		var err error
		if w, err = s.lockWebhook(tx, id); err != nil {
			return err
		}
		before := w.Status
		if err := change(tx, w); err != nil {
			return err
		}
		w.Revision++
		err = tx.Model(w).Select("status", "inactive_reason", "consecutive_failures", "revision", "updated_at").
			Updates(w).Error
		if err != nil {
			return fmt.Errorf("set webhook status: %w", err)
		}
		if w.Status == before {
			return nil
		}
		changeID, err = recordStatusChangeTx(tx, id, w.Status, w.InactiveReason, &actor, s.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	if changeID != "" {
		s.announceStatusChanges(changeID)
	}
	return w, nil
}

// RotateWebhookSecret gives a webhook a new signing secret and returns it (shown once); the
// old one keeps signing for PreviousSecretLifetime, and secrets retired by earlier rotations
// keep signing until their own lifetime ends, but for the oldest beyond MaxPreviousSecrets.
// They are kept whatever the scheme, yet HMAC_SHA512 and HMAC_SHA256 carry one signature,
// made with the current secret only (sign.Sign). NOT_FOUND for an unknown id; VALIDATION
// when the webhook does not sign.
func (s *Store) RotateWebhookSecret(ctx context.Context, id string) (*Webhook, webhook.Secret, error) {
	var w *Webhook
	var secret webhook.Secret
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if w, err = s.lockWebhook(tx, id); err != nil {
			return err
		}
		if w.SigningScheme == sign.None {
			return Invalid("id", "the webhook does not sign its requests: set a signing scheme first")
		}
		if secret, err = generateSigningSecret(w.SigningScheme); err != nil {
			return err
		}
		sealed, err := s.cipher.Seal(secret)
		if err != nil {
			return err
		}
		now := s.Now()
		older := slices.DeleteFunc(w.retiredSecrets(), func(r RetiredSecret) bool { return !now.Before(r.ExpiresAt) })
		w.OlderSigningSecrets = NewJSON(older[:min(len(older), MaxPreviousSecrets-1)])
		expires := now.Add(PreviousSecretLifetime)
		w.PreviousSigningSecret, w.PreviousSecretExpiresAt = w.SigningSecret, &expires
		w.SigningSecret = sealed
		w.Revision++
		err = tx.Model(w).Select("signing_secret", "previous_signing_secret", "previous_secret_expires_at", "older_signing_secrets", "revision", "updated_at").
			Updates(w).Error
		if err != nil {
			return fmt.Errorf("rotate webhook secret: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return w, secret, nil
}

// FindWebhookByID returns a webhook: NOT_FOUND when there is none.
func (s *Store) FindWebhookByID(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	if err := s.db.WithContext(ctx).First(&w, "id = ?", id).Error; err != nil {
		return nil, translate(err, "webhook")
	}
	return &w, nil
}

// lockWebhook reads a webhook inside tx, locking its row on PostgreSQL (SQLite transactions
// are serialized already): NOT_FOUND when there is none.
func (s *Store) lockWebhook(tx *gorm.DB, id string) (*Webhook, error) {
	if s.dialect == DialectPostgres {
		tx = tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var w Webhook
	if err := tx.First(&w, "id = ?", id).Error; err != nil {
		return nil, translate(err, "webhook")
	}
	return &w, nil
}

// ListWebhooks returns the webhooks the filter selects, oldest first.
func (s *Store) ListWebhooks(ctx context.Context, f WebhookFilter) ([]*Webhook, error) {
	q := s.db.WithContext(ctx).Order("created_at, id")
	if f.Scope != nil {
		q = q.Where("scope = ?", *f.Scope)
	}
	if f.TeamID != nil {
		q = q.Where("team_id = ?", *f.TeamID)
	}
	if f.ServiceID != nil {
		q = q.Where("service_id = ?", *f.ServiceID)
	}
	if f.Status != nil {
		q = q.Where("status = ?", *f.Status)
	}
	switch {
	case f.VisibleTeams != nil && f.IncludeGlobal:
		q = q.Where("(scope = ? OR team_id IN ?)", webhook.ScopeGlobal, nonEmpty(f.VisibleTeams))
	case f.VisibleTeams != nil:
		q = q.Where("scope <> ? AND team_id IN ?", webhook.ScopeGlobal, nonEmpty(f.VisibleTeams))
	case !f.IncludeGlobal:
		q = q.Where("scope <> ?", webhook.ScopeGlobal)
	}
	var out []*Webhook
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return out, nil
}

// WebhookHeaderSecrets opens the values of a webhook's secret headers for sending, by header
// name as stored.
func (s *Store) WebhookHeaderSecrets(w *Webhook) (map[string]webhook.Secret, error) {
	out := map[string]webhook.Secret{}
	for _, h := range w.Headers.V {
		if !h.Secret {
			continue
		}
		v, err := s.cipher.Open(h.Sealed)
		if err != nil {
			return nil, fmt.Errorf("webhook %s header %s: %w", w.ID, h.Name, err)
		}
		out[h.Name] = v
	}
	return out, nil
}

// SendableWebhook opens a stored webhook for sending: its specification with its credentials
// in plaintext, the signing secrets that sign now and the key of its revision's
// templates. Errors: INTERNAL (a credential that does not open).
func (s *Store) SendableWebhook(w *Webhook) (*webhook.Sendable, error) {
	spec, err := s.specOf(w)
	if err != nil {
		return nil, err
	}
	signing, err := s.signingSecrets(w)
	if err != nil {
		return nil, err
	}
	return &webhook.Sendable{Spec: spec, SigningSecrets: signing, TemplateKey: fmt.Sprintf("%s:%d", w.ID, w.Revision)}, nil
}

// WebhookSecrets opens a webhook's credentials for sending: the auth secret (password, API-key
// value or bearer token; "" for NONE) and the signing secrets, current first, then the
// retired ones that have not expired, newest first.
func (s *Store) WebhookSecrets(ctx context.Context, w *Webhook) (auth webhook.Secret, signing []webhook.Secret, err error) {
	if auth, err = s.cipher.Open(w.AuthSecret); err != nil {
		return "", nil, fmt.Errorf("webhook %s auth secret: %w", w.ID, err)
	}
	if signing, err = s.signingSecrets(w); err != nil {
		return "", nil, err
	}
	return auth, signing, nil
}

// signingSecrets opens the signing secrets of w that sign now: the current one first, then
// the retired ones that have not expired, newest first.
func (s *Store) signingSecrets(w *Webhook) ([]webhook.Secret, error) {
	current, err := s.cipher.Open(w.SigningSecret)
	if err != nil {
		return nil, fmt.Errorf("webhook %s signing secret: %w", w.ID, err)
	}
	var signing []webhook.Secret
	if current != "" {
		signing = append(signing, current)
	}
	now := s.Now()
	for i, r := range w.retiredSecrets() {
		if !now.Before(r.ExpiresAt) {
			continue
		}
		retired, err := s.cipher.Open(r.Sealed)
		if err != nil {
			return nil, fmt.Errorf("webhook %s retired signing secret %d: %w", w.ID, i, err)
		}
		if retired != "" {
			signing = append(signing, retired)
		}
	}
	return signing, nil
}

// retiredSecrets returns the secrets past rotations retired, newest first, expired ones
// included, in a new slice.
func (w *Webhook) retiredSecrets() []RetiredSecret {
	out := make([]RetiredSecret, 0, 1+len(w.OlderSigningSecrets.V))
	if w.PreviousSecretExpiresAt != nil {
		out = append(out, RetiredSecret{Sealed: w.PreviousSigningSecret, ExpiresAt: *w.PreviousSecretExpiresAt})
	}
	return append(out, w.OlderSigningSecrets.V...)
}

// generateSigningSecret returns a new secret for a scheme ("" for NONE).
func generateSigningSecret(scheme string) (webhook.Secret, error) {
	secret, err := sign.GenerateSecret(scheme)
	if err != nil {
		return "", fmt.Errorf("generate signing secret: %w", err)
	}
	return webhook.Secret(secret), nil
}

// fillWebhook copies a validated specification into the row, sealing the auth secret. The
// scope and the signing secret are left to the caller.
func (s *Store) fillWebhook(w *Webhook, spec *webhook.Spec) error {
	w.Name, w.Description = spec.Name, spec.Description
	w.TeamID, w.ServiceID = spec.TeamID, spec.ServiceID
	w.Events, w.URLs = NewJSON(spec.Events), NewJSON(spec.URLs)
	w.Method = spec.Method
	a := spec.Auth
	w.AuthType = a.Type
	w.AuthUsername, w.AuthKey, w.AuthPlacement = optional(a.Username), optional(a.Key), optional(a.Placement)
	var secret webhook.Secret
	switch a.Type {
	case webhook.AuthBasic:
		secret = a.Password
	case webhook.AuthAPIKey:
		secret = a.Value
	case webhook.AuthBearer:
		secret = a.Token
	}
	sealed, err := s.cipher.Seal(secret)
	if err != nil {
		return err
	}
	w.AuthSecret = sealed
	headers := make([]webhook.KV, len(spec.Headers))
	for i, h := range spec.Headers {
		headers[i] = webhook.KV{Name: h.Name, Value: h.Value, Secret: h.Secret}
		if h.Secret {
			if headers[i].Sealed, err = s.cipher.Seal(webhook.Secret(h.Value)); err != nil {
				return err
			}
			headers[i].Value = ""
		}
	}
	w.Headers = NewJSON(headers)
	w.SigningScheme, w.SigningHeader = spec.Signing.Scheme, optional(spec.Signing.HeaderName)
	w.SendDataUsing, w.ContentType = spec.SendDataUsing, spec.ContentType
	w.BodyTemplate = spec.BodyTemplate
	w.QueryParams, w.ExtraFields = NewJSON(nonNilKV(spec.QueryParams)), NewJSON(nonNilKV(spec.ExtraFields))
	w.RetryCount, w.RetryIntervalMinutes, w.TimeoutSeconds = spec.RetryCount, spec.RetryIntervalMinutes, spec.TimeoutSeconds
	w.FailureEmail = spec.FailureNotificationEmail
	w.Filter = NewJSON(spec.Filter)
	return nil
}

// specOf reads a stored webhook back into a specification, credentials opened.
func (s *Store) specOf(w *Webhook) (webhook.Spec, error) {
	secret, err := s.cipher.Open(w.AuthSecret)
	if err != nil {
		return webhook.Spec{}, fmt.Errorf("webhook %s auth secret: %w", w.ID, err)
	}
	headerSecrets, err := s.WebhookHeaderSecrets(w)
	if err != nil {
		return webhook.Spec{}, err
	}
	headers := make([]webhook.KV, len(w.Headers.V))
	for i, h := range w.Headers.V {
		headers[i] = webhook.KV{Name: h.Name, Value: h.Value, Secret: h.Secret}
		if h.Secret {
			headers[i].Value = headerSecrets[h.Name].Reveal()
		}
	}
	a := webhook.Auth{Type: w.AuthType, Username: deref(w.AuthUsername), Key: deref(w.AuthKey), Placement: deref(w.AuthPlacement)}
	switch w.AuthType {
	case webhook.AuthBasic:
		a.Password = secret
	case webhook.AuthAPIKey:
		a.Value = secret
	case webhook.AuthBearer:
		a.Token = secret
	}
	return webhook.Spec{
		Name:                     w.Name,
		Description:              w.Description,
		Scope:                    w.Scope,
		TeamID:                   w.TeamID,
		ServiceID:                w.ServiceID,
		Events:                   w.Events.V,
		URLs:                     w.URLs.V,
		Method:                   w.Method,
		Auth:                     a,
		Headers:                  headers,
		Signing:                  webhook.Signing{Scheme: w.SigningScheme, HeaderName: deref(w.SigningHeader)},
		SendDataUsing:            w.SendDataUsing,
		ContentType:              w.ContentType,
		BodyTemplate:             w.BodyTemplate,
		QueryParams:              w.QueryParams.V,
		ExtraFields:              w.ExtraFields.V,
		RetryCount:               w.RetryCount,
		RetryIntervalMinutes:     w.RetryIntervalMinutes,
		TimeoutSeconds:           w.TimeoutSeconds,
		FailureNotificationEmail: w.FailureEmail,
		Filter:                   w.Filter.V,
	}, nil
}

// optional returns nil for "" and a pointer to s otherwise.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nonNilKV stores an absent list as [] rather than null.
func nonNilKV(kv []webhook.KV) []webhook.KV {
	if kv == nil {
		return []webhook.KV{}
	}
	return kv
}
