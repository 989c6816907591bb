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
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/worker"
)

// statusChange is one webhookStatusChanged result as the tests read it.
type statusChange struct {
	Webhook struct{ ID, Status string }
	Status  string
	Reason  *string
	Actor   *string
	At      time.Time
}

const statusQuery = `subscription($w: ID, $t: ID) { webhookStatusChanged(webhookId: $w, teamId: $t) { webhook { id status } status reason actor at } }`

// subscribeStatus starts webhookStatusChanged with vars on a connection of its own.
func (w *logWorld) subscribeStatus(t *testing.T, token string, vars map[string]any) *wsClient {
	t.Helper()
	return w.subscribeTo(t, token, statusQuery, vars)
}

// statusChanges collects the changes streamed within the time given, failing on errors.
func statusChanges(t *testing.T, c *wsClient, within time.Duration) []statusChange {
	t.Helper()
	var out []statusChange
	timeout := time.After(within)
	for {
		select {
		case m, ok := <-c.C:
			if !ok {
				t.Fatalf("connection ended: %v", c.Err)
			}
			switch m.Type {
			case "next":
				var p struct {
					Data struct {
						Change *statusChange `json:"webhookStatusChanged"`
					}
					Errors []struct{ Message string }
				}
				must(t, json.Unmarshal(m.Payload, &p))
				if len(p.Errors) > 0 || p.Data.Change == nil {
					t.Fatalf("result %s", m.Payload)
				}
				out = append(out, *p.Data.Change)
			case "error", "complete":
				t.Fatalf("subscription ended: %s %s", m.Type, m.Payload)
			}
		case <-timeout:
			return out
		}
	}
}

// waitListening returns once the store's PostgreSQL listener (if any) hears announcements:
// an attempt made until one reaches a deliveryLog subscriber.
func (w *logWorld) waitListening(t *testing.T) {
	t.Helper()
	probe := w.subscribe(t, w.admin, "")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		w.attempt(t, w.hookA)
		if ids, _ := received(t, probe, 200*time.Millisecond); len(ids) > 0 {
			return
		}
	}
	t.Fatal("the listener heard nothing within 10s")
}

// TestWebhookStatusChangedManual: a manager's deactivateWebhook and activateWebhook are
// streamed, with the manager's name as actor, to those who may see the webhook and whose
// filter selects it, and to nobody else.
func TestWebhookStatusChangedManual(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupLogWorld(t, s)
		listenCtx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		go s.Listen(listenCtx)
		w.waitListening(t)

		admin := w.subscribeStatus(t, w.admin, nil)
		manager := w.subscribeStatus(t, w.managerA, map[string]any{"w": w.hookA})
		byTeam := w.subscribeStatus(t, w.admin, map[string]any{"t": w.teamA})
		member := w.subscribeStatus(t, w.memberB, nil)
		otherHook := w.subscribeStatus(t, w.admin, map[string]any{"w": w.hookB})
		waitFor(t, func() bool { return s.StatusHub().Len() == 5 })

		before := time.Now().Add(-time.Second)
		for _, op := range []string{"deactivateWebhook", "activateWebhook"} {
			if _, codes := w.post(t, w.managerA, `mutation($id: ID!) { `+op+`(id: $id) { id } }`, map[string]any{"id": w.hookA}); len(codes) > 0 {
				t.Fatalf("%s: %v", op, codes)
			}
		}
		name := models.RoleTeamManager + "-user"
		for label, c := range map[string]*wsClient{"admin": admin, "manager": manager, "team filter": byTeam} {
			got := statusChanges(t, c, 2*time.Second)
			if len(got) != 2 {
				t.Fatalf("%s got %+v, want two changes", label, got)
			}
			off, on := got[0], got[1]
			if off.Webhook.ID != w.hookA || off.Status != models.WebhookInactive ||
				off.Reason == nil || *off.Reason != "deactivated by "+name || off.Actor == nil || *off.Actor != name || off.At.Before(before) {
				t.Errorf("%s: deactivation %+v", label, off)
			}
			if on.Webhook.ID != w.hookA || on.Status != models.WebhookActive || on.Reason != nil || on.Actor == nil || *on.Actor != name {
				t.Errorf("%s: activation %+v", label, on)
			}
		}
		for label, c := range map[string]*wsClient{"member of B": member, "filter on another webhook": otherHook} {
			if got := statusChanges(t, c, 500*time.Millisecond); len(got) > 0 {
				t.Errorf("%s got %+v, want nothing", label, got)
			}
		}
	})
}

