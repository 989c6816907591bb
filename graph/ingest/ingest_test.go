package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/storetest"
)

func TestIngestREST(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		team, _ := s.CreateTeam(ctx, storetest.Name("t"))
		svc, _ := s.CreateService(ctx, team.ID, "api")
		filter := payload.APIFilter{TitleKey: "commonLabels.alertname", MappingKey: "groupKey", ResolveWhen: &payload.Match{Key: "status", Value: "resolved"}}
		_, token, err := s.CreateIntegration(ctx, svc.ID, "Prometheus", filter)
		if err != nil {
			t.Fatal(err)
		}
		revoked, revokedToken, _ := s.CreateIntegration(ctx, svc.ID, "old", payload.APIFilter{})
		if err := s.RevokeIntegration(ctx, revoked.ID); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(newHandler(s, slog.New(slog.NewTextHandler(io.Discard, nil)), 1, 5))
		defer srv.Close()
		_, limitedToken, _ := s.CreateIntegration(ctx, svc.ID, "limited", payload.APIFilter{})
		_, otherToken, _ := s.CreateIntegration(ctx, svc.ID, "other", payload.APIFilter{})

		type call struct {
			method, path, auth, body string
			status                   int
			want                     map[string]string
		}
		firing := `{"status":"firing","groupKey":"g1","commonLabels":{"alertname":"Down"}}`
		calls := map[string][]call{
			"create, map, resolve, ignore": {
				{"POST", "/v1/process?from=Prometheus", "Bearer " + token, firing, 201, map[string]string{"action": "created", "incidentId": "INC-1"}},
				{"POST", "/v1/process?token=" + token, "", firing, 200, map[string]string{"action": "mapped", "incidentId": "INC-1"}},
				{"POST", "/v1/process?token=" + token, "", `{"status":"resolved","groupKey":"g1"}`, 200, map[string]string{"action": "resolved", "incidentId": "INC-1"}},
				{"POST", "/v1/process?token=" + token, "", `{"status":"resolved","groupKey":"g1"}`, 200, map[string]string{"action": "ignored"}},
				{"POST", "/v1/request?from=Jira", "bearer " + token, "need access", 201, map[string]string{"action": "created"}},
			},
			"errors": {
				{"POST", "/v1/process", "", firing, 401, map[string]string{"code": "UNAUTHENTICATED"}},
				{"POST", "/v1/process", "Bearer hri_wrong", firing, 401, map[string]string{"code": "UNAUTHENTICATED"}},
				{"POST", "/v1/process?token=" + revokedToken, "", firing, 401, map[string]string{"code": "UNAUTHENTICATED"}},
				{"POST", "/v1/request", "Bearer " + revokedToken, firing, 401, map[string]string{"code": "UNAUTHENTICATED"}},
				{"GET", "/v1/process?token=" + token, "", "", 405, map[string]string{"code": "METHOD_NOT_ALLOWED"}},
				{"PUT", "/v1/request?token=" + token, "", "", 405, map[string]string{"code": "METHOD_NOT_ALLOWED"}},
				{"POST", "/v1/process?token=" + otherToken, "", strings.Repeat("x", MaxBodyBytes+1), 413, map[string]string{"code": "PAYLOAD_TOO_LARGE"}},
				{"POST", "/v1/other?token=" + token, "", "", 404, map[string]string{"code": "NOT_FOUND"}},
			},
			"rate limit": {
				{"POST", "/v1/request?token=" + limitedToken, "", "a", 201, nil},
				{"POST", "/v1/request?token=" + limitedToken, "", "b", 201, nil},
				{"POST", "/v1/request?token=" + limitedToken, "", "c", 201, nil},
				{"POST", "/v1/request?token=" + limitedToken, "", "c", 201, nil},
				{"POST", "/v1/request?token=" + limitedToken, "", "c", 201, nil},
				{"POST", "/v1/request?token=" + limitedToken, "", "d", 429, map[string]string{"code": "LIMIT_EXCEEDED"}},
			},
		}
		for _, name := range []string{"create, map, resolve, ignore", "errors", "rate limit"} {
			for i, c := range calls[name] {
				resp := ingestCall(t, srv.URL, c.method, c.path, c.auth, c.body)
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("%s #%d: %d %s %v, want %d", name, i, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status)
				}
				fields := body
				if e, ok := body["error"].(map[string]any); ok {
					fields = e
				}
				for k, v := range c.want {
					if fields[k] != v {
						t.Fatalf("%s #%d: %s = %v, want %s (%v)", name, i, k, fields[k], v, body)
					}
				}
				switch c.status {
				case 429:
					if resp.Header.Get("Retry-After") == "" {
						t.Fatalf("429 without Retry-After")
					}
				case 405:
					if resp.Header.Get("Allow") != "POST" {
						t.Fatalf("405 without Allow: POST")
					}
				}
			}
		}
		inc, err := s.FindIncidentByID(ctx, "INC-1")
		if err != nil || inc.Title != "Prometheus - Down" || inc.Status != models.IncidentResolved {
			t.Fatalf("INC-1 = %+v, %v", inc, err)
		}
		rs, _ := s.ListRequests(ctx, nil, nil, 0, "")
		if len(rs) != 6 || rs[5].Title != "Request from Jira" || *rs[5].Description != "need access" {
			t.Fatalf("%d requests, want 6 with the Jira one first", len(rs))
		}
		if n, _ := s.ListIncidents(ctx, models.IncidentFilter{}, 0, ""); len(n) != 1 {
			t.Fatalf("%d incidents, want 1 (the errors created none)", len(n))
		}
	})
}

