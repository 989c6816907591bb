package worker_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/worker"
)

// TestNotificationAfterRefusedMail: when the SMTP server refuses a failure e-mail, the
// webhook's 10-minute slot is given back, so the next final failure is mailed.
func TestNotificationAfterRefusedMail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		mail := newSMTPServer(t)
		mail.mu.Lock()
		mail.refuse = 1
		mail.mu.Unlock()
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(500) })
		hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.FailureEmail = str("oncall@example.com") })
		start(t, worker.Config{Store: s, SMTPURL: "smtp://herald:pw@" + mail.addr, SMTPFrom: "herald@example.com"})

		first := newDeliveries(t, s, hook, 1)[0]
		eventually(t, 10*time.Second, "delivery failed", statusIs(t, s, first, models.DeliveryFailed))
		eventually(t, 10*time.Second, "e-mail refused", func() bool { return mail.refusedCount() == 1 })
		eventually(t, 5*time.Second, "slot given back", func() bool { return hookOf(t, s, hook.ID).LastNotifiedAt == nil })

		second := newDeliveries(t, s, hook, 1)[0]
		eventually(t, 10*time.Second, "delivery failed", statusIs(t, s, second, models.DeliveryFailed))
		eventually(t, 5*time.Second, "failure e-mail", func() bool { return len(mail.messages()) == 1 })
		if m := mail.messages()[0]; !strings.Contains(m, ": a delivery failed") || !strings.Contains(m, hook.Name) {
			t.Errorf("e-mail:\n%s", m)
		}
		if h := hookOf(t, s, hook.ID); h.LastNotifiedAt == nil {
			t.Errorf("the sent e-mail holds no slot")
		}
	})
}
