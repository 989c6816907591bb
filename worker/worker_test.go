package worker_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/worker"
)

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("HERALD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newHook stores an ACTIVE global webhook posting the default envelope to url (see
// storetest.Webhook); edit changes it before it is saved.
func newHook(t testing.TB, s *models.Store, url string, edit func(*models.Webhook)) *models.Webhook {
	t.Helper()
	return storetest.Webhook(t, s, func(h *models.Webhook) {
		h.URLs = models.NewJSON([]string{url})
		if edit != nil {
			edit(h)
		}
	})
}

// newDeliveries inserts n due deliveries of hook's first URL (see storetest.Deliveries) and
// returns their ids.
func newDeliveries(t testing.TB, s *models.Store, hook *models.Webhook, n int) []string {
	t.Helper()
	var ids []string
	for _, d := range storetest.Deliveries(t, s, hook, n, nil) {
		ids = append(ids, d.ID)
	}
	return ids
}

// start runs a worker on s until the test ends.
func start(t testing.TB, cfg worker.Config) *worker.Worker {
	t.Helper()
	cfg.AllowPrivateTargets = true
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("worker did not stop")
		}
	})
	return w
}

func deliveryOf(t testing.TB, s *models.Store, id string) *models.Delivery {
	t.Helper()
	var d models.Delivery
	if err := s.DB().Where("id = ?", id).Take(&d).Error; err != nil {
		t.Fatalf("read delivery: %v", err)
	}
	return &d
}

func attemptsOf(t testing.TB, s *models.Store, deliveryID string) []*models.Attempt {
	t.Helper()
	var as []*models.Attempt
	if err := s.DB().Where("delivery_id = ?", deliveryID).Order("number").Find(&as).Error; err != nil {
		t.Fatalf("read attempts: %v", err)
	}
	return as
}

func hookOf(t testing.TB, s *models.Store, id string) *models.Webhook {
	t.Helper()
	var h models.Webhook
	if err := s.DB().Where("id = ?", id).Take(&h).Error; err != nil {
		t.Fatalf("read webhook: %v", err)
	}
	return &h
}

func statusIs(t testing.TB, s *models.Store, id, status string) func() bool {
	return func() bool { return deliveryOf(t, s, id).Status == status }
}

// received is one request a receiver got.
type received struct {
	at     time.Time
	method string
	url    string
	header http.Header
	body   []byte
}