func TestIngestStatusTable(t *testing.T) {
	t.Parallel()
	for _, code := range []string{models.CodeUnauthenticated, models.CodeForbidden, models.CodeNotFound, models.CodeValidation,
		models.CodeLimitExceeded, models.CodeUnavailable, models.CodeInternal} {
		rec := httptest.NewRecorder()
		writeError(rec, models.Errorf(code, "x"))
		if rec.Code < 400 || rec.Code > 599 {
			t.Errorf("%s → %d", code, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	writeError(rec, errors.New("plain"))
	if rec.Code != 500 {
		t.Errorf("a plain error → %d, want 500", rec.Code)
	}
}

// ingestCall sends one request to the incoming API at base, with auth as its Authorization
// header when set; the caller closes the answer's body.
func ingestCall(t *testing.T, base, method, path, auth, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// lockedBuffer is a log destination the handler writes to while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records written so far.
func (b *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		out = append(out, r)
	}
	return out
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestIngestLogs: every refused request is logged at INFO with its status, the reason, the
// path, `from` and the remote address, never the token; an accepted one at DEBUG with the
// integration, the incident or request and the outcome, and not at all at INFO. Logging does
// not depend on the database, so SQLite is enough.
func TestIngestLogs(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	ctx := context.Background()
	team, _ := s.CreateTeam(ctx, storetest.Name("t"))
	svc, _ := s.CreateService(ctx, team.ID, "api")
	in, token, err := s.CreateIntegration(ctx, svc.ID, "Prometheus", payload.APIFilter{})
	if err != nil {
		t.Fatal(err)
	}
	revoked, revokedToken, _ := s.CreateIntegration(ctx, svc.ID, "old", payload.APIFilter{})
	if err := s.RevokeIntegration(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	limited, limitedToken, _ := s.CreateIntegration(ctx, svc.ID, "limited", payload.APIFilter{})
	other, otherToken, _ := s.CreateIntegration(ctx, svc.ID, "other", payload.APIFilter{})

	type call struct {
		method, path, auth, body string
		status                   int
		level, msg               string
		attrs                    map[string]any
	}
	calls := []call{
		{"POST", "/v1/process?from=Grafana", "", "{}", 401, "INFO", "ingest refused",
			map[string]any{"reason": "missing integration token", "code": "UNAUTHENTICATED"}},
		{"POST", "/v1/process?from=Grafana&token=hri_unknown_secret", "", "{}", 401, "INFO", "ingest refused",
			map[string]any{"reason": "unknown integration token"}},
		{"POST", "/v1/request?from=Grafana", "Bearer " + revokedToken, "{}", 401, "INFO", "ingest refused",
			map[string]any{"reason": "integration token revoked", "path": "/v1/request"}},
		{"GET", "/v1/process?from=Grafana&token=" + token, "", "", 405, "INFO", "ingest refused",
			map[string]any{"reason": "use POST", "code": "METHOD_NOT_ALLOWED"}},
		{"POST", "/v1/process?from=Grafana&token=" + otherToken, "", strings.Repeat("x", MaxBodyBytes+1), 413, "INFO", "ingest refused",
			map[string]any{"code": "PAYLOAD_TOO_LARGE", "integration_id": other.ID}},
		{"POST", "/v1/request?from=Grafana&token=" + limitedToken, "", "a", 201, "DEBUG", "ingest accepted",
			map[string]any{"integration_id": limited.ID, "action": "created"}},
		{"POST", "/v1/request?from=Grafana&token=" + limitedToken, "", "b", 429, "INFO", "ingest refused",
			map[string]any{"code": "LIMIT_EXCEEDED", "integration_id": limited.ID}},
		{"POST", "/v1/process?from=Grafana", "Bearer " + token, `{"a":1}`, 201, "DEBUG", "ingest accepted",
			map[string]any{"integration_id": in.ID, "incident_id": "INC-1", "action": "created"}},
	}
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			var logs lockedBuffer
			srv := httptest.NewServer(newHandler(s, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level})), 1, 1))
			defer srv.Close()
			for i, c := range calls {
				if c.status == 201 && c.attrs["incident_id"] != nil && level != slog.LevelDebug {
					// INC-1 exists after the DEBUG run; the INFO run creates INC-2.
					c.attrs = map[string]any{"incident_id": "INC-2"}
				}
				before := len(logs.records(t))
				resp := ingestCall(t, srv.URL, c.method, c.path, c.auth, c.body)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != c.status {
					t.Fatalf("#%d: status %d, want %d", i, resp.StatusCode, c.status)
				}
				recs := logs.records(t)[before:]
				if c.level == "DEBUG" && level != slog.LevelDebug {
					if len(recs) != 0 {
						t.Errorf("#%d: accepted request logged at %s: %v", i, level, recs)
					}
					continue
				}
				if len(recs) != 1 {
					t.Fatalf("#%d: %d log records, want 1: %v", i, len(recs), recs)
				}
				rec := recs[0]
				want := map[string]any{"level": c.level, "msg": c.msg, "from": "Grafana", "path": strings.SplitN(c.path, "?", 2)[0]}
				if c.level == "INFO" {
					want["status"] = float64(c.status)
				}
				for k, v := range c.attrs {
					want[k] = v
				}
				for k, v := range want {
					if rec[k] != v {
						t.Errorf("#%d: %s = %v, want %v (%v)", i, k, rec[k], v, rec)
					}
				}
				if a, _ := rec["remote_addr"].(string); !strings.HasPrefix(a, "127.0.0.1:") {
					t.Errorf("#%d: remote_addr = %v", i, rec["remote_addr"])
				}
				if rec["reason"] == nil && c.level == "INFO" {
					t.Errorf("#%d: no reason: %v", i, rec)
				}
			}
			for _, secret := range []string{token, revokedToken, limitedToken, otherToken, "hri_unknown_secret"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("a token appears in the logs:\n%s", logs.String())
				}
			}
		})
	}
}

