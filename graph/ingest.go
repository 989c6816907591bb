package graph

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/herald-hq/herald/models"
)

// Incoming API limits.
const (
	// MaxIngestBytes is the largest body /v1/process and /v1/request accept (413 beyond).
	MaxIngestBytes = 1 << 20
	// IngestRate and IngestBurst bound the requests of one integration per second.
	IngestRate  = 50
	IngestBurst = 100
	// maxIngestLimiters bounds the per-integration limiter map; when full it starts afresh.
	maxIngestLimiters = 10000
)

// ingestStatus is the one table from domain error codes to HTTP statuses of the REST API.
var ingestStatus = map[string]int{
	models.CodeUnauthenticated: http.StatusUnauthorized,
	models.CodeForbidden:       http.StatusForbidden,
	models.CodeNotFound:        http.StatusNotFound,
	models.CodeValidation:      http.StatusBadRequest,
	models.CodeLimitExceeded:   http.StatusTooManyRequests,
	models.CodeInternal:        http.StatusInternalServerError,
}

// ingestHandler serves the incoming REST API.
type ingestHandler struct {
	r     *Resolver
	limit rate.Limit
	burst int

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// IngestHandler returns the incoming REST API of SPEC §7: POST /v1/process creates or updates
// an incident, POST /v1/request creates a request. The integration token comes as
// `Authorization: Bearer TOKEN` or `?token=`, the alert source as `?from=`. Answers are JSON:
// 201 or 200 with {"action","incidentId"} (or {"action","requestId"}); errors
// {"error":{"code","message"}} with 401 (missing, unknown or revoked token), 405 (not POST),
// 413 (body over 1 MiB), 400 (unreadable body), 429 with Retry-After (over 50 requests a
// second per integration), 404 for another path.
func (r *Resolver) IngestHandler() http.Handler {
	return newIngestHandler(r, IngestRate, IngestBurst)
}

func newIngestHandler(r *Resolver, limit rate.Limit, burst int) *ingestHandler {
	return &ingestHandler{r: r, limit: limit, burst: burst, limiters: map[string]*rate.Limiter{}}
}

func (h *ingestHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != processPath && req.URL.Path != requestPath {
		writeIngestError(w, models.NotFound("endpoint"))
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeIngestJSON(w, http.StatusMethodNotAllowed, ingestErrorBody("METHOD_NOT_ALLOWED", "use POST"))
		return
	}
	ctx := req.Context()
	token := bearerToken(req.Header.Get("Authorization"))
	if token == "" {
		token = req.URL.Query().Get("token")
	}
	in, err := h.r.Store.FindIntegrationByToken(ctx, token)
	if err != nil {
		h.fail(w, req, err)
		return
	}
	if wait, ok := h.allow(in.ID); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeIngestError(w, models.Errorf(models.CodeLimitExceeded, "rate limit of this integration exceeded"))
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxIngestBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeIngestJSON(w, http.StatusRequestEntityTooLarge, ingestErrorBody("PAYLOAD_TOO_LARGE", "the body is larger than 1 MiB"))
		return
	case err != nil:
		writeIngestError(w, models.Invalid("body", "unreadable request body"))
		return
	}
	from := req.URL.Query().Get("from")
	if req.URL.Path == requestPath {
		rq, err := h.r.Store.IngestRequest(ctx, in, from, payload)
		if err != nil {
			h.fail(w, req, err)
			return
		}
		writeIngestJSON(w, http.StatusCreated, map[string]string{"action": models.IngestCreated, "requestId": rq.ID})
		return
	}
	res, err := h.r.Store.Ingest(ctx, in, from, payload)
	if err != nil {
		h.fail(w, req, err)
		return
	}
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
	writeIngestJSON(w, status, body)
}

// allow takes a token from the integration's limiter, or says how long to wait for one.
func (h *ingestHandler) allow(integrationID string) (time.Duration, bool) {
	h.mu.Lock()
	lim, ok := h.limiters[integrationID]
	if !ok {
		if len(h.limiters) >= maxIngestLimiters {
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

// fail answers a domain error with its status, and an internal one as 500 after logging it.
func (h *ingestHandler) fail(w http.ResponseWriter, req *http.Request, err error) {
	if models.ErrorCode(err) == models.CodeInternal {
		h.r.Logger.ErrorContext(req.Context(), "ingest failed", "path", req.URL.Path, "err", err)
		err = models.Errorf(models.CodeInternal, "internal error")
	}
	writeIngestError(w, err)
}

func writeIngestError(w http.ResponseWriter, err error) {
	code := models.ErrorCode(err)
	writeIngestJSON(w, ingestStatus[code], ingestErrorBody(code, err.Error()))
}

func ingestErrorBody(code, message string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}

func writeIngestJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
