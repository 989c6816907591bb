package models

import "context"

// DraftWebhook validates an unsaved specification (for testWebhook) and returns it as a
// webhook row that is not stored, with its plaintext auth secret and a throwaway signing
// secret ("" for NONE). Errors: VALIDATION naming the field, INTERNAL.
func (s *Store) DraftWebhook(ctx context.Context, spec WebhookSpec) (*Webhook, Secret, Secret, error) {
	if err := s.ValidateWebhookSpec(ctx, &spec); err != nil {
		return nil, "", "", err
	}
	signing, err := generateSigningSecret(spec.Signing.Scheme)
	if err != nil {
		return nil, "", "", err
	}
	w := &Webhook{Scope: spec.Scope, Status: WebhookActive}
	if err := s.fillWebhook(w, &spec); err != nil {
		return nil, "", "", err
	}
	auth, err := s.cipher.Open(w.AuthSecret)
	if err != nil {
		return nil, "", "", err
	}
	return w, auth, signing, nil
}