// TestIngestRefusalLogIsBounded: a client hammering with a wrong token gets every answer, but
// the log keeps to its rate; the next line logged says how many refusals it left out.
func TestIngestRefusalLogIsBounded(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	srv := httptest.NewServer(newHandler(storetest.Open(t, models.DialectSQLite), slog.New(slog.NewJSONHandler(&logs, nil)), DefaultRate, DefaultBurst))
	defer srv.Close()
	post := func() {
		resp, err := http.Post(srv.URL+"/v1/process?token=hri_wrong", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	const hammer = 4 * refusalLogBurst
	for range hammer {
		post()
	}
	logged := len(logs.records(t))
	if logged >= hammer || logged < refusalLogBurst {
		t.Fatalf("%d lines for %d refusals, want from %d to fewer than %d", logged, hammer, refusalLogBurst, hammer)
	}
	time.Sleep(2 * time.Second / refusalLogRate)
	post()
	// Every refusal is either a line or counted in a later line's "suppressed".
	recs := logs.records(t)
	accounted := 0
	for _, rec := range recs {
		n, _ := rec["suppressed"].(float64)
		accounted += 1 + int(n)
	}
	if accounted != hammer+1 {
		t.Errorf("%d lines account for %d refusals, want %d", len(recs), accounted, hammer+1)
	}
}

// TestIngestAcceptedLogAllocatesNothingAtInfo: logging an accepted request costs the busy path
// no allocation while DEBUG is off. Not parallel: AllocsPerRun counts the whole process's.
func TestIngestAcceptedLogAllocatesNothingAtInfo(t *testing.T) {
	h := newHandler(nil, slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})), DefaultRate, DefaultBurst)
	req := httptest.NewRequest(http.MethodPost, "/v1/process?from=Grafana", nil)
	if n := testing.AllocsPerRun(100, func() {
		h.logAccepted(req, "integration", "Grafana", models.IngestCreated, "incident_id", "INC-1", "")
	}); n != 0 {
		t.Errorf("%v allocations per accepted request at INFO, want 0", n)
	}
}
