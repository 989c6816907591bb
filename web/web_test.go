package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-hq/herald/web"
)

func TestHandlerServesPagesWithAStrictPolicy(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	tests := map[string]struct {
		path        string
		status      int
		contentType string
		body        string
	}{
		"graphiql":          {"/", 200, "text/html", `src="/static/vendor/graphiql.umd.js"`},
		"dashboard":         {"/dashboard", 200, "text/html", `src="/static/dashboard.js"`},
		"incident":          {"/incidents/INC-1", 200, "text/html", `src="/static/incident.js"`},
		"incident script":   {"/static/incident.js", 200, "text/javascript", "deliveryLog"},
		"no incident id":    {"/incidents/", 404, "", ""},
		"below an incident": {"/incidents/INC-1/x", 404, "", ""},
		"vendored script":   {"/static/vendor/graphql-ws.min.js", 200, "text/javascript", "graphqlWs"},
		"stylesheet":        {"/static/dashboard.css", 200, "text/css", ""},
		"unknown page":      {"/nope", 404, "", ""},
		"unknown file":      {"/static/nope.js", 404, "", ""},
		"folder":            {"/static/vendor/", 404, "", ""},
		"outside static":    {"/static/../web.go", 404, "", ""},
		"embedded go file":  {"/web.go", 404, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/", nil)
			req.URL.Path = tc.path
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("GET %s: status %d, want %d", tc.path, rec.Code, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tc.contentType)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("Content-Security-Policy %q allows unsafe sources", csp)
			}
			if !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("body lacks %q", tc.body)
			}
			// A second load revalidates and gets 304.
			again := httptest.NewRequest(http.MethodGet, req.URL.String(), nil)
			again.Header.Set("If-None-Match", rec.Header().Get("ETag"))
			rec2 := httptest.NewRecorder()
			h.ServeHTTP(rec2, again)
			if rec2.Code != http.StatusNotModified {
				t.Errorf("revalidation: status %d, want 304", rec2.Code)
			}
		})
	}
}

func TestHandlerKeepsAForgedHostOutOfThePolicy(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "evil.example; script-src *"
	rec := httptest.NewRecorder()
	web.Handler().ServeHTTP(rec, req)
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "evil") || !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}