// receiver is an httptest endpoint answering with respond and recording every request.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newReceiver(t testing.TB, respond func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{at: time.Now(), method: r.Method, url: r.URL.String(), header: r.Header.Clone(), body: body})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if respond != nil {
			respond(w, r, n)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func sealed(t testing.TB, s *models.Store, secret string) []byte {
	t.Helper()
	b, err := s.Cipher().Seal(webhook.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func str(s string) *string { return &s }

const (
	hmacSecret     = "0123456789abcdef0123456789abcdef"
	standardSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	oldStandard    = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
)

// TestRequests sends one delivery per configuration through the claim loop to a real
// receiver and checks what arrived, verifying signatures independently of package sign.
func TestRequests(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, r received, deliveryID string)
	cases := map[string]struct {
		edit  func(s *models.Store, h *models.Webhook)
		check check
	}{
		"basic auth, POST JSON envelope with extra fields": {
			edit: func(s *models.Store, h *models.Webhook) {
				h.AuthType, h.AuthUsername, h.AuthSecret = webhook.AuthBasic, str("ops"), sealed(t, s, "pa:ss")
				h.ExtraFields = models.NewJSON([]webhook.KV{{Name: "env", Value: "prod"}})
				h.Headers = models.NewJSON([]webhook.KV{{Name: "X-Team", Value: "core"}})
			},
			check: func(t *testing.T, r received, id string) {
				u, p, ok := (&http.Request{Header: r.header}).BasicAuth()
				if !ok || u != "ops" || p != "pa:ss" {
					t.Errorf("basic auth = %q %q %v", u, p, ok)
				}
				if r.method != http.MethodPost || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Team") != "core" {
					t.Errorf("method %s, headers %v", r.method, r.header)
				}
				var env map[string]any
				if err := json.Unmarshal(r.body, &env); err != nil {
					t.Fatalf("envelope is not JSON: %v: %s", err, r.body)
				}
				inc, _ := env["incident"].(map[string]any)
				if env["deliveryId"] != id || env["env"] != "prod" || env["event"] != "incident.created" || inc["title"] != `Disk "full"` {
					t.Errorf("envelope = %s", r.body)
				}
			},
		},
		"api key in header, PUT text template": {
			edit: func(s *models.Store, h *models.Webhook) {
				h.Method, h.ContentType, h.BodyTemplate = http.MethodPut, webhook.ContentText, str("{{incident.id}} is {{incident.urgency}}")
				h.AuthType, h.AuthKey, h.AuthPlacement, h.AuthSecret = webhook.AuthAPIKey, str("X-Api-Key"), str(webhook.PlacementHeader), sealed(t, s, "k3y")
			},
			check: func(t *testing.T, r received, _ string) {
				if r.method != http.MethodPut || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") ||
					string(r.body) != "INC-7 is high" || r.header.Get("X-Api-Key") != "k3y" {
					t.Errorf("got %s %v %q", r.method, r.header, r.body)
				}
			},
		},
		"TEXT content without a template sends the JSON envelope as JSON": {
			edit: func(_ *models.Store, h *models.Webhook) { h.ContentType = webhook.ContentText },
			check: func(t *testing.T, r received, id string) {
				var env map[string]any
				if ct := r.header.Get("Content-Type"); ct != "application/json" || json.Unmarshal(r.body, &env) != nil || env["deliveryId"] != id {
					t.Errorf("Content-Type %q, body %s", ct, r.body)
				}
			},
		},
		"api key in query, GET query params": {
			edit: func(s *models.Store, h *models.Webhook) {
				h.Method, h.SendDataUsing = http.MethodGet, webhook.SendQueryParams
				h.QueryParams = models.NewJSON([]webhook.KV{{Name: "title", Value: "{{incident.title}}"}, {Name: "ev", Value: "{{webhook.event}}"}})
				h.AuthType, h.AuthKey, h.AuthPlacement, h.AuthSecret = webhook.AuthAPIKey, str("token"), str(webhook.PlacementQuery), sealed(t, s, "s3cret&x")
			},
			check: func(t *testing.T, r received, _ string) {
				want := "/hook?title=Disk+%22full%22&ev=incident.created&token=s3cret%26x"
				if r.method != http.MethodGet || r.url != want || len(r.body) != 0 {
					t.Errorf("got %s %s body %q, want GET %s", r.method, r.url, r.body, want)
				}
			},
		},
		"bearer, PATCH, HMAC_SHA512": {
			edit: func(s *models.Store, h *models.Webhook) {
				h.Method = http.MethodPatch
				h.AuthType, h.AuthSecret = webhook.AuthBearer, sealed(t, s, "tok")
				h.SigningScheme, h.SigningHeader, h.SigningSecret = "HMAC_SHA512", str("X-Herald-Signature"), sealed(t, s, hmacSecret)
			},
			check: func(t *testing.T, r received, _ string) {
				if r.method != http.MethodPatch || r.header.Get("Authorization") != "Bearer tok" {
					t.Errorf("got %s %v", r.method, r.header)
				}
				ts, sig, _ := strings.Cut(r.header.Get("X-Herald-Signature"), ",")
				mac := hmac.New(sha512.New, []byte(hmacSecret))
				mac.Write([]byte(ts + "."))
				mac.Write(r.body)
				if want := hex.EncodeToString(mac.Sum(nil)); sig != want {
					t.Errorf("signature %s, want %s", sig, want)
				}
			},
		},
		"DELETE, HMAC_SHA256": {
			edit: func(s *models.Store, h *models.Webhook) {
				h.Method = http.MethodDelete
				h.SigningScheme, h.SigningSecret = "HMAC_SHA256", sealed(t, s, hmacSecret)
			},
			check: func(t *testing.T, r received, _ string) {
				mac := hmac.New(sha256.New, []byte(hmacSecret))
				mac.Write(r.body)
				if got, want := r.header.Get("X-Signature"), base64.StdEncoding.EncodeToString(mac.Sum(nil)); r.method != http.MethodDelete || got != want {
					t.Errorf("%s X-SIGNATURE %s, want %s", r.method, got, want)
				}
			},
		},
		"STANDARD_WEBHOOKS with the previous secret in its overlap": {
			edit: func(s *models.Store, h *models.Webhook) {
				later := time.Now().Add(time.Hour)
				h.SigningScheme, h.SigningSecret = "STANDARD_WEBHOOKS", sealed(t, s, standardSecret)
				h.PreviousSigningSecret, h.PreviousSecretExpiresAt = sealed(t, s, oldStandard), &later
			},
			check: func(t *testing.T, r received, id string) {
				msg := r.header.Get("Webhook-Id") + "." + r.header.Get("Webhook-Timestamp") + "." + string(r.body)
				var want []string
				for _, secret := range []string{standardSecret, oldStandard} {
					key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
					mac := hmac.New(sha256.New, key)
					mac.Write([]byte(msg))
					want = append(want, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
				}
				if got := r.header.Get("Webhook-Signature"); got != strings.Join(want, " ") {
					t.Errorf("webhook-signature %q, want %q", got, strings.Join(want, " "))
				}
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, models.DialectSQLite)
			rc := newReceiver(t, nil)
			hook := newHook(t, s, rc.URL+"/hook", func(h *models.Webhook) { tc.edit(s, h) })
			start(t, worker.Config{Store: s})
			id := newDeliveries(t, s, hook, 1)[0]
			eventually(t, 10*time.Second, "delivery succeeded", statusIs(t, s, id, models.DeliverySucceeded))
			reqs := rc.all()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests", len(reqs))
			}
			r := reqs[0]
			if r.header.Get("Webhook-Id") != id || r.header.Get("User-Agent") != "Herald/"+webhook.Version {
				t.Errorf("webhook-id %q user-agent %q", r.header.Get("Webhook-Id"), r.header.Get("User-Agent"))
			}
			tc.check(t, r, id)

			as := attemptsOf(t, s, id)
			if len(as) != 1 || as[0].Outcome != models.AttemptSucceeded || as[0].Number != 1 || as[0].Response.V == nil || as[0].Response.V.Status != 200 {
				t.Fatalf("attempts = %+v", as)
			}
			logged, _ := json.Marshal(as[0].Request.V)
			for _, secret := range []string{"pa:ss", "k3y", "s3cret", "Bearer tok", hmacSecret} {
				if strings.Contains(string(logged), secret) {
					t.Errorf("request log shows %q: %s", secret, logged)
				}
			}
			if as[0].RemoteIP == nil || *as[0].RemoteIP != "127.0.0.1" {
				t.Errorf("remote ip = %v", as[0].RemoteIP)
			}
		})
	}
}

