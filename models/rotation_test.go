package models_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// rotationFixture is a STANDARD_WEBHOOKS webhook on a store whose clock the test moves.
type rotationFixture struct {
	s     *models.Store
	id    string
	clock *storetest.Clock
	names map[webhook.Secret]string
}

// rotationStart is when a rotation test's clock starts.
var rotationStart = time.Date(2026, 11, 22, 9, 5, 0, 0, time.UTC)

func setupRotation(t *testing.T, s *models.Store, clock *storetest.Clock) (rotationFixture, webhook.Secret) {
	t.Helper()
	f := setupWebhooks(t, s)
	spec := validWebhookSpec(f.team.ID)
	spec.Signing = webhook.Signing{Scheme: "STANDARD_WEBHOOKS"}
	w, secret, err := s.CreateWebhook(context.Background(), spec)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	r := rotationFixture{s: s, id: w.ID, clock: clock, names: map[webhook.Secret]string{secret: "created"}}
	return r, secret
}

// rotate rotates the secret, names the new one for failure messages and returns it.
func (r rotationFixture) rotate(t *testing.T, name string) webhook.Secret {
	t.Helper()
	_, secret, err := r.s.RotateWebhookSecret(context.Background(), r.id)
	if err != nil {
		t.Fatalf("rotate %s: %v", name, err)
	}
	r.names[secret] = name
	return secret
}

// wantSigning checks the secrets the stored webhook signs with, in order.
func (r rotationFixture) wantSigning(t *testing.T, when string, want ...webhook.Secret) {
	t.Helper()
	stored, err := r.s.FindWebhookByID(context.Background(), r.id)
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	_, got, err := r.s.WebhookSecrets(context.Background(), stored)
	if err != nil {
		t.Fatalf("%s: webhook secrets: %v", when, err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: signing with %v, want %v", when, r.label(got), r.label(want))
	}
}

func (r rotationFixture) label(secrets []webhook.Secret) []string {
	out := make([]string, len(secrets))
	for i, s := range secrets {
		if out[i] = r.names[s]; out[i] == "" {
			out[i] = "unknown"
		}
	}
	return out
}

// TestRotateWebhookSecretTwice: a secret retired by a rotation keeps signing for 24 h after
// that rotation, even when another rotation follows within the 24 h.
func TestRotateWebhookSecretTwice(t *testing.T) {
	t.Parallel()
	storetest.EachAt(t, rotationStart, func(t *testing.T, s *models.Store, clock *storetest.Clock) {
		r, first := setupRotation(t, s, clock)
		second := r.rotate(t, "second")
		r.clock.Add(time.Hour)
		third := r.rotate(t, "third")
		r.wantSigning(t, "after two rotations", third, second, first)

		r.clock.Add(23*time.Hour - time.Second)
		r.wantSigning(t, "just before 24 h from the first rotation", third, second, first)
		r.clock.Add(time.Second)
		r.wantSigning(t, "24 h after the first rotation", third, second)
		r.clock.Add(time.Hour)
		r.wantSigning(t, "24 h after the second rotation", third)

		fourth := r.rotate(t, "fourth")
		r.wantSigning(t, "rotated after both expired", fourth, third)
	})
}

// TestRotateWebhookSecretBound: a loop of rotations keeps MaxPreviousSecrets retired secrets,
// the newest.
func TestRotateWebhookSecretBound(t *testing.T) {
	t.Parallel()
	storetest.EachAt(t, rotationStart, func(t *testing.T, s *models.Store, clock *storetest.Clock) {
		r, created := setupRotation(t, s, clock)
		all := []webhook.Secret{created}
		for i := range models.MaxPreviousSecrets + 2 {
			r.clock.Add(time.Minute)
			all = append(all, r.rotate(t, "rotation "+string(rune('1'+i))))
		}
		slices.Reverse(all)
		r.wantSigning(t, "after many rotations", all[:1+models.MaxPreviousSecrets]...)
	})
}

// TestRotateWebhookSecretSchemeChange: a change of signing scheme drops every retired secret.
func TestRotateWebhookSecretSchemeChange(t *testing.T) {
	t.Parallel()
	storetest.EachAt(t, rotationStart, func(t *testing.T, s *models.Store, clock *storetest.Clock) {
		r, _ := setupRotation(t, s, clock)
		r.rotate(t, "second")
		current := r.rotate(t, "third")
		// A whsec_ secret is also a valid HMAC secret, so the current one stays.
		_, fresh, err := s.UpdateWebhook(context.Background(), r.id, models.WebhookPatch{Signing: &webhook.Signing{Scheme: "HMAC_SHA256"}})
		if err != nil || fresh != "" {
			t.Fatalf("to HMAC_SHA256: new secret %v, err %v", fresh != "", err)
		}
		r.wantSigning(t, "after the scheme change", current)
	})
}

// TestRotateWebhookSecretStoredBefore: a row written before retired secrets were kept as a
// list (the previous secret alone, no list) still signs with its previous secret, and a
// rotation keeps it.
func TestRotateWebhookSecretStoredBefore(t *testing.T) {
	t.Parallel()
	storetest.EachAt(t, rotationStart, func(t *testing.T, s *models.Store, clock *storetest.Clock) {
		r, current := setupRotation(t, s, clock)
		const old = webhook.Secret("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0")
		r.names[old] = "old"
		sealed, err := s.Cipher().Seal(old)
		if err != nil {
			t.Fatal(err)
		}
		err = s.DB().Exec("UPDATE webhooks SET previous_signing_secret = ?, previous_secret_expires_at = ?, older_signing_secrets = NULL WHERE id = ?",
			sealed, r.clock.Now().Add(time.Hour), r.id).Error
		if err != nil {
			t.Fatal(err)
		}
		r.wantSigning(t, "stored before", current, old)
		fresh := r.rotate(t, "fresh")
		r.wantSigning(t, "rotated", fresh, current, old)
		r.clock.Add(time.Hour)
		r.wantSigning(t, "old expired", fresh, current)
	})
}