// TestWebhookStatusChangedRefusals: the filter is authorised like deliveryLog's.
func TestWebhookStatusChangedRefusals(t *testing.T) {
	t.Parallel()
	w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
	for name, tc := range map[string]struct {
		token string
		vars  map[string]any
		code  string
	}{
		"another team's webhook": {w.memberB, map[string]any{"w": w.hookA}, models.CodeForbidden},
		"a global webhook":       {w.managerA, map[string]any{"w": w.hookGlobal}, models.CodeForbidden},
		"another team":           {w.memberB, map[string]any{"t": w.teamA}, models.CodeForbidden},
		"an unknown webhook":     {w.admin, map[string]any{"w": "nope"}, models.CodeNotFound},
	} {
		c := w.subscribeStatus(t, tc.token, tc.vars)
		select {
		case m := <-c.C:
			if m.Type != "next" || !strings.Contains(string(m.Payload), `"code":"`+tc.code+`"`) {
				t.Errorf("%s: got %s %s, want %s", name, m.Type, m.Payload, tc.code)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: no answer", name)
		}
	}
}

// TestWebhookStatusChangedAutomatic: a receiver answering 410 once, or 500 six times in a
// row, makes the running worker deactivate the webhook; the change is streamed with its
// reason and no actor to its team's manager, and not to another team's member.
func TestWebhookStatusChangedAutomatic(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		status, incidents int
		reason            string
	}{
		"410":          {http.StatusGone, 1, "410"},
		"six failures": {http.StatusInternalServerError, 6, "6 consecutive"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, s *models.Store) {
				ctx := context.Background()
				receiver := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
					rw.WriteHeader(tc.status)
				}))
				defer receiver.Close()
				w := setupLogWorld(t, s)
				svc, err := s.CreateService(ctx, w.teamA, "api")
				must(t, err)
				h, _, err := s.CreateWebhook(ctx, webhook.Spec{
					Name: "failing", Scope: webhook.ScopeTeam, TeamID: &w.teamA, Events: []string{webhook.EventCreated},
					URLs: []string{receiver.URL}, Method: "POST", Auth: webhook.Auth{Type: "NONE"},
					Signing: webhook.Signing{Scheme: "NONE"}, SendDataUsing: "BODY", ContentType: "JSON",
					RetryCount: 0, RetryIntervalMinutes: 1, TimeoutSeconds: 3,
				})
				must(t, err)
				logger := slog.New(slog.NewTextHandler(io.Discard, nil))
				wrk, err := worker.New(worker.Config{Store: s, Logger: logger, AllowPrivateTargets: true, PollInterval: 50 * time.Millisecond})
				must(t, err)
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- wrk.Run(runCtx) }()
				defer func() {
					cancel()
					if err := <-done; err != nil {
						t.Errorf("run: %v", err)
					}
				}()
				go s.Listen(runCtx)
				w.waitListening(t)

				manager := w.subscribeStatus(t, w.managerA, map[string]any{"w": h.ID})
				member := w.subscribeStatus(t, w.memberB, nil)
				waitFor(t, func() bool { return s.StatusHub().Len() == 2 })
				for range tc.incidents {
					_, err = s.CreateIncident(ctx, "test", models.NewIncident{ServiceID: svc.ID, Title: "Disk full"})
					must(t, err)
				}

				got := statusChanges(t, manager, 5*time.Second)
				if len(got) != 1 || got[0].Webhook.ID != h.ID || got[0].Status != models.WebhookInactive ||
					got[0].Reason == nil || !strings.Contains(*got[0].Reason, tc.reason) || got[0].Actor != nil {
					t.Fatalf("manager got %+v, want one deactivation (%s) without actor", got, tc.reason)
				}
				if got := statusChanges(t, member, 500*time.Millisecond); len(got) > 0 {
					t.Errorf("member of B got %+v, want nothing", got)
				}
			})
		})
	}
}

// TestWebhookStatusChangedAcrossReplicas: on PostgreSQL, a deactivation made through a second
// store on the same database (another replica) reaches a subscriber of the first.
func TestWebhookStatusChangedAcrossReplicas(t *testing.T) {
	t.Parallel()
	dbURL := storetest.URL(t, models.DialectPostgres)
	s1, s2 := storetest.OpenURL(t, dbURL), storetest.OpenURL(t, dbURL)
	w := setupLogWorld(t, s1)
	listenCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go s1.Listen(listenCtx)
	w.waitListening(t)

	admin := w.subscribeStatus(t, w.admin, nil)
	member := w.subscribeStatus(t, w.memberB, nil)
	waitFor(t, func() bool { return s1.StatusHub().Len() == 2 })
	if _, err := s2.DeactivateWebhook(context.Background(), w.hookA, "deactivated by replica", "replica-admin"); err != nil {
		t.Fatal(err)
	}
	got := statusChanges(t, admin, 3*time.Second)
	if len(got) != 1 || got[0].Webhook.ID != w.hookA || got[0].Status != models.WebhookInactive ||
		got[0].Actor == nil || *got[0].Actor != "replica-admin" {
		t.Fatalf("admin got %+v, want the other replica's deactivation", got)
	}
	if got := statusChanges(t, member, 500*time.Millisecond); len(got) > 0 {
		t.Errorf("member of B got %+v, want nothing", got)
	}
}
