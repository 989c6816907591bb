package models_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// insertWebhook saves row past validation (see storetest.Webhook; these tests need only what
// fan-out reads), active and to https://example.com/hook unless it says otherwise, retrying 3
// times a minute apart with a 3 s timeout.
func insertWebhook(t *testing.T, s *models.Store, row models.Webhook) *models.Webhook {
	t.Helper()
	return storetest.Webhook(t, s, func(h *models.Webhook) {
		row.ID = h.ID
		if row.Name == "" {
			row.Name = h.ID
		}
		if row.Status == "" {
			row.Status = h.Status
		}
		if row.URLs.V == nil {
			row.URLs = h.URLs
		}
		row.Method, row.AuthType, row.SigningScheme = h.Method, h.AuthType, h.SigningScheme
		row.SendDataUsing, row.ContentType = h.SendDataUsing, h.ContentType
		row.RetryCount, row.RetryIntervalMinutes, row.TimeoutSeconds = 3, 1, 3
		*h = row
	})
}

func deliveriesOf(t *testing.T, s *models.Store, incidentID string) []models.Delivery {
	t.Helper()
	var ds []models.Delivery
	if err := s.DB().Where("incident_id = ?", incidentID).Order("id").Find(&ds).Error; err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestFanOutMatrix(t *testing.T) {
	t.Parallel()
	storetest.EachAt(t, time.Date(2026, 11, 22, 9, 5, 0, 0, time.UTC), func(t *testing.T, s *models.Store, _ *storetest.Clock) {
		w := newIncWorld(t, s)
		all := []string{webhook.EventCreated, webhook.EventAcknowledged, webhook.EventUnacknowledged, webhook.EventResolved, webhook.EventReassigned}
		cond := func(field, op, value string) *webhook.Filter {
			return &webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{{Field: field, Operator: op, Value: value}}}
		}
		type hook struct {
			scope   string
			target  string // "A", "B", "A1", "A2", "B1"
			events  []string
			filter  *webhook.Filter
			status  string
			urls    int
			matches []string // events of an incident on service A1 (team A) it receives
		}
		hooks := map[string]hook{
			"global all":             {scope: webhook.ScopeGlobal, events: all, urls: 1, matches: all},
			"global two urls":        {scope: webhook.ScopeGlobal, events: []string{webhook.EventCreated}, urls: 2, matches: []string{webhook.EventCreated}},
			"global inactive":        {scope: webhook.ScopeGlobal, events: all, status: models.WebhookInactive, urls: 1},
			"team A resolved":        {scope: webhook.ScopeTeam, target: "A", events: []string{webhook.EventResolved}, urls: 1, matches: []string{webhook.EventResolved}},
			"team B":                 {scope: webhook.ScopeTeam, target: "B", events: all, urls: 1},
			"service A1":             {scope: webhook.ScopeService, target: "A1", events: all, urls: 3, matches: all},
			"service A2":             {scope: webhook.ScopeService, target: "A2", events: all, urls: 1},
			"service B1":             {scope: webhook.ScopeService, target: "B1", events: all, urls: 1},
			"filter source matches":  {scope: webhook.ScopeGlobal, events: []string{webhook.EventCreated}, filter: cond(webhook.FilterAlertSource, webhook.FilterIs, "prometheus"), urls: 1, matches: []string{webhook.EventCreated}},
			"filter source fails":    {scope: webhook.ScopeGlobal, events: []string{webhook.EventCreated}, filter: cond(webhook.FilterAlertSource, webhook.FilterIs, "grafana"), urls: 1},
			"filter urgency low":     {scope: webhook.ScopeTeam, target: "A", events: all, filter: cond(webhook.FilterUrgency, webhook.FilterIs, "LOW"), urls: 1},
			"filter service is not":  {scope: webhook.ScopeTeam, target: "A", events: []string{webhook.EventAcknowledged}, filter: cond(webhook.FilterService, webhook.FilterIsNot, "search"), urls: 1, matches: []string{webhook.EventAcknowledged}},
			"filter service by name": {scope: webhook.ScopeGlobal, events: []string{webhook.EventReassigned}, filter: cond(webhook.FilterService, webhook.FilterIs, "checkout"), urls: 1, matches: []string{webhook.EventReassigned}},
		}
		ids := map[string]string{}
		for name, h := range hooks {
			row := models.Webhook{Name: name, Scope: h.scope, Events: models.NewJSON(h.events), Filter: models.NewJSON(h.filter), Status: h.status}
			switch h.target {
			case "A":
				row.TeamID = &w.teamA.ID
			case "B":
				row.TeamID = &w.teamB.ID
			case "A1":
				row.ServiceID, row.TeamID = &w.svcA1.ID, &w.teamA.ID
			case "A2":
				row.ServiceID, row.TeamID = &w.svcA2.ID, &w.teamA.ID
			case "B1":
				row.ServiceID, row.TeamID = &w.svcB1.ID, &w.teamB.ID
			}
			var urls []string
			for i := range h.urls {
				urls = append(urls, fmt.Sprintf("https://example.com/%d", i))
			}
			row.URLs = models.NewJSON(urls)
			ids[insertWebhook(t, s, row).ID] = name
		}

		source := "Prometheus"
		inc, err := s.CreateIncident(w.ctx, "Alice", models.NewIncident{ServiceID: w.svcA1.ID, Title: "Disk full", AlertSource: &source})
		if err != nil {
			t.Fatal(err)
		}
		steps := []func() (*models.Incident, error){
			func() (*models.Incident, error) { return s.AcknowledgeIncident(w.ctx, "Bob", inc.ID) },
			func() (*models.Incident, error) { return s.UnacknowledgeIncident(w.ctx, "Bob", inc.ID) },
			func() (*models.Incident, error) { return s.ReassignIncident(w.ctx, "Bob", inc.ID, w.bob.ID) },
			func() (*models.Incident, error) { return s.ResolveIncident(w.ctx, "Bob", inc.ID) },
		}
		for _, step := range steps {
			if _, err := step(); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]map[string]int{}
		for _, d := range deliveriesOf(t, s, inc.ID) {
			name := ids[d.WebhookID]
			if got[name] == nil {
				got[name] = map[string]int{}
			}
			got[name][d.Event]++
			if d.Status != models.DeliveryPending || d.NextAttemptAt == nil || d.Attempts != 0 {
				t.Errorf("%s: delivery %+v is not a due pending delivery", name, d)
			}
			snap := d.Snapshot.V
			if snap.IncidentID != inc.ID || snap.URL != "http://herald.test/incidents/"+inc.ID || snap.ServiceName != "checkout" ||
				snap.TeamName != w.teamA.Name || snap.AlertSource != "Prometheus" || snap.Title != "Disk full" {
				t.Errorf("%s: snapshot %+v", name, snap)
			}
			wantUser, wantStatus := "Bob", ""
			switch d.Event {
			case webhook.EventCreated:
				wantUser, wantStatus = "Alice", models.IncidentTriggered
			case webhook.EventAcknowledged:
				wantStatus = models.IncidentAcknowledged
			case webhook.EventUnacknowledged, webhook.EventReassigned:
				wantStatus = models.IncidentTriggered
			case webhook.EventResolved:
				wantStatus = models.IncidentResolved
			}
			if snap.User != wantUser || snap.Status != wantStatus {
				t.Errorf("%s %s: snapshot user %q status %q, want %q %q", name, d.Event, snap.User, snap.Status, wantUser, wantStatus)
			}
			if d.Event == webhook.EventReassigned || d.Event == webhook.EventResolved {
				if snap.Assignee != "Bob" {
					t.Errorf("%s %s: assignee %q, want Bob", name, d.Event, snap.Assignee)
				}
			} else if snap.Assignee != "" {
				t.Errorf("%s %s: assignee %q before the reassignment", name, d.Event, snap.Assignee)
			}
		}
		for name, h := range hooks {
			for _, ev := range all {
				want := 0
				if slices.Contains(h.matches, ev) {
					want = h.urls
				}
				if got[name][ev] != want {
					t.Errorf("%s / %s: %d deliveries, want %d", name, ev, got[name][ev], want)
				}
			}
		}
	})
}

