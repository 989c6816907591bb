// Package ingest is Herald's incoming REST API (SPEC §7), the way other tools raise
// incidents: POST /v1/process creates or updates an incident and POST /v1/request creates a
// request, each authenticated by an integration's token. It owns those two endpoints, their
// status table (the one mapping of domain error codes to HTTP statuses on the REST edge), their
// per-integration rate limits and the bounded logging of what they refuse.
//
// It must not do GraphQL: the API's owner, package graph, serves that and only borrows the
// endpoints' paths (an integration's URLs) and BearerToken from here. Nor does it talk SQL or
// apply the API filter: the store ingests.
package ingest

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/herald-hq/herald/models"
)

// Incoming API limits.
const (
	// MaxBodyBytes is the largest body /v1/process and /v1/request accept (413 beyond).
	MaxBodyBytes = 1 << 20
	// DefaultRate and DefaultBurst are the defaults of HERALD_INGEST_RATE (requests a second of
	// one integration) and HERALD_INGEST_BURST (how many of them may come at once).
	DefaultRate  = 50
	DefaultBurst = 100
	// maxLimiters bounds the per-integration limiter map; when full it starts afresh.
	maxLimiters = 10000
	// refusalLogRate and refusalLogBurst bound the "ingest refused" log lines per second: a
	// client hammering with a wrong token or far over its rate must not flood the log.
	refusalLogRate  = 10
	refusalLogBurst = 20
	// unavailableRetryAfter is the Retry-After, in seconds, of a 503 while the database cannot
	// be reached.
	unavailableRetryAfter = 5
)

// The endpoints' paths, relative to the base URL: what an integration's URLs end with.
const (
	ProcessPath = "/v1/process"
	RequestPath = "/v1/request"
)

// statusOf is the one table from domain error codes to HTTP statuses of the REST API.
var statusOf = map[string]int{
	models.CodeUnauthenticated: http.StatusUnauthorized,
	models.CodeForbidden:       http.StatusForbidden,
	models.CodeNotFound:        http.StatusNotFound,
	models.CodeValidation:      http.StatusBadRequest,
	models.CodeLimitExceeded:   http.StatusTooManyRequests,
	models.CodeUnavailable:     http.StatusServiceUnavailable,
	models.CodeInternal:        http.StatusInternalServerError,
}

// handler serves the incoming REST API.
type handler struct {
	store  *models.Store
	logger *slog.Logger
	limit  rate.Limit
	burst  int

	mu       sync.Mutex
	limiters map[string]*rate.Limiter

	// refusalLog bounds the refusals logged; suppressed counts those left out since the last
	// line, which reports them.
	refusalLog *rate.Limiter
	suppressed atomic.Int64
}

// NewHandler returns the incoming REST API of SPEC §7: POST /v1/process creates or updates
// an incident, POST /v1/request creates a request. The integration token comes as
// `Authorization: Bearer TOKEN` or `?token=`, the alert source as `?from=`. Answers are JSON:
// 201 or 200 with {"action","incidentId"} (or {"action","requestId"}); errors
// {"error":{"code","message"}} with 401 (missing, unknown or revoked token), 405 (not POST),
// 413 (body over 1 MiB), 400 (unreadable body), 429 with Retry-After (over perSecond requests
// a second per integration, in bursts of at most burst), 503 with Retry-After while the
// database cannot be reached (the request was not stored: send it again), 404 for another
// path. Each refused request is logged at INFO with its reason to logger, each accepted one at
// DEBUG; never the token.
func NewHandler(store *models.Store, logger *slog.Logger, perSecond float64, burst int) http.Handler {
	return newHandler(store, logger, rate.Limit(perSecond), burst)
}

func newHandler(store *models.Store, logger *slog.Logger, limit rate.Limit, burst int) *handler {
	return &handler{store: store, logger: logger, limit: limit, burst: burst, limiters: map[string]*rate.Limiter{},
		refusalLog: rate.NewLimiter(refusalLogRate, refusalLogBurst)}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != ProcessPath && req.URL.Path != RequestPath {
		h.fail(w, req, "", models.NotFound("endpoint"))
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, req, "", http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST")
		return
	}
	ctx := req.Context()
	token := BearerToken(req.Header.Get("Authorization"))
	if token == "" {
		token = req.URL.Query().Get("token")
	}
	in, err := h.store.FindIntegrationByToken(ctx, token)
	if err != nil {
		h.fail(w, req, "", err)
		return
	}
	if wait, ok := h.allow(in.ID); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		h.fail(w, req, in.ID, models.Errorf(models.CodeLimitExceeded, "rate limit of this integration exceeded"))
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		h.refuse(w, req, in.ID, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "the body is larger than 1 MiB")
		return
	case err != nil:
		h.fail(w, req, in.ID, models.Invalid("body", "unreadable request body"))
		return
	}
	from := req.URL.Query().Get("from")
	if req.URL.Path == RequestPath {
		rq, err := h.store.IngestRequest(ctx, in, from, payload)
		if err != nil {
			h.fail(w, req, in.ID, err)
			return
		}
		h.logAccepted(req, in.ID, from, models.IngestCreated, "request_id", rq.ID, "")
		writeJSON(w, http.StatusCreated, map[string]string{"action": models.IngestCreated, "requestId": rq.ID})
		return
	}
	res, err := h.store.Ingest(ctx, in, from, payload)
	if err != nil {
		h.fail(w, req, in.ID, err)
		return
	}
	h.logAccepted(req, in.ID, from, res.Action, "incident_id", res.IncidentID, res.Message)
	body := map[string]string{"action": res.Action}
	if res.IncidentID != "" {
		body["incidentId"] = res.IncidentID
	}
	if res.Message != "" {
		body["message"] = res.Message
	}
	status := http.StatusOK
	if res.Action == models.IngestCreated {
		status = http.StatusCreated
	}
	writeJSON(w, status, body)
}

