package models_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ingest(t *testing.T, s *models.Store, in *models.Integration, from string, body []byte) *models.IngestResult {
	t.Helper()
	res, err := s.Ingest(context.Background(), in, from, body)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

// TestIngestAlertmanager feeds Alertmanager's own payloads (firing, repeat, resolved) through
// an integration set up as the README says.
func TestIngestAlertmanager(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeService, ServiceID: &w.svcA1.ID, TeamID: &w.teamA.ID,
			Events: models.NewJSON([]string{webhook.EventCreated, webhook.EventResolved})})

		res := ingest(t, s, w.integration, "Prometheus", readFixture(t, "alertmanager_firing.json"))
		if res.Action != models.IngestCreated || res.IncidentID != "INC-1" {
			t.Fatalf("firing: %+v", res)
		}
		inc, _ := s.FindIncidentByID(w.ctx, "INC-1")
		if inc.Title != "Prometheus - HighLatency" || *inc.AlertSource != "Prometheus" || inc.Urgency != webhook.UrgencyHigh ||
			*inc.Description != "p99 latency of the api job has been above 2s for 5 minutes." ||
			*inc.MappedWith != `{}/{alertname="HighLatency"}:{alertname="HighLatency", job="api"}` {
			t.Fatalf("incident = %+v", inc)
		}
		if res := ingest(t, s, w.integration, "Prometheus", readFixture(t, "alertmanager_repeat.json")); res.Action != models.IngestMapped || res.IncidentID != "INC-1" {
			t.Fatalf("repeat: %+v", res)
		}
		if res := ingest(t, s, w.integration, "Prometheus", readFixture(t, "alertmanager_resolved.json")); res.Action != models.IngestResolved || res.IncidentID != "INC-1" {
			t.Fatalf("resolved: %+v", res)
		}
		if inc, _ := s.FindIncidentByID(w.ctx, "INC-1"); inc.Status != models.IncidentResolved {
			t.Fatalf("status after resolve payload: %s", inc.Status)
		}
		if res := ingest(t, s, w.integration, "Prometheus", readFixture(t, "alertmanager_resolved.json")); res.Action != models.IngestIgnored || res.IncidentID != "" || res.Message == "" {
			t.Fatalf("second resolved: %+v", res)
		}
		if res := ingest(t, s, w.integration, "Prometheus", readFixture(t, "alertmanager_firing.json")); res.Action != models.IngestCreated || res.IncidentID != "INC-2" {
			t.Fatalf("firing again after resolution: %+v", res)
		}
		if n := countRows(t, s, &models.Incident{}, ""); n != 2 {
			t.Fatalf("%d incidents, want 2", n)
		}
		ds := deliveriesOf(t, s, "INC-1")
		if len(ds) != 2 || ds[0].Event != webhook.EventCreated || ds[1].Event != webhook.EventResolved || ds[1].Snapshot.V.User != "Prometheus" {
			t.Fatalf("deliveries of INC-1 = %+v", ds)
		}
	})
}

