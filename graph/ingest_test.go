package graph

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

func TestIngestREST(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		team, _ := s.CreateTeam(ctx, storetest.Name("t"))
		svc, _ := s.CreateService(ctx, team.ID, "api")
		filter := models.APIFilter{TitleKey: "commonLabels.alertname", MappingKey: "groupKey", ResolveWhen: &models.Match{Key: "status", Value: "resolved"}}
		_, token, err := s.CreateIntegration(ctx, svc.ID, "Prometheus", filter)
		if err != nil {
			t.Fatal(err)
		}
		revoked, revokedToken, _ := s.CreateIntegration(ctx, svc.ID, "old", models.APIFilter{})
		if err := s.RevokeIntegration(ctx, revoked.ID); err != nil {
			t.Fatal(err)
		}
		r := &Resolver{Store: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		srv := httptest.NewServer(newIngestHandler(r, 1, 5))
		defer srv.Close()
		_, limitedToken, _ := s.CreateIntegration(ctx, svc.ID, "limited", models.APIFilter{})
		_, otherToken, _ := s.CreateIntegration(ctx, svc.ID, "other", models.APIFilter{})

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
				{"POST", "/v1/process?token=" + otherToken, "", strings.Repeat("x", MaxIngestBytes+1), 413, map[string]string{"code": "PAYLOAD_TOO_LARGE"}},
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
				req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
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
		models.CodeLimitExceeded, models.CodeInternal} {
		rec := httptest.NewRecorder()
		writeIngestError(rec, models.Errorf(code, "x"))
		if rec.Code < 400 || rec.Code > 599 {
			t.Errorf("%s → %d", code, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	writeIngestError(rec, io.ErrUnexpectedEOF)
	if rec.Code != 500 {
		t.Errorf("a plain error → %d, want 500", rec.Code)
	}
}