// allow takes a token from the integration's limiter, or says how long to wait for one.
func (h *handler) allow(integrationID string) (time.Duration, bool) {
	h.mu.Lock()
	lim, ok := h.limiters[integrationID]
	if !ok {
		if len(h.limiters) >= maxLimiters {
			h.limiters = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(h.limit, h.burst)
		h.limiters[integrationID] = lim
	}
	h.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return max(d, time.Second), false
	}
	return 0, true
}

// fail answers a domain error with its status (see refuse), UNAVAILABLE with a Retry-After,
// and an internal error as 500 after logging it at ERROR. integrationID is empty until the
// token is known.
func (h *handler) fail(w http.ResponseWriter, req *http.Request, integrationID string, err error) {
	de := models.DomainError(err)
	switch {
	case de == nil || de.Code == models.CodeInternal:
		h.logger.LogAttrs(req.Context(), slog.LevelError, "ingest failed",
			append(requestAttrs(req, integrationID), slog.Any("err", err))...)
		writeError(w, models.Errorf(models.CodeInternal, "internal error"))
		return
	case de.Code == models.CodeUnavailable:
		// err is the driver's: the caller is told the domain error's message only.
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
		err = de
	}
	h.refuse(w, req, integrationID, statusOf[de.Code], de.Code, err.Error())
}

// refuse answers a refused request and logs it at INFO with the reason: an operator whose
// alerts do not arrive finds why in the log. Only the refused path pays for the attributes.
// Beyond refusalLogRate lines a second the refusals are counted instead, and the next line
// logged says how many were left out ("suppressed").
func (h *handler) refuse(w http.ResponseWriter, req *http.Request, integrationID string, status int, code, reason string) {
	if h.refusalLog.Allow() {
		attrs := append(requestAttrs(req, integrationID),
			slog.Int("status", status), slog.String("code", code), slog.String("reason", reason))
		if n := h.suppressed.Swap(0); n > 0 {
			attrs = append(attrs, slog.Int64("suppressed", n))
		}
		h.logger.LogAttrs(req.Context(), slog.LevelInfo, "ingest refused", attrs...)
	} else {
		h.suppressed.Add(1)
	}
	writeJSON(w, status, errorBody(code, reason))
}

// requestAttrs describes a request of the incoming API for the log. The token is never among
// them: the path is logged without its query, and the Authorization header not at all.
func requestAttrs(req *http.Request, integrationID string) []slog.Attr {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("method", req.Method),
		slog.String("path", req.URL.Path),
		slog.String("from", req.URL.Query().Get("from")),
		slog.String("remote_addr", req.RemoteAddr))
	if integrationID != "" {
		attrs = append(attrs, slog.String("integration_id", integrationID))
	}
	return attrs
}

// logAccepted logs an accepted request at DEBUG: what it did, to which incident (idKey
// incident_id) or request (request_id). It is on the busy path, so it allocates nothing unless
// DEBUG is on.
func (h *handler) logAccepted(req *http.Request, integrationID, from, action, idKey, id, message string) {
	ctx := req.Context()
	if !h.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("path", req.URL.Path),
		slog.String("from", from),
		slog.String("remote_addr", req.RemoteAddr),
		slog.String("integration_id", integrationID),
		slog.String("action", action),
	}
	if id != "" {
		attrs = append(attrs, slog.String(idKey, id))
	}
	if message != "" {
		attrs = append(attrs, slog.String("message", message))
	}
	h.logger.LogAttrs(ctx, slog.LevelDebug, "ingest accepted", attrs...)
}

func writeError(w http.ResponseWriter, err error) {
	code := models.ErrorCode(err)
	writeJSON(w, statusOf[code], errorBody(code, err.Error()))
}

func errorBody(code, message string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// BearerToken takes the token out of an Authorization value ("Bearer TOKEN"), "" when there is
// none. The GraphQL API reads its callers' API tokens with it too.
func BearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