func TestIngestMapping(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		f := payload.APIFilter{
			TitleKey:        "title",
			MappingKey:      "key",
			ResolveWhen:     &payload.Match{Key: "state", Value: "ok"},
			AcknowledgeWhen: &payload.Match{Key: "state", Value: "ack"},
			UrgencyKey:      "urgency",
		}
		inA1, _, err := s.CreateIntegration(w.ctx, w.svcA1.ID, "Tool", f)
		if err != nil {
			t.Fatal(err)
		}
		inB1, _, err := s.CreateIntegration(w.ctx, w.svcB1.ID, "Tool", f)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			in      *models.Integration
			payload string
			action  string
			id      string
		}{
			{inA1, `{"key":"k1","state":"ack"}`, models.IngestIgnored, ""},
			{inA1, `{"key":"k1","state":"ok"}`, models.IngestIgnored, ""},
			{inA1, `{"key":"k1","title":"T","urgency":"low"}`, models.IngestCreated, "INC-1"},
			{inA1, `{"key":"k1"}`, models.IngestMapped, "INC-1"},
			{inB1, `{"key":"k1"}`, models.IngestCreated, "INC-2"}, // same key, other service
			{inA1, `{"key":"k1","state":"ACK"}`, models.IngestAcknowledged, "INC-1"},
			{inA1, `{"key":"k1","state":"ack"}`, models.IngestMapped, "INC-1"},
			{inA1, `{"key":"k1","state":"ok"}`, models.IngestResolved, "INC-1"},
			{inA1, `{"key":"k1"}`, models.IngestCreated, "INC-3"},
			{inA1, `{"title":"no key"}`, models.IngestCreated, "INC-4"},
			{inA1, `{"title":"no key"}`, models.IngestCreated, "INC-5"},
			{inA1, `not json at all`, models.IngestCreated, "INC-6"},
			{inA1, `{"key":"k1","state":"ok"}`, models.IngestResolved, "INC-3"},
		}
		for i, tc := range tests {
			res := ingest(t, s, tc.in, "", []byte(tc.payload))
			if res.Action != tc.action || res.IncidentID != tc.id {
				t.Fatalf("step %d (%s): %+v, want %s %s", i, tc.payload, res, tc.action, tc.id)
			}
		}
		inc, _ := s.FindIncidentByID(w.ctx, "INC-1")
		if inc.Title != "T" || inc.Urgency != webhook.UrgencyLow || inc.AlertSource != nil || inc.AcknowledgedAt == nil || inc.ResolvedAt == nil {
			t.Fatalf("INC-1 = %+v", inc)
		}
		if inc, _ := s.FindIncidentByID(w.ctx, "INC-6"); inc.Title != "Incident from unknown source" || *inc.Description != "not json at all" {
			t.Fatalf("INC-6 = %+v", inc)
		}
	})
}

// TestCreateIntegrationMatchNeedsMapping checks that an integration whose resolveWhen or
// acknowledgeWhen could never find its incident, for want of a mappingKey, is refused.
func TestCreateIntegrationMatchNeedsMapping(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		before := countRows(t, s, &models.Integration{}, "")
		for name, f := range map[string]payload.APIFilter{
			"resolveWhen":     {TitleKey: "title", ResolveWhen: &payload.Match{Key: "status", Value: "resolved"}},
			"acknowledgeWhen": {AcknowledgeWhen: &payload.Match{Key: "status", Value: "ack"}},
		} {
			_, _, err := s.CreateIntegration(w.ctx, w.svcA1.ID, "Tool", f)
			wantWebhookErr(t, err, models.CodeValidation, "apiFilter.mappingKey")
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%s: message %q does not name %s", name, err.Error(), name)
			}
		}
		if after := countRows(t, s, &models.Integration{}, ""); after != before {
			t.Fatalf("%d integrations saved by refused creates", after-before)
		}
	})
}

// TestUpdateIntegration: an integration's filter can be corrected without a new token — the
// sender goes on posting with the one it has, and the new filter applies at once; a bad
// filter or a revoked integration is refused and nothing changes.
func TestUpdateIntegration(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		in, token, err := s.CreateIntegration(w.ctx, w.svcA1.ID, "Tool", payload.APIFilter{TitleKey: "title"})
		if err != nil {
			t.Fatal(err)
		}
		fixed := payload.APIFilter{TitleKey: "title", MappingKey: "key", ResolveWhen: &payload.Match{Key: "state", Value: "ok"}}
		name := "  Alertmanager "
		got, err := s.UpdateIntegration(w.ctx, in.ID, &name, &fixed)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Alertmanager" || got.APIFilter.V.MappingKey != "key" {
			t.Errorf("after update: %q %+v", got.Name, got.APIFilter.V)
		}
		same, err := s.FindIntegrationByToken(w.ctx, token)
		if err != nil || same.ID != in.ID || same.APIFilter.V.ResolveWhen == nil {
			t.Fatalf("the token after the update: %+v, %v", same, err)
		}
		if res, err := s.Ingest(w.ctx, same, "tool", []byte(`{"title":"disk","key":"k1"}`)); err != nil || res.Action != models.IngestCreated {
			t.Fatalf("firing: %+v, %v", res, err)
		}
		if res, err := s.Ingest(w.ctx, same, "tool", []byte(`{"title":"disk","key":"k1","state":"ok"}`)); err != nil || res.Action != models.IngestResolved {
			t.Fatalf("resolve with the new filter: %+v, %v", res, err)
		}

		_, err = s.UpdateIntegration(w.ctx, in.ID, nil, &payload.APIFilter{ResolveWhen: &payload.Match{Key: "state", Value: "ok"}})
		wantWebhookErr(t, err, models.CodeValidation, "apiFilter.mappingKey")
		blank := " "
		_, err = s.UpdateIntegration(w.ctx, in.ID, &blank, nil)
		wantWebhookErr(t, err, models.CodeValidation, "name")
		if kept, _ := s.FindIntegrationByID(w.ctx, in.ID); kept.Name != "Alertmanager" || kept.APIFilter.V.MappingKey != "key" {
			t.Errorf("a refused update changed the integration: %q %+v", kept.Name, kept.APIFilter.V)
		}
		if err := s.RevokeIntegration(w.ctx, in.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.UpdateIntegration(w.ctx, in.ID, &name, nil)
		wantWebhookErr(t, err, models.CodeValidation, "id")
		_, err = s.UpdateIntegration(w.ctx, "nope", &name, nil)
		wantCode(t, err, models.CodeNotFound)
	})
}