// TestFanOutIsAtomic makes the delivery insert fail after the incident was written: neither
// the incident nor any delivery may remain, and the incident number is not burnt.
func TestFanOutIsAtomic(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated, webhook.EventResolved}),
			URLs: models.NewJSON([]string{"https://a.example/", "https://b.example/"})})
		inc := w.create(t, w.svcA1, "before")
		failing := []string{
			"CREATE TRIGGER fail_deliveries BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
		}
		undo := []string{"DROP TRIGGER fail_deliveries"}
		if s.Dialect() == models.DialectPostgres {
			failing = []string{
				"CREATE FUNCTION fail_deliveries() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
				"CREATE TRIGGER fail_deliveries BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION fail_deliveries()",
			}
			undo = []string{"DROP TRIGGER fail_deliveries ON deliveries"}
		}
		for _, q := range failing {
			if err := s.DB().Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.CreateIncident(w.ctx, "Alice", models.NewIncident{ServiceID: w.svcA1.ID, Title: "doomed"}); err == nil {
			t.Fatal("CreateIncident succeeded despite the failing delivery insert")
		}
		if _, err := s.ResolveIncident(w.ctx, "Alice", inc.ID); err == nil {
			t.Fatal("ResolveIncident succeeded despite the failing delivery insert")
		}
		res, err := s.Ingest(w.ctx, w.integration, "Prometheus", []byte(`{"commonLabels":{"alertname":"X"}}`))
		if err == nil {
			t.Fatalf("Ingest succeeded despite the failing delivery insert: %+v", res)
		}
		if n := countRows(t, s, &models.Incident{}, ""); n != 1 {
			t.Fatalf("%d incidents after failed creations, want 1", n)
		}
		if got, _ := s.FindIncidentByID(w.ctx, inc.ID); got.Status != models.IncidentTriggered || got.ResolvedAt != nil {
			t.Fatalf("the failed resolve changed the incident: %+v", got)
		}
		if n := countRows(t, s, &models.Delivery{}, ""); n != 2 {
			t.Fatalf("%d deliveries, want the 2 of the first incident", n)
		}
		for _, q := range undo {
			if err := s.DB().Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
		next := w.create(t, w.svcA1, "after")
		// SQLite numbers from the counters row, rolled back with the transaction; PostgreSQL
		// from a sequence, where a failed transaction leaves a gap (numbers stay unique).
		if want := "INC-2"; s.Dialect() == models.DialectSQLite && next.ID != want {
			t.Fatalf("next incident is %s, want %s (failed SQLite transactions must not burn numbers)", next.ID, want)
		}
		if next.Number <= inc.Number {
			t.Fatalf("next incident is %s after %s", next.ID, inc.ID)
		}
		if n := len(deliveriesOf(t, s, next.ID)); n != 2 {
			t.Fatalf("%d deliveries for %s, want 2", n, next.ID)
		}
	})
}

func TestFanOutWakesWorker(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		drain := func() bool {
			select {
			case <-s.Wakeups():
				return true
			default:
				return false
			}
		}
		drain()
		w.create(t, w.svcA1, "no webhooks")
		if drain() {
			t.Fatal("woken without deliveries")
		}
		insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: models.NewJSON([]string{webhook.EventCreated})})
		w.create(t, w.svcA1, "one webhook")
		if !drain() {
			t.Fatal("not woken after deliveries were committed")
		}
	})
}