// TestRequestLogRedaction checks what the stored request log shows.
func TestRequestLogRedaction(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	rc := newReceiver(t, nil)
	hook := newHook(t, s, rc.URL+"/hook?a=1", func(h *models.Webhook) {
		h.Method, h.SendDataUsing = http.MethodGet, webhook.SendQueryParams
		h.QueryParams = models.NewJSON([]webhook.KV{{Name: "id", Value: "{{incident.id}}"}})
		h.AuthType, h.AuthKey, h.AuthPlacement, h.AuthSecret = webhook.AuthAPIKey, str("key"), str(webhook.PlacementQuery), sealed(t, s, "hidden")
	})
	start(t, worker.Config{Store: s})
	id := newDeliveries(t, s, hook, 1)[0]
	eventually(t, 10*time.Second, "delivery succeeded", statusIs(t, s, id, models.DeliverySucceeded))
	a := attemptsOf(t, s, id)[0]
	if want := rc.URL + "/hook?a=1&id=INC-7&key=%5Bredacted%5D"; a.Request.V.URL != want {
		t.Errorf("logged url %s, want %s", a.Request.V.URL, want)
	}
	if got := rc.all()[0].url; got != "/hook?a=1&id=INC-7&key=hidden" {
		t.Errorf("sent url %s", got)
	}
}

// TestEchoedCredentialRedaction: a receiver that echoes the request back (a test endpoint, or an
// API repeating the key it refused) must not put the webhook's credentials in the delivery log,
// which every reader of the webhook sees: each form they were sent in is redacted from the
// response's headers and body, also where the 16 KiB cut falls inside one.
func TestEchoedCredentialRedaction(t *testing.T) {
	t.Parallel()
	const secret = "s3cret/pa+ss word"
	basic := base64.StdEncoding.EncodeToString([]byte("svc:" + secret))
	echo := func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
		w.Header().Set("X-Echo-Query", r.URL.RawQuery)
		quoted, _ := json.Marshal(r.Header.Get("Authorization") + " " + secret)
		// PHP's json_encode writes "/" as "\/".
		_, _ = fmt.Fprintf(w, `{"authorization": %s, "query": %q, "php": "%s"}`, quoted, r.URL.RawQuery, strings.ReplaceAll(secret, "/", `\/`))
	}
	for name, edit := range map[string]func(*models.Webhook){
		"basic":  func(h *models.Webhook) { h.AuthType, h.AuthUsername = webhook.AuthBasic, str("svc") },
		"bearer": func(h *models.Webhook) { h.AuthType = webhook.AuthBearer },
		"query key": func(h *models.Webhook) {
			h.AuthType, h.AuthKey, h.AuthPlacement = webhook.AuthAPIKey, str("key"), str(webhook.PlacementQuery)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, models.DialectSQLite)
			rc := newReceiver(t, echo)
			hook := newHook(t, s, rc.URL, func(h *models.Webhook) {
				edit(h)
				h.AuthSecret = sealed(t, s, secret)
			})
			start(t, worker.Config{Store: s})
			id := newDeliveries(t, s, hook, 1)[0]
			eventually(t, 10*time.Second, "delivery succeeded", statusIs(t, s, id, models.DeliverySucceeded))
			resp := attemptsOf(t, s, id)[0].Response.V
			if resp == nil {
				t.Fatal("no response logged")
			}
			shown := []string{resp.Body}
			for _, h := range resp.Headers {
				shown = append(shown, h.Value)
			}
			for _, text := range shown {
				for _, piece := range []string{"pa+ss", "pa%2Bss", basic} {
					if strings.Contains(text, piece) {
						t.Errorf("the logged response holds %q: %s", piece, text)
					}
				}
			}
			if !strings.Contains(resp.Body, "[redacted]") {
				t.Errorf("body %s: nothing redacted", resp.Body)
			}
		})
	}

	// bodyLogged sends a delivery authenticated with a bearer token to a receiver answering
	// answer(token) and returns the response body the log shows.
	bodyLogged := func(t *testing.T, answer func(token string) string) string {
		s := storetest.Open(t, models.DialectSQLite)
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			_, _ = io.WriteString(w, answer(token))
		})
		hook := newHook(t, s, rc.URL, func(h *models.Webhook) {
			h.AuthType, h.AuthSecret = webhook.AuthBearer, sealed(t, s, "tok-0123456789")
		})
		start(t, worker.Config{Store: s})
		id := newDeliveries(t, s, hook, 1)[0]
		eventually(t, 10*time.Second, "delivery succeeded", statusIs(t, s, id, models.DeliverySucceeded))
		return attemptsOf(t, s, id)[0].Response.V.Body
	}
	t.Run("cut", func(t *testing.T) {
		t.Parallel()
		// The token starts 5 bytes before the 16 KiB cut: a plain cut would keep its first 5.
		body := bodyLogged(t, func(token string) string {
			return strings.Repeat("x", 16<<10-5) + token + strings.Repeat("y", 100)
		})
		if strings.Contains(body, "tok-0") || len(body) > 16<<10 {
			t.Errorf("cut body ends %q (%d bytes): a piece of the token, or over 16 KiB", body[max(0, len(body)-20):], len(body))
		}
		if !strings.HasPrefix(body, strings.Repeat("x", 16<<10-5)) {
			t.Errorf("the body before the token was not kept")
		}
	})
	t.Run("cut after many", func(t *testing.T) {
		t.Parallel()
		// The read stops inside a token; hiding the whole ones before it shortens the body
		// enough that the piece at the end of the read is kept unless it is hidden too.
		body := bodyLogged(t, func(token string) string { return strings.Repeat(token, 1500) })
		if strings.Contains(body, "tok") {
			t.Errorf("cut body ends %q: a piece of the token", body[max(0, len(body)-30):])
		}
	})
}