func TestIngestLanguageAndRequests(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			s, err := models.Open(context.Background(), models.Options{
				DatabaseURL: storetest.URL(t, dialect), SecretKey: storetest.Key, BaseURL: "http://herald.test",
				Language: "de", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			w := newIncWorld(t, s)
			res := ingest(t, s, w.integration, "Zabbix", []byte("PROBLEM"))
			inc, _ := s.FindIncidentByID(w.ctx, res.IncidentID)
			if inc.Title != "Vorfall von Zabbix" {
				t.Fatalf("title = %q", inc.Title)
			}
			r1, err := s.IngestRequest(w.ctx, w.integration, "", []byte(`{"need":"access"}`))
			if err != nil || r1.Title != "Anfrage aus unbekannter Quelle" || *r1.Description != `{"need":"access"}` || r1.AlertSource != nil {
				t.Fatalf("request = %+v, %v", r1, err)
			}
			r2, err := s.IngestRequest(w.ctx, w.integration, "Jira", []byte("x\x00y"))
			if err != nil || r2.Title != "Anfrage von Jira" || *r2.Description != "xy" || *r2.AlertSource != "Jira" {
				t.Fatalf("request = %+v, %v", r2, err)
			}
			list, err := s.ListRequests(w.ctx, nil, []string{w.teamA.ID}, 0, "")
			if err != nil || len(list) != 2 || list[0].ID != r2.ID {
				t.Fatalf("ListRequests = %v, %v", list, err)
			}
			list, _ = s.ListRequests(w.ctx, nil, nil, 1, r2.ID)
			if len(list) != 1 || list[0].ID != r1.ID {
				t.Fatalf("second page = %v", list)
			}
			list, _ = s.ListRequests(w.ctx, &w.svcB1.ID, nil, 0, "")
			if len(list) != 0 {
				t.Fatalf("service B1 requests = %v", list)
			}
		})
	}
}

// FuzzIngestRules checks the pure ingest rules on arbitrary payloads and paths: no panic, the
// generated texts are storable and bounded, urgency is HIGH or LOW.
func FuzzIngestRules(f *testing.F) {
	f.Add(readFixture(f, "alertmanager_firing.json"), "commonLabels.alertname", "Prometheus")
	f.Add([]byte(`{"a":[{"b":"c"}]}`), `a.#(b=="c").b`, "")
	f.Add([]byte("\xff\x00"), "a|b", "x\x00")
	f.Fuzz(func(t *testing.T, body []byte, path, from string) {
		filter := payload.APIFilter{TitleKey: path, DescriptionKey: path, UrgencyKey: path, MappingKey: path}
		_ = payload.Validate(filter)
		source := payload.CleanSource(from)
		title := payload.Title("en", source, body, filter)
		for _, s := range []string{source, title, payload.Description(body, filter), payload.MappingValue(body, filter)} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("%q is not storable text", s)
			}
		}
		if utf8.RuneCountInString(title) > 500 || title == "" {
			t.Fatalf("title %q", title)
		}
		if len(payload.MappingValue(body, filter)) > 200 {
			t.Fatal("mapping value too long to index")
		}
		if u := payload.Urgency(body, filter); u != webhook.UrgencyHigh && u != webhook.UrgencyLow {
			t.Fatalf("urgency %q", u)
		}
		_ = payload.Matches(body, &payload.Match{Key: path, Value: from})
	})
}

