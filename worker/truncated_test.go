package worker_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/worker"
)

// logBuffer collects log lines written by several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// truncated lists whether each attempt was cut.
func truncated(as []*models.Attempt) []bool {
	out := make([]bool, len(as))
	for i, a := range as {
		out[i] = a.Truncated
	}
	return out
}

// lines returns the lines holding every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for line := range strings.Lines(b.buf.String()) {
		if !strings.Contains(line, "level=WARN") {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// TestTruncatedAttempts: a real delivery whose rendered body passes 20,000 characters sends
// the first 20,000 and its attempt says so, as do its redelivery, a test send of a template
// that long and a delivery whose query string passes 10,000; a delivery within the limits says
// it was not cut. Each cut attempt logs one warning naming the part.
func TestTruncatedAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.Open(t, models.DialectSQLite)
	rc, rcQuery := newReceiver(t, nil), newReceiver(t, nil)
	hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.BodyTemplate = str(`{"d":"{{incident.description}}"}`) })
	queryHook := newHook(t, s, rcQuery.URL, func(h *models.Webhook) {
		h.Method, h.SendDataUsing = http.MethodGet, webhook.SendQueryParams
		h.QueryParams = models.NewJSON([]webhook.KV{{Name: "d", Value: "{{incident.description}}"}})
	})
	team, err := s.CreateTeam(ctx, storetest.Name("team"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := s.CreateService(ctx, team.ID, "payments")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	w := start(t, worker.Config{Store: s, Logger: slog.New(slog.NewTextHandler(logs, nil))})

	// incidentDeliveries opens an incident and returns its delivered deliveries by webhook.
	incidentDeliveries := func(description string) map[string]*models.Delivery {
		t.Helper()
		inc, err := s.CreateIncident(ctx, "Ada", models.NewIncident{ServiceID: svc.ID, Title: "Disk full", Description: &description})
		if err != nil {
			t.Fatal(err)
		}
		var ds []*models.Delivery
		if err := s.DB().Where("incident_id = ?", inc.ID).Find(&ds).Error; err != nil || len(ds) != 2 {
			t.Fatalf("the incident's deliveries: %d, %v", len(ds), err)
		}
		byHook := map[string]*models.Delivery{}
		for _, d := range ds {
			eventually(t, 10*time.Second, "delivery succeeded", statusIs(t, s, d.ID, models.DeliverySucceeded))
			byHook[d.WebhookID] = d
		}
		return byHook
	}

	longs := incidentDeliveries(strings.Repeat("x", 25000))
	long, longQuery := longs[hook.ID], longs[queryHook.ID]
	body := rc.all()[0].body
	if n := utf8.RuneCount(body); n != 20000 || !strings.HasPrefix(string(body), `{"d":"xxx`) {
		t.Errorf("receiver got %d characters (%.20s…), want the first 20,000", n, body)
	}
	if got := truncated(attemptsOf(t, s, long.ID)); len(got) != 1 || !got[0] {
		t.Errorf("attempts of the long body cut: %v, want [true]", got)
	}
	query := strings.TrimPrefix(rcQuery.all()[0].url, "/?")
	if n := utf8.RuneCountInString(query); n != 10000 || !strings.HasPrefix(query, "d=xxx") {
		t.Errorf("receiver got a query of %d characters (%.20s…), want the first 10,000", n, query)
	}
	if got := truncated(attemptsOf(t, s, longQuery.ID)); len(got) != 1 || !got[0] {
		t.Errorf("attempts of the long query cut: %v, want [true]", got)
	}
	shorts := incidentDeliveries("a short one")
	for _, d := range shorts {
		if got := truncated(attemptsOf(t, s, d.ID)); len(got) != 1 || got[0] {
			t.Errorf("attempts of a short request cut: %v, want [false]", got)
		}
	}

	if _, err := w.Redeliver(ctx, long.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "redelivered", func() bool { return len(attemptsOf(t, s, long.ID)) == 2 })
	if got := truncated(attemptsOf(t, s, long.ID)); !got[1] {
		t.Errorf("attempts of the redelivered long body cut: %v, want [true true]", got)
	}

	hook.BodyTemplate = str(`{"d":"` + strings.Repeat("y", 25000) + `"}`)
	a, err := w.Test(ctx, hook, nil, webhook.EventCreated)
	if err != nil {
		t.Fatal(err)
	}
	var stored models.Attempt
	if err := s.DB().Where("id = ?", a.ID).Take(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if !a.Truncated || !stored.Truncated {
		t.Errorf("test send: answered truncated %v, stored %v", a.Truncated, stored.Truncated)
	}

	for _, c := range []struct {
		d    *models.Delivery
		part string
		want int
	}{
		{long, "body", 2}, {longQuery, "query", 1}, {shorts[hook.ID], "", 0}, {shorts[queryHook.ID], "", 0},
	} {
		got := logs.lines(`msg="request cut at limit"`, "delivery_id="+c.d.ID, "webhook_id="+c.d.WebhookID, "part="+c.part)
		if len(got) != c.want {
			t.Errorf("delivery %s: %d warnings, want %d:\n%s", c.d.ID, len(got), c.want, strings.Join(got, ""))
		}
	}
	if got := logs.lines(`msg="request cut at limit"`, "delivery_id=test_"); len(got) != 1 {
		t.Errorf("test send: %d warnings, want 1", len(got))
	}
}

// TestResponseTruncated sends test requests to real receivers and reads the attempts back: the
// response body is marked cut when it passed 16 KiB, when a 2xx body was still arriving at the
// timeout, and when the connection ended before the declared length; a whole body, 16 KiB
// exactly included, is not.
func TestResponseTruncated(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		respond  http.HandlerFunc
		wantBody int
		wantCut  bool
	}{
		"short": {func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }, 2, false},
		"exactly 16 KiB": {func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("a"), 16<<10))
		}, 16 << 10, false},
		"over 16 KiB": {func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("a"), 20000))
		}, 16 << 10, true},
		"still arriving at the timeout": {func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the rest never comes; Herald hangs up at its timeout
		}, 7, true},
		"shorter than its Content-Length": {func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("ten bytes!"))
		}, 10, true},
	}
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := start(t, worker.Config{Store: s})
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) { tc.respond(w, r) })
				hook := newHook(t, s, rc.URL, func(h *models.Webhook) { h.TimeoutSeconds = 1 })
				a, err := w.Test(context.Background(), hook, nil, webhook.EventCreated)
				if err != nil {
					t.Fatal(err)
				}
				var stored models.Attempt
				if err := s.DB().Where("id = ?", a.ID).Take(&stored).Error; err != nil {
					t.Fatal(err)
				}
				if stored.Outcome != models.AttemptSucceeded || stored.Response.V == nil {
					t.Fatalf("attempt %s, response %v; want SUCCEEDED with a response (%v)", stored.Outcome, stored.Response.V, stored.Error)
				}
				if n := len(stored.Response.V.Body); n != tc.wantBody || stored.ResponseTruncated != tc.wantCut || a.ResponseTruncated != tc.wantCut {
					t.Errorf("body %d bytes, truncated %v (answered %v); want %d, %v", n, stored.ResponseTruncated, a.ResponseTruncated, tc.wantBody, tc.wantCut)
				}
			})
		}
	})
}
