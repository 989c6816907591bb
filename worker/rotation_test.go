package worker_test

import (
	"context"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/worker"
)

// TestRotatedTwiceStillVerifies: after two rotations within 24 h a receiver still holding the
// first secret verifies a STANDARD_WEBHOOKS delivery with the official library, as do
// receivers holding the later ones.
func TestRotatedTwiceStillVerifies(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	rc := newReceiver(t, nil)
	hook := newHook(t, s, rc.URL+"/hook", func(h *models.Webhook) {
		h.SigningScheme, h.SigningSecret = "STANDARD_WEBHOOKS", sealed(t, s, oldStandard)
	})
	secrets := map[string]string{"first": oldStandard}
	for _, name := range []string{"second", "current"} {
		_, secret, err := s.RotateWebhookSecret(context.Background(), hook.ID)
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		secrets[name] = secret.Reveal()
	}
	start(t, worker.Config{Store: s})
	id := newDeliveries(t, s, hook, 1)[0]
	eventually(t, 10*time.Second, "delivery succeeded", statusIs(t, s, id, models.DeliverySucceeded))
	r := rc.all()[0]
	for name, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Errorf("receiver with the %s secret: %v", name, err)
		}
	}
}