// FuzzIngest sends arbitrary payloads through arbitrary API filters: nothing panics, a filter
// is either refused or usable, and every ingest leaves either a whole incident (with its
// deliveries) or nothing.
func FuzzIngest(f *testing.F) {
	for _, name := range []string{"alertmanager_firing.json", "alertmanager_repeat.json", "alertmanager_resolved.json"} {
		f.Add(readFixture(f, name), "commonLabels.alertname", "groupKey", "status", "resolved", "Prometheus")
	}
	f.Add([]byte(`{"a":{"b":"c"}}`), "a.b", "a", "a.b", "c", "")
	f.Add([]byte("not json \x00 \xff"), `alerts.#(x=="y").n`, "k", "s", "v", "src\r\n")
	f.Add([]byte(`[1,2,3]`), "#", "0", "1", "2", "")
	f.Add([]byte(`{"t":"`+string(make([]byte, 300))+`"}`), "t", "t", "t", "x", "s")
	s := storetest.Open(f, models.DialectSQLite)
	ctx := context.Background()
	team, err := s.CreateTeam(ctx, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	svc, err := s.CreateService(ctx, team.ID, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	storetest.Webhook(f, s, func(h *models.Webhook) {
		h.ID, h.Name = "fuzz-hook", "fuzz"
		h.Events = models.NewJSON([]string{webhook.EventCreated, webhook.EventAcknowledged, webhook.EventResolved})
		h.URLs = models.NewJSON([]string{"https://example.com/"})
		h.RetryCount, h.TimeoutSeconds = 3, 3
	})
	f.Fuzz(func(t *testing.T, body []byte, titleKey, mappingKey, resolveKey, resolveValue, from string) {
		filter := payload.APIFilter{TitleKey: titleKey, DescriptionKey: titleKey, UrgencyKey: resolveKey, MappingKey: mappingKey}
		if resolveKey != "" || resolveValue != "" {
			filter.ResolveWhen = &payload.Match{Key: resolveKey, Value: resolveValue}
			filter.AcknowledgeWhen = &payload.Match{Key: mappingKey, Value: resolveValue}
		}
		in, _, err := s.CreateIntegration(ctx, svc.ID, "fuzz", filter)
		if err != nil {
			if models.ErrorCode(err) != models.CodeValidation {
				t.Fatalf("CreateIntegration: %v", err)
			}
			in = &models.Integration{ID: "fuzz", ServiceID: svc.ID, Name: "fuzz", APIFilter: models.NewJSON(filter)}
		}
		before := countRows(t, s, &models.Incident{}, "")
		res, err := s.Ingest(ctx, in, from, body)
		if err != nil {
			t.Fatalf("Ingest: %v", err)
		}
		after := countRows(t, s, &models.Incident{}, "")
		switch res.Action {
		case models.IngestCreated:
			if after != before+1 {
				t.Fatalf("created, but %d → %d incidents", before, after)
			}
			if n := len(deliveriesOf(t, s, res.IncidentID)); n != 1 {
				t.Fatalf("created %s with %d deliveries, want 1", res.IncidentID, n)
			}
		case models.IngestMapped, models.IngestAcknowledged, models.IngestResolved, models.IngestIgnored:
			if after != before {
				t.Fatalf("%s, but %d → %d incidents", res.Action, before, after)
			}
		default:
			t.Fatalf("unknown action %q", res.Action)
		}
		if _, err := s.IngestRequest(ctx, in, from, body); err != nil {
			t.Fatalf("IngestRequest: %v", err)
		}
	})
}

// TestIngestConcurrentAlerts sends many alerts at once, as a busy Alertmanager does: on
// PostgreSQL they share ingest transactions, yet each gets its own incident, number,
// snapshot and deliveries, and an alert for a service that is gone fails alone.
func TestIngestConcurrentAlerts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		filter := payload.APIFilter{TitleKey: "title"}
		inA1, _, err := s.CreateIntegration(w.ctx, w.svcA1.ID, "Grafana", filter)
		if err != nil {
			t.Fatal(err)
		}
		inA2, _, err := s.CreateIntegration(w.ctx, w.svcA2.ID, "Zabbix", filter)
		if err != nil {
			t.Fatal(err)
		}
		created := models.NewJSON([]string{webhook.EventCreated})
		team := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeTeam, TeamID: &w.teamA.ID, Events: created})
		svcA1 := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeService, ServiceID: &w.svcA1.ID, TeamID: &w.teamA.ID, Events: created})
		insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeService, ServiceID: &w.svcB1.ID, TeamID: &w.teamB.ID, Events: created})
		search := &webhook.Filter{Join: webhook.FilterAnd, Conditions: []webhook.Condition{{Field: webhook.FilterService, Operator: webhook.FilterIs, Value: "search"}}}
		global := insertWebhook(t, s, models.Webhook{Scope: webhook.ScopeGlobal, Events: created, Filter: models.NewJSON(search)})
		gone := *inA1
		gone.ServiceID = "no-such-service"

		const alerts = 60
		type outcome struct {
			title string
			in    *models.Integration
			res   *models.IngestResult
			err   error
		}
		out := make([]outcome, alerts+1)
		var wg sync.WaitGroup
		for i := range out {
			in := inA1
			switch {
			case i == alerts:
				in = &gone
			case i%3 == 0:
				in = inA2
			}
			out[i] = outcome{title: fmt.Sprintf("alert %d", i), in: in}
			wg.Go(func() {
				out[i].res, out[i].err = s.Ingest(w.ctx, in, "", fmt.Appendf(nil, `{"title":%q}`, out[i].title))
			})
		}
		wg.Wait()

		wantCode(t, out[alerts].err, models.CodeNotFound)
		numbers := map[int64]bool{}
		for _, o := range out[:alerts] {
			if o.err != nil || o.res.Action != models.IngestCreated {
				t.Fatalf("%s: %+v, %v", o.title, o.res, o.err)
			}
			inc, err := s.FindIncidentByID(w.ctx, o.res.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			if inc.Title != o.title || inc.ServiceID != o.in.ServiceID || inc.TeamID != w.teamA.ID || inc.Status != models.IncidentTriggered || numbers[inc.Number] {
				t.Fatalf("%s: incident %+v (numbers so far %v)", o.title, inc, numbers)
			}
			numbers[inc.Number] = true
			wantHooks, svcName := []string{team.ID, svcA1.ID}, "checkout"
			if o.in == inA2 {
				wantHooks, svcName = []string{team.ID, global.ID}, "search"
			}
			ds := deliveriesOf(t, s, inc.ID)
			var hooks []string
			for _, d := range ds {
				snap := d.Snapshot.V
				if d.Event != webhook.EventCreated || d.Status != models.DeliveryPending || snap.Title != o.title ||
					snap.ServiceName != svcName || snap.TeamName != w.teamA.Name || snap.User != o.in.Name || snap.IncidentID != inc.ID {
					t.Fatalf("%s: delivery %+v", o.title, d)
				}
				hooks = append(hooks, d.WebhookID)
			}
			slices.Sort(hooks)
			slices.Sort(wantHooks)
			if !slices.Equal(hooks, wantHooks) {
				t.Fatalf("%s: deliveries to %v, want %v", o.title, hooks, wantHooks)
			}
		}
		if n := countRows(t, s, &models.Incident{}, ""); n != alerts {
			t.Fatalf("%d incidents, want %d", n, alerts)
		}
		if n := countRows(t, s, &models.Delivery{}, ""); n != 2*alerts {
			t.Fatalf("%d deliveries, want %d", n, 2*alerts)
		}
	})
}