// TestFailedSendRedaction: a send that fails before any response (here a refused connection)
// stores net/http's error text, which quotes the URL: an API key placed in the query is
// redacted there too.
func TestFailedSendRedaction(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	hook := newHook(t, s, closed.URL+"/hook", func(h *models.Webhook) {
		h.RetryCount = 0
		h.AuthType, h.AuthKey, h.AuthPlacement, h.AuthSecret = webhook.AuthAPIKey, str("key"), str(webhook.PlacementQuery), sealed(t, s, "hidden-key")
	})
	start(t, worker.Config{Store: s})
	id := newDeliveries(t, s, hook, 1)[0]
	eventually(t, 10*time.Second, "delivery failed", statusIs(t, s, id, models.DeliveryFailed))
	a := attemptsOf(t, s, id)[0]
	if a.Error == nil {
		t.Fatal("the failed send has no error")
	}
	if !strings.Contains(*a.Error, "key=%5Bredacted%5D") || strings.Contains(*a.Error, "hidden-key") {
		t.Errorf("error of the failed send = %q, want the redacted URL and no key", *a.Error)
	}
}

// TestTimestampIsSendTime: {{timestamp}} and the envelope's timestamp say when the webhook was
// sent (the vendor's "Timestamp of webhook (When it sent)"), not when the event happened.
func TestTimestampIsSendTime(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	rc := newReceiver(t, nil)
	templated := newHook(t, s, rc.URL+"/templated", func(h *models.Webhook) { h.BodyTemplate = str(`{"t":"{{timestamp}}"}`) })
	envelope := newHook(t, s, rc.URL+"/envelope", nil)
	start(t, worker.Config{Store: s})
	eventAt := s.Now().Add(-2 * time.Hour)
	for _, hook := range []*models.Webhook{templated, envelope} {
		storetest.Deliveries(t, s, hook, 1, func(d *models.Delivery) {
			d.NextAttemptAt = &eventAt
			d.Snapshot = models.NewJSON(models.Snapshot{EventAt: eventAt, IncidentID: "INC-7", CreatedAt: eventAt})
		})
	}
	eventually(t, 10*time.Second, "both sent", func() bool { return rc.count() == 2 })
	for _, r := range rc.all() {
		var body struct {
			T         string `json:"t"`
			Timestamp string `json:"timestamp"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		got := body.T + body.Timestamp
		sent, err := time.Parse(time.RFC3339, got)
		if err != nil {
			sent, err = time.Parse("2006-01-02T15:04Z", got)
		}
		if err != nil {
			t.Fatalf("%s: timestamp %q: %v", r.url, got, err)
		}
		if d := r.at.Sub(sent); d < 0 || d > 2*time.Minute {
			t.Errorf("%s: timestamp %s, sent at %s (the event was at %s)", r.url, got, r.at.UTC().Format(time.RFC3339), eventAt.Format(time.RFC3339))
		}
	}
}

// TestRetries: a failing endpoint is retried retryCount times, retryIntervalMinutes apart
// (one minute lasting RetryUnit), then the delivery fails; a success on a retry ends it.
func TestRetries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		const unit = 150 * time.Millisecond
		fail := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(500) })
		flaky := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n < 3 {
				w.WriteHeader(502)
			}
		})
		failing := newHook(t, s, fail.URL, func(h *models.Webhook) { h.RetryCount, h.RetryIntervalMinutes = 2, 2 })
		recovering := newHook(t, s, flaky.URL, func(h *models.Webhook) { h.RetryCount, h.RetryIntervalMinutes = 4, 1 })
		start(t, worker.Config{Store: s, RetryUnit: unit})
		failed := newDeliveries(t, s, failing, 1)[0]
		ok := newDeliveries(t, s, recovering, 1)[0]

		eventually(t, 15*time.Second, "delivery failed", statusIs(t, s, failed, models.DeliveryFailed))
		eventually(t, 15*time.Second, "delivery succeeded", statusIs(t, s, ok, models.DeliverySucceeded))
		as := attemptsOf(t, s, failed)
		if len(as) != 3 || fail.count() != 3 {
			t.Fatalf("failing delivery: %d attempts, %d requests; want 3", len(as), fail.count())
		}
		reqs := fail.all()
		for i, a := range as {
			if a.Number != i+1 || a.Outcome != models.AttemptFailed || a.ErrorKind == nil || *a.ErrorKind != worker.KindHTTPStatus {
				t.Errorf("attempt %d = %+v", i, a)
			}
			if i < 2 {
				if a.NextRetryAt == nil || a.NextRetryAt.Sub(a.StartedAt) < 2*unit {
					t.Errorf("attempt %d: next retry %v after start %v", i+1, a.NextRetryAt, a.StartedAt)
				}
				if gap := reqs[i+1].at.Sub(reqs[i].at); gap < 2*unit {
					t.Errorf("retry %d came %v after the previous attempt, want ≥ %v", i+1, gap, 2*unit)
				}
			} else if a.NextRetryAt != nil {
				t.Errorf("last attempt has a next retry")
			}
		}
		if n := len(attemptsOf(t, s, ok)); n != 3 {
			t.Errorf("recovering delivery: %d attempts, want 3", n)
		}
		if h := hookOf(t, s, recovering.ID); h.ConsecutiveFailures != 0 {
			t.Errorf("consecutive failures after a success = %d", h.ConsecutiveFailures)
		}
	})
}

// TestRetryAfter: a 503 with Retry-After postpones the retry beyond the configured interval.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.RetryCount = 1 })
	start(t, worker.Config{Store: s, RetryUnit: 10 * time.Millisecond})
	id := newDeliveries(t, s, hook, 1)[0]
	eventually(t, 10*time.Second, "delivery succeeded", statusIs(t, s, id, models.DeliverySucceeded))
	reqs := rc.all()
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retry came %v after a Retry-After of 1 s", gap)
	}
	if a := attemptsOf(t, s, id)[0]; a.NextRetryAt == nil || a.NextRetryAt.Sub(a.StartedAt) < time.Second {
		t.Errorf("first attempt: next retry %v", a.NextRetryAt)
	}
}

// TestHeldDeliveriesGoBack: with a cap of one and an endpoint that takes longer than a held
// delivery may wait, the surplus of a claim is held, then given back and claimed again; every
// delivery is sent exactly once and counts one attempt.
func TestHeldDeliveriesGoBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		rc := newReceiver(t, func(http.ResponseWriter, *http.Request, int) { time.Sleep(1200 * time.Millisecond) })
		hook := newHook(t, s, rc.URL, nil)
		ids := newDeliveries(t, s, hook, 4)
		// Concurrency 8 gives a per-webhook cap of 1: one request, two held, one given back.
		start(t, worker.Config{Store: s, Concurrency: 8})
		for _, id := range ids {
			eventually(t, 20*time.Second, "delivery succeeded", statusIs(t, s, id, models.DeliverySucceeded))
		}
		seen := map[string]int{}
		for _, r := range rc.all() {
			seen[r.header.Get("webhook-id")]++
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("delivery %s sent %d times", id, seen[id])
			}
			if d := deliveryOf(t, s, id); d.Attempts != 1 {
				t.Errorf("delivery %s counts %d attempts, want 1", id, d.Attempts)
			}
		}
	})
}

// TestRetryAfterDateAndCap: Retry-After as an HTTP date postpones the retry to that date, and
// no answer postpones it by more than an hour (SPEC §6).
func TestRetryAfterDateAndCap(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	answer := func(ahead time.Duration) func(http.ResponseWriter, *http.Request, int) {
		return func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Retry-After", time.Now().Add(ahead).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}
	soon := newReceiver(t, answer(5*time.Second))
	late := newReceiver(t, answer(3*time.Hour))
	soonHook := newHook(t, s, soon.URL, func(h *models.Webhook) { h.RetryCount = 1 })
	lateHook := newHook(t, s, late.URL, func(h *models.Webhook) { h.RetryCount = 1 })
	start(t, worker.Config{Store: s, RetryUnit: 10 * time.Millisecond})
	soonID := newDeliveries(t, s, soonHook, 1)[0]
	lateID := newDeliveries(t, s, lateHook, 1)[0]
	for _, c := range []struct {
		id       string
		min, max time.Duration
	}{
		{soonID, 3 * time.Second, 6 * time.Second}, // HTTP dates have whole seconds
		{lateID, time.Hour - time.Second, time.Hour + time.Second},
	} {
		var as []*models.Attempt
		eventually(t, 10*time.Second, "first attempt recorded", func() bool {
			as = attemptsOf(t, s, c.id)
			return len(as) > 0
		})
		a := as[0]
		if a.NextRetryAt == nil {
			t.Fatalf("delivery %s: no next retry after a 429", c.id)
		}
		if wait := a.NextRetryAt.Sub(a.StartedAt); wait < c.min || wait > c.max {
			t.Errorf("delivery %s: retry %v after the attempt, want %v to %v", c.id, wait, c.min, c.max)
		}
	}
}

// smtpServer is a real SMTP server on 127.0.0.1 collecting messages.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs []string
	// refuse is how many more messages the server turns away; refused counts those it did.
	refuse, refused int
}

type smtpSession struct{ srv *smtpServer }

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "herald" || pass != "pw" {
			return errors.New("bad credentials")
		}
		return nil
	}), nil
}
func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.srv.refuse > 0 {
		s.srv.refuse--
		s.srv.refused++
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, string(b))
	s.srv.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func newSMTPServer(t testing.TB) *smtpServer {
	srv := &smtpServer{}
	be := smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: srv}, nil })
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return srv
}

func (s *smtpServer) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

func (s *smtpServer) refusedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// TestDeactivateAfterSix: the sixth failed attempt in a row makes the webhook INACTIVE and
// cancels its pending deliveries. Failure e-mails are limited to one per 10 minutes, the
// deactivation's is sent all the same: one of each.
func TestDeactivateAfterSix(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		mail := newSMTPServer(t)
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(500) })
		hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.FailureEmail = str("oncall@example.com") })
		// Concurrency 8 gives a per-webhook cap of 1: attempts run one after the other.
		start(t, worker.Config{Store: s, Concurrency: 8, SMTPURL: "smtp://herald:pw@" + mail.addr,
			SMTPFrom: "herald@example.com", BaseURL: "http://herald.test"})
		first := newDeliveries(t, s, hook, 5)
		for _, id := range first {
			eventually(t, 10*time.Second, "delivery failed", statusIs(t, s, id, models.DeliveryFailed))
		}
		if h := hookOf(t, s, hook.ID); h.Status != models.WebhookActive || h.ConsecutiveFailures != 5 {
			t.Fatalf("after five failures: %s with %d", h.Status, h.ConsecutiveFailures)
		}
		// A test send that fails counts towards nothing.
		w, err := worker.New(worker.Config{Store: s, AllowPrivateTargets: true})
		if err != nil {
			t.Fatal(err)
		}
		if a, err := w.Test(context.Background(), hook, nil, webhook.EventCreated); err != nil || !a.Test || a.Outcome != models.AttemptFailed {
			t.Fatalf("test send: %+v, %v", a, err)
		}
		if h := hookOf(t, s, hook.ID); h.ConsecutiveFailures != 5 {
			t.Fatalf("a test send counted: %d", h.ConsecutiveFailures)
		}

		more := newDeliveries(t, s, hook, 3)
		eventually(t, 10*time.Second, "webhook inactive", func() bool { return hookOf(t, s, hook.ID).Status == models.WebhookInactive })
		h := hookOf(t, s, hook.ID)
		if h.ConsecutiveFailures != 6 || h.InactiveReason == nil || !strings.Contains(*h.InactiveReason, "6 consecutive") {
			t.Errorf("deactivated webhook: %d failures, reason %v", h.ConsecutiveFailures, h.InactiveReason)
		}
		statuses := map[string]int{}
		for _, id := range more {
			eventually(t, 5*time.Second, "delivery finished", func() bool { return deliveryOf(t, s, id).Status != models.DeliveryPending })
			statuses[deliveryOf(t, s, id).Status]++
		}
		if statuses[models.DeliveryFailed] != 1 || statuses[models.DeliveryCancelled] != 2 {
			t.Errorf("deliveries after the sixth failure: %v", statuses)
		}
		if got := rc.count(); got != 7 { // 6 deliveries + 1 test send
			t.Errorf("receiver got %d requests, want 7", got)
		}
		eventually(t, 5*time.Second, "two e-mails", func() bool { return len(mail.messages()) >= 2 })
		msgs := mail.messages()
		if len(msgs) != 2 {
			t.Fatalf("%d e-mails within 10 minutes, want 2", len(msgs))
		}
		for i, subject := range []string{": a delivery failed", "Herald deactivated webhook"} {
			for _, want := range []string{subject, hook.Name, "HTTP 500", "http://herald.test/dashboard", "oncall@example.com", "Incident: INC-7", "Delivery: "} {
				if !strings.Contains(msgs[i], want) {
					t.Errorf("e-mail %d lacks %q:\n%s", i+1, want, msgs[i])
				}
			}
		}
		if !strings.Contains(msgs[0], "failed after 1 attempt and") {
			t.Errorf("e-mail 1 does not say how many attempts were made:\n%s", msgs[0])
		}

		// Activated again and deactivated again within 10 minutes: no second deactivation
		// e-mail (an automation re-activating a dead endpoint must not flood the inbox).
		if _, err := s.ActivateWebhook(context.Background(), hook.ID, "test"); err != nil {
			t.Fatal(err)
		}
		newDeliveries(t, s, hook, 6)
		eventually(t, 10*time.Second, "webhook inactive again", func() bool { return hookOf(t, s, hook.ID).Status == models.WebhookInactive })
		time.Sleep(300 * time.Millisecond)
		if n := len(mail.messages()); n != 2 {
			t.Errorf("%d e-mails after the second deactivation within 10 minutes, want still 2", n)
		}
	})
}

// TestGone: 410 deactivates the webhook at once, cancels its other deliveries and mails.
func TestGone(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	mail := newSMTPServer(t)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusGone) })
	hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.RetryCount, h.FailureEmail = 4, str("oncall@example.com") })
	inAnHour := time.Now().Add(time.Hour)
	later := storetest.Deliveries(t, s, hook, 1, func(d *models.Delivery) { d.NextAttemptAt = &inAnHour })[0].ID
	start(t, worker.Config{Store: s, SMTPURL: "smtp://herald:pw@" + mail.addr, SMTPFrom: "herald@example.com"})
	id := newDeliveries(t, s, hook, 1)[0]
	eventually(t, 10*time.Second, "delivery failed", statusIs(t, s, id, models.DeliveryFailed))
	h := hookOf(t, s, hook.ID)
	if h.Status != models.WebhookInactive || h.InactiveReason == nil || !strings.Contains(*h.InactiveReason, "410") {
		t.Errorf("webhook %s, reason %v", h.Status, h.InactiveReason)
	}
	if d := deliveryOf(t, s, later); d.Status != models.DeliveryCancelled {
		t.Errorf("other delivery is %s", d.Status)
	}
	if rc.count() != 1 {
		t.Errorf("receiver got %d requests", rc.count())
	}
	eventually(t, 5*time.Second, "deactivation e-mail", func() bool { return len(mail.messages()) == 1 })
	if m := mail.messages()[0]; !strings.Contains(m, "deactivated") || !strings.Contains(m, hook.Name) {
		t.Errorf("e-mail:\n%s", m)
	}
}

// TestIsolation: a hanging endpoint holds at most its share of slots and never delays
// another webhook's delivery.
func TestIsolation(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	release := make(chan struct{})
	var hanging, maxHanging atomic.Int32
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		n := hanging.Add(1)
		defer hanging.Add(-1)
		for m := maxHanging.Load(); n > m && !maxHanging.CompareAndSwap(m, n); m = maxHanging.Load() {
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	fast := newReceiver(t, nil)
	slowHook := newHook(t, s, slow.URL, func(h *models.Webhook) { h.TimeoutSeconds = 30 })
	fastHook := newHook(t, s, fast.URL, nil)
	start(t, worker.Config{Store: s, Concurrency: 16, Grace: time.Second}) // cap 2 per webhook
	newDeliveries(t, s, slowHook, 20)
	eventually(t, 5*time.Second, "slow endpoint saturated", func() bool { return hanging.Load() == 2 })
	id := newDeliveries(t, s, fastHook, 1)[0]
	began := time.Now()
	eventually(t, 5*time.Second, "fast delivery", statusIs(t, s, id, models.DeliverySucceeded))
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("fast delivery took %v behind a hanging endpoint", d)
	}
	if m := maxHanging.Load(); m > 2 {
		t.Errorf("hanging endpoint held %d slots, cap is 2", m)
	}
}

// TestRedeliver: a finished delivery is sent again.
func TestRedeliver(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	rc := newReceiver(t, nil)
	hook := newHook(t, s, rc.URL, nil)
	w := start(t, worker.Config{Store: s})
	id := newDeliveries(t, s, hook, 1)[0]
	eventually(t, 10*time.Second, "delivered", statusIs(t, s, id, models.DeliverySucceeded))
	d, err := w.Redeliver(context.Background(), id)
	if err != nil || d.Status != models.DeliveryPending {
		t.Fatalf("redeliver: %+v, %v", d, err)
	}
	eventually(t, 10*time.Second, "delivered twice", func() bool { return rc.count() == 2 && deliveryOf(t, s, id).Status == models.DeliverySucceeded })
	if reqs := rc.all(); reqs[0].header.Get("Webhook-Id") != reqs[1].header.Get("Webhook-Id") {
		t.Errorf("webhook-id changed on redelivery")
	}
	if as := attemptsOf(t, s, id); len(as) != 2 || as[0].Number != 1 || as[1].Number != 2 {
		t.Errorf("attempts after a redelivery: %+v, want numbers 1 and 2", as)
	}
	if _, err := w.Redeliver(context.Background(), "nope"); models.ErrorCode(err) != models.CodeNotFound {
		t.Errorf("unknown delivery: %v", err)
	}
}

// TestRedeliverRetryBudget: a redelivered delivery gets its whole retry budget again, its
// attempts numbered on from the earlier ones.
func TestRedeliverRetryBudget(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(500) })
	hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.RetryCount = 1 })
	w := start(t, worker.Config{Store: s, RetryUnit: 50 * time.Millisecond})
	id := newDeliveries(t, s, hook, 1)[0]
	eventually(t, 10*time.Second, "failed", statusIs(t, s, id, models.DeliveryFailed))
	if _, err := w.Redeliver(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "failed again", func() bool {
		return len(attemptsOf(t, s, id)) == 4 && deliveryOf(t, s, id).Status == models.DeliveryFailed
	})
	as := attemptsOf(t, s, id)
	for i, a := range as {
		if a.Number != i+1 {
			t.Errorf("attempt %d is numbered %d", i+1, a.Number)
		}
	}
	if rc.count() != 4 {
		t.Errorf("%d requests, want 2 before and 2 after the redelivery", rc.count())
	}
}

// TestTestUnsaved: a test send of an unsaved specification uses the given secrets and is
// stored without webhook or delivery.
func TestTestUnsaved(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	rc := newReceiver(t, nil)
	w, err := worker.New(worker.Config{Store: s, AllowPrivateTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	hook := &models.Webhook{
		URLs: models.NewJSON([]string{rc.URL}), Method: http.MethodPost, AuthType: webhook.AuthBearer,
		SigningScheme: "NONE", SendDataUsing: webhook.SendBody, ContentType: webhook.ContentJSON,
		BodyTemplate: str(`{"t":"{{incident.title}}"}`), TimeoutSeconds: 3,
	}
	draft := &webhook.Sendable{Spec: webhook.Spec{
		URLs: hook.URLs.V, Method: hook.Method, Auth: webhook.Auth{Type: webhook.AuthBearer, Token: "abc"},
		Signing: webhook.Signing{Scheme: hook.SigningScheme}, SendDataUsing: hook.SendDataUsing, ContentType: hook.ContentType,
		BodyTemplate: hook.BodyTemplate, TimeoutSeconds: hook.TimeoutSeconds,
	}}
	a, err := w.Test(context.Background(), hook, draft, webhook.EventResolved)
	if err != nil {
		t.Fatal(err)
	}
	if a.Outcome != models.AttemptSucceeded || !a.Test || a.WebhookID != nil || a.DeliveryID != nil || a.Event != webhook.EventResolved {
		t.Errorf("attempt = %+v", a)
	}
	r := rc.all()[0]
	if r.header.Get("Authorization") != "Bearer abc" || !strings.HasPrefix(r.header.Get("Webhook-Id"), "test_") || !json.Valid(r.body) {
		t.Errorf("test request: %v %s", r.header, r.body)
	}
	var n int64
	s.DB().Model(&models.Attempt{}).Where("id = ? AND test = ?", a.ID, true).Count(&n)
	if n != 1 {
		t.Errorf("test attempt not stored")
	}
}

// TestDrain: cancelling Run lets the attempt in flight finish and record itself.
func TestDrain(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	entered := make(chan struct{}, 1)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		entered <- struct{}{}
		time.Sleep(300 * time.Millisecond)
	})
	hook := newHook(t, s, rc.URL, nil)
	id := stopWhileSending(t, worker.Config{Store: s}, hook, entered)
	if d := deliveryOf(t, s, id); d.Status != models.DeliverySucceeded || d.LeaseToken != nil {
		t.Errorf("after drain: %s, lease %v", d.Status, d.LeaseToken)
	}
}

// stopWhileSending runs a worker with cfg, queues one delivery of hook, stops the worker once
// the receiver signals entered, and returns the delivery's id after Run has returned.
func stopWhileSending(t *testing.T, cfg worker.Config, hook *models.Webhook, entered <-chan struct{}) string {
	t.Helper()
	cfg.AllowPrivateTargets, cfg.PollInterval = true, 20*time.Millisecond
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	id := newDeliveries(t, cfg.Store, hook, 1)[0]
	<-entered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	return id
}

// TestAbandonedAtGraceEnd: an attempt still waiting for its response when the grace period
// ends is cut short, but its request may have reached the receiver, so it is logged (FAILED,
// "abandoned") rather than forgotten; its delivery is due again at once and the cut-short
// attempt counts neither as a failure of the webhook nor against the delivery's retries.
func TestAbandonedAtGraceEnd(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			entered <- struct{}{}
			<-release
		}
	})
	hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.TimeoutSeconds = 30 })
	id := stopWhileSending(t, worker.Config{Store: s, Grace: 100 * time.Millisecond}, hook, entered)
	as := attemptsOf(t, s, id)
	if len(as) != 1 || as[0].Outcome != models.AttemptFailed || as[0].Error == nil || !strings.Contains(*as[0].Error, "abandoned") {
		t.Fatalf("attempts after the grace period: %+v, want one FAILED attempt saying it was abandoned", as)
	}
	d := deliveryOf(t, s, id)
	if d.Status != models.DeliveryPending || d.LeaseToken != nil || d.NextAttemptAt == nil || d.NextAttemptAt.After(time.Now()) {
		t.Errorf("delivery after the grace period: %s, lease %v, next %v; want PENDING, free, due now", d.Status, d.LeaseToken, d.NextAttemptAt)
	}
	if h := hookOf(t, s, hook.ID); h.ConsecutiveFailures != 0 {
		t.Errorf("the abandoned attempt counted as a failure of the webhook: %d", h.ConsecutiveFailures)
	}

	// The next worker sends it again (retryCount is 0: the cut-short attempt used no retry).
	start(t, worker.Config{Store: s})
	eventually(t, 10*time.Second, "delivery succeeded", statusIs(t, s, id, models.DeliverySucceeded))
	if as := attemptsOf(t, s, id); len(as) != 2 || as[1].Number != 2 {
		t.Errorf("attempts: %d, the last numbered %d; want 2 and 2", len(as), as[len(as)-1].Number)
	}
}

// TestDeliveryToARemovedURLIsNotSent: a delivery queued for a URL the webhook no longer has
// (a redelivery racing the update that removed it) is cancelled at claim, not sent.
func TestDeliveryToARemovedURLIsNotSent(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	gone := newReceiver(t, nil)
	kept := newReceiver(t, nil)
	hook := newHook(t, s, kept.URL, nil)
	id := storetest.Deliveries(t, s, hook, 1, func(d *models.Delivery) { d.URL = gone.URL })[0].ID
	start(t, worker.Config{Store: s})
	eventually(t, 10*time.Second, "delivery cancelled", statusIs(t, s, id, models.DeliveryCancelled))
	if gone.count()+kept.count() != 0 {
		t.Errorf("sent %d times to the removed URL and %d to the other, want none", gone.count(), kept.count())
	}
}

// TestDeleteExpiredLogs: the janitor's query removes old attempts and finished deliveries only.
func TestDeleteExpiredLogs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		hook := newHook(t, s, "http://127.0.0.1:1", nil)
		old := time.Now().UTC().Add(-800 * time.Hour)
		finished := func(d *models.Delivery) { d.Status, d.UpdatedAt = models.DeliverySucceeded, old }
		var ids []string
		for _, d := range storetest.Deliveries(t, s, hook, 3, finished) {
			ids = append(ids, d.ID)
		}
		ids = append(ids, newDeliveries(t, s, hook, 2)...)
		for _, id := range ids {
			a := &models.Attempt{ID: uuid.NewString(), DeliveryID: &id, WebhookID: &hook.ID, Event: webhook.EventCreated,
				Number: 1, Outcome: models.AttemptSucceeded, StartedAt: old}
			if id == ids[4] {
				a.StartedAt = time.Now().UTC()
			}
			if err := s.DB().Create(a).Error; err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteExpiredLogs(context.Background(), time.Now().UTC().Add(-720*time.Hour), 2)
		if err != nil {
			t.Fatal(err)
		}
		var deliveries, attempts int64
		s.DB().Model(&models.Delivery{}).Count(&deliveries)
		s.DB().Model(&models.Attempt{}).Count(&attempts)
		if deliveries != 2 || attempts != 1 || n != 7 {
			t.Errorf("left %d deliveries and %d attempts after deleting %d", deliveries, attempts, n)
		}
	})
}
