package worker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/outcome"
	"github.com/herald-hq/herald/worker/egress"
)

// Error kinds stored on attempts; the values are the GraphQL AttemptErrorKind names.
const (
	KindTimeout       = "TIMEOUT"
	KindDNS           = "DNS"
	KindRefused       = "REFUSED"
	KindTLS           = "TLS"
	KindBlockedTarget = "BLOCKED_TARGET"
	KindConnection    = "CONNECTION"
	KindHTTPStatus    = "HTTP_STATUS"
)

var egressKinds = map[egress.Kind]string{
	egress.KindTimeout:    KindTimeout,
	egress.KindDNS:        KindDNS,
	egress.KindRefused:    KindRefused,
	egress.KindTLS:        KindTLS,
	egress.KindBlocked:    KindBlockedTarget,
	egress.KindConnection: KindConnection,
}

// Sender sends one formatted request of a webhook and builds its attempt's log row: the
// delivery loop sends through it (a Worker is a Sender with a queue), and a process that only
// serves the API builds one, and no worker, for test sends.
type Sender struct {
	store   *models.Store
	log     *slog.Logger
	client  *http.Client
	metrics *Metrics
	now     func() time.Time
	baseURL string
}

// NewSender returns a Sender from cfg's Store, Logger, Client (or AllowPrivateTargets),
// Metrics, NowFunc and BaseURL; the rest of cfg is the worker's. Errors: a missing store.
func NewSender(cfg Config) (*Sender, error) {
	if cfg.Store == nil {
		return nil, errors.New("worker: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = cfg.Store.Now
	}
	if cfg.Client == nil {
		cfg.Client = egress.New(egress.Options{AllowPrivate: cfg.AllowPrivateTargets})
	}
	if cfg.Metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		cfg.Metrics = m
	}
	return &Sender{store: cfg.Store, log: cfg.Logger, client: cfg.Client, metrics: cfg.Metrics, now: cfg.NowFunc, baseURL: cfg.BaseURL}, nil
}

// result is what one attempt produced.
type result struct {
	attempt *models.Attempt
	// status is the HTTP status, 0 without a response.
	status int
	// retryAfter is the delay a 429 or 503 asked for, already capped.
	retryAfter time.Duration
}

// attempt sends req (or records formatErr, the reason it could not be built) and builds the
// attempt's log row, not yet stored. A request cut at its limit is sent as it is, marked on
// the row and logged on log as a warning.
func (s *Sender) attempt(ctx context.Context, log *slog.Logger, hook *models.Webhook, req *webhook.Request, formatErr error, number int) *result {
	start := s.now()
	a := &models.Attempt{
		Number:    number,
		StartedAt: start,
		Outcome:   models.AttemptFailed,
	}
	res := &result{attempt: a}
	if formatErr != nil {
		a.Request = models.NewJSON(webhook.RequestLog{Method: hook.Method, URL: "", Headers: []webhook.KV{}})
		a.Error = ptr(formatErr.Error())
		s.metrics.attempts.WithLabelValues(a.Outcome).Inc()
		return res
	}
	a.Request, a.Truncated = models.NewJSON(req.Log), req.Truncated
	if req.Truncated {
		part := "body"
		if hook.SendDataUsing == webhook.SendQueryParams {
			part = "query"
		}
		log.Warn("request cut at limit", "part", part)
	}

	timeout := time.Duration(hook.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Duration(webhook.DefaultTimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, remoteIP := egress.WithTrace(ctx)

	began := time.Now()
	resp, cut, err := s.send(ctx, req)
	elapsed := time.Since(began)
	a.DurationMs = int(elapsed / time.Millisecond)
	if ip := remoteIP(); ip != "" {
		a.RemoteIP = &ip
	}
	if err != nil {
		kind := egressKinds[egress.Classify(err)]
		if kind == "" {
			kind = KindConnection
		}
		a.ErrorKind = &kind
		a.Error = ptr(sendError(err, req))
	} else {
		res.status = resp.Status
		a.Response, a.ResponseTruncated = models.NewJSON(resp), cut
		if resp.Status >= 200 && resp.Status < 300 {
			a.Outcome = models.AttemptSucceeded
		} else {
			kind := KindHTTPStatus
			a.ErrorKind = &kind
			a.Error = ptr("HTTP " + strconv.Itoa(resp.Status) + " " + http.StatusText(resp.Status))
			if resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusServiceUnavailable {
				res.retryAfter = outcome.RetryAfter(headerValue(resp.Headers, "Retry-After"), s.now())
			}
		}
	}
	s.metrics.observe(a.Outcome, elapsed)
	return res
}

// sendError is the text of a failed send with the URL as the request log shows it: net/http
// quotes the URL it was given, and an API key placed in the query must not reach the attempt
// log, the server log or a failure e-mail.
func sendError(err error, req *webhook.Request) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		shown := *ue
		shown.URL = req.Log.URL
		err = &shown
	}
	return strings.ReplaceAll(err.Error(), req.URL, req.Log.URL)
}

// send performs req and reads the response's first 16 KiB, with the request's credentials
// hidden wherever the receiver sent them back. The bool reports that the body kept is shorter
// than what the receiver sent or meant to send.
func (s *Sender) send(ctx context.Context, r *webhook.Request) (*models.ResponseLog, bool, error) {
	var body io.Reader = http.NoBody
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, false, err
	}
	req.Header = r.Header.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	// Read as far as a credential starting just before the cut could reach, so that it is
	// hidden whole before the body is cut.
	b, cut := egress.ReadBody(resp.Body, egress.MaxResponseBody+r.LongestEcho())
	shown := r.HideCredentials(string(b))
	if cut {
		shown = r.HideCredentialStart(shown)
	}
	if len(shown) > egress.MaxResponseBody {
		shown, cut = shown[:egress.MaxResponseBody], true
	}
	names := make([]string, 0, len(resp.Header))
	for name := range resp.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	headers := make([]webhook.KV, 0, len(names))
	for _, name := range names {
		for _, v := range resp.Header[name] {
			headers = append(headers, webhook.KV{Name: name, Value: r.HideCredentials(v)})
		}
	}
	return &models.ResponseLog{Status: resp.StatusCode, Headers: headers, Body: shown}, cut, nil
}

func headerValue(h []webhook.KV, name string) string {
	for _, kv := range h {
		if http.CanonicalHeaderKey(kv.Name) == http.CanonicalHeaderKey(name) {
			return kv.Value
		}
	}
	return ""
}
