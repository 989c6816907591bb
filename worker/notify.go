package worker

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/wneessen/go-mail"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook/outcome"
)

// mailer sends failure notices through one SMTP server.
type mailer struct {
	host       string
	port       int
	ssl        bool
	user, pass string
	from       string
}

// newMailer reads smtp://user:pass@host:port (or smtps:// for implicit TLS).
func newMailer(raw, from string) (*mailer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("HERALD_SMTP_URL: %w", err)
	}
	m := &mailer{host: u.Hostname(), from: from}
	switch u.Scheme {
	case "smtp":
		m.port = 587
	case "smtps":
		m.port, m.ssl = 465, true
	default:
		return nil, fmt.Errorf("HERALD_SMTP_URL: scheme %q is neither smtp nor smtps", u.Scheme)
	}
	if m.host == "" {
		return nil, fmt.Errorf("HERALD_SMTP_URL: no host")
	}
	if p := u.Port(); p != "" {
		if m.port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("HERALD_SMTP_URL: port %q: %w", p, err)
		}
	}
	if u.User != nil {
		m.user = u.User.Username()
		m.pass, _ = u.User.Password()
	}
	if m.from == "" {
		return nil, fmt.Errorf("HERALD_SMTP_FROM is required with HERALD_SMTP_URL")
	}
	return m, nil
}

func (m *mailer) send(ctx context.Context, to, subject, body string) error {
	msg := mail.NewMsg()
	if err := msg.From(m.from); err != nil {
		return fmt.Errorf("from address: %w", err)
	}
	if err := msg.To(to); err != nil {
		return fmt.Errorf("to address: %w", err)
	}
	msg.Subject(subject)
	msg.SetDate()
	msg.SetBodyString(mail.TypeTextPlain, body)
	opts := []mail.Option{mail.WithPort(m.port)}
	if m.ssl {
		opts = append(opts, mail.WithSSL())
	} else {
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if m.user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(m.user), mail.WithPassword(m.pass))
	}
	c, err := mail.NewClient(m.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}

// notice is one failure e-mail of a webhook.
type notice struct {
	// kind is outcome.NoticeFailed or outcome.NoticeDeactivated.
	kind          outcome.Notice
	subject, what string
	// target is the URL of the delivery concerned, lastErr its last error.
	target, lastErr string
	// delivery and incident name the delivery concerned and its incident ("" when none).
	delivery, incident string
}

// notify mails n about hook, at most once per webhook and kind per notifyInterval across every
// worker: the slot is reserved in the store before sending, so that workers in several
// processes agree, and given back when the e-mail cannot be sent, so that a mail server's
// hiccup does not silence the webhook for the whole interval. Each kind has its own slot: the
// e-mail of a delivery's final failure never silences the deactivation that follows it.
func (w *Worker) notify(ctx context.Context, hook *models.Webhook, n notice) {
	if !w.mayNotify(hook, n.subject) {
		return
	}
	log := w.log.With("webhook_id", hook.ID, "notice", n.kind)
	claim, err := w.store.ClaimFailureNotification(ctx, hook.ID, n.kind, notifyInterval)
	if err != nil {
		log.Error("claim failure notification", "err", err)
		return
	}
	if claim == nil {
		log.Debug("failure notification skipped: one was sent in the last 10 minutes")
		return
	}
	if err := w.mailNotice(ctx, hook, n); err != nil {
		log.Error("send failure notification", "err", err)
		// The send may have used up ctx; giving the slot back must not depend on it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if err := w.store.ReleaseFailureNotification(rctx, claim); err != nil {
			log.Error("release failure notification", "err", err)
		}
		return
	}
	log.Info("failure notification sent")
}

// mayNotify reports whether hook's notices can be mailed; without SMTP it logs a warning
// instead of the notice.
func (w *Worker) mayNotify(hook *models.Webhook, subject string) bool {
	if hook.FailureEmail == nil || *hook.FailureEmail == "" {
		return false
	}
	if w.mailer == nil {
		w.log.Warn("failure notification not sent: no SMTP server configured", "webhook_id", hook.ID, "subject", subject)
		return false
	}
	return true
}

// mailNotice sends one notice to hook's failure address.
func (w *Worker) mailNotice(ctx context.Context, hook *models.Webhook, n notice) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nWebhook: %s (%s)\nURL: %s\n", n.what, hook.Name, hook.ID, n.target)
	if n.incident != "" {
		fmt.Fprintf(&b, "Incident: %s\n", n.incident)
	}
	if n.delivery != "" {
		fmt.Fprintf(&b, "Delivery: %s\n", n.delivery)
	}
	if n.lastErr != "" {
		fmt.Fprintf(&b, "Last error: %s\n", n.lastErr)
	}
	fmt.Fprintf(&b, "\nDelivery log: %s/dashboard\n", strings.TrimRight(w.cfg.BaseURL, "/"))
	return w.mailer.send(ctx, *hook.FailureEmail, n.subject, b.String())
}
