package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// incWorld is the fixture of the incident tests: two teams, three services, a user.
type incWorld struct {
	s                   *models.Store
	ctx                 context.Context
	teamA, teamB        *models.Team
	svcA1, svcA2, svcB1 *models.Service
	alice, bob          *models.User
	alertmanagerFilter  payload.APIFilter
	integration         *models.Integration
	integrationToken    string
}

func newIncWorld(t *testing.T, s *models.Store) *incWorld {
	t.Helper()
	ctx := context.Background()
	w := &incWorld{s: s, ctx: ctx}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	w.teamA, err = s.CreateTeam(ctx, storetest.Name("team-a"))
	must(err)
	w.teamB, err = s.CreateTeam(ctx, storetest.Name("team-b"))
	must(err)
	w.svcA1, err = s.CreateService(ctx, w.teamA.ID, "checkout")
	must(err)
	w.svcA2, err = s.CreateService(ctx, w.teamA.ID, "search")
	must(err)
	w.svcB1, err = s.CreateService(ctx, w.teamB.ID, "billing")
	must(err)
	w.alice, err = s.CreateUser(ctx, "Alice", nil, models.RoleTeamManager, []string{w.teamA.ID})
	must(err)
	w.bob, err = s.CreateUser(ctx, "Bob", nil, models.RoleMember, []string{w.teamA.ID})
	must(err)
	w.alertmanagerFilter = payload.APIFilter{
		TitleKey:       "commonLabels.alertname",
		DescriptionKey: "commonAnnotations.description",
		UrgencyKey:     "commonLabels.urgency",
		MappingKey:     "groupKey",
		ResolveWhen:    &payload.Match{Key: "status", Value: "resolved"},
	}
	w.integration, w.integrationToken, err = s.CreateIntegration(ctx, w.svcA1.ID, "Prometheus", w.alertmanagerFilter)
	must(err)
	return w
}

func (w *incWorld) create(t *testing.T, svc *models.Service, title string) *models.Incident {
	t.Helper()
	inc, err := w.s.CreateIncident(w.ctx, "Alice", models.NewIncident{ServiceID: svc.ID, Title: title})
	if err != nil {
		t.Fatalf("create incident: %v", err)
	}
	return inc
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := models.ErrorCode(err); err == nil || got != code {
		t.Fatalf("error = %v (%s), want %s", err, got, code)
	}
}

func countRows(t *testing.T, s *models.Store, model any, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := s.DB().Model(model)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateIncident(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		desc, mapped := "the details", "key-1"
		inc, err := s.CreateIncident(w.ctx, "Alice", models.NewIncident{
			ServiceID: w.svcA1.ID, Title: "  Disk full ", Description: &desc, Urgency: "low",
			MappedWith: &mapped, AssigneeID: &w.bob.ID,
		})
		if err != nil {
			t.Fatal(err)
		}
		if inc.ID != "INC-1" || inc.Number != 1 || inc.Title != "Disk full" || inc.Urgency != webhook.UrgencyLow ||
			inc.Status != models.IncidentTriggered || inc.TeamID != w.teamA.ID || *inc.MappedWith != "key-1" {
			t.Fatalf("incident = %+v", inc)
		}
		got, err := s.FindIncidentByID(w.ctx, "INC-1")
		if err != nil || got.Title != "Disk full" || *got.AssigneeID != w.bob.ID {
			t.Fatalf("FindIncidentByID = %+v, %v", got, err)
		}
		if inc2 := w.create(t, w.svcB1, "second"); inc2.ID != "INC-2" {
			t.Fatalf("second incident id = %s", inc2.ID)
		}
		if s.IncidentURL("INC-2") != "http://herald.test/incidents/INC-2" {
			t.Fatalf("url = %s", s.IncidentURL("INC-2"))
		}
		bad := map[string]struct {
			in   models.NewIncident
			code string
		}{
			"blank title":      {models.NewIncident{ServiceID: w.svcA1.ID, Title: " "}, models.CodeValidation},
			"bad urgency":      {models.NewIncident{ServiceID: w.svcA1.ID, Title: "t", Urgency: "MEDIUM"}, models.CodeValidation},
			"unknown assignee": {models.NewIncident{ServiceID: w.svcA1.ID, Title: "t", AssigneeID: new("nobody")}, models.CodeValidation},
			"unknown service":  {models.NewIncident{ServiceID: "nope", Title: "t"}, models.CodeNotFound},
		}
		for name, tc := range bad {
			_, err := s.CreateIncident(w.ctx, "Alice", tc.in)
			if models.ErrorCode(err) != tc.code {
				t.Errorf("%s: error %v, want %s", name, err, tc.code)
			}
		}
		if n := countRows(t, s, &models.Incident{}, ""); n != 2 {
			t.Fatalf("%d incidents after refused creations, want 2", n)
		}
		if _, err := s.FindIncidentByID(w.ctx, "INC-99"); models.ErrorCode(err) != models.CodeNotFound {
			t.Fatalf("FindIncidentByID(INC-99) = %v", err)
		}
	})
}

// TestCreateIncidentMappedWithOpen checks that createIncident refuses the mappedWith of an open
// incident of the same service (one resolve payload would close only one of the two), and
// accepts it again once that incident is resolved, or on another service.
func TestCreateIncidentMappedWithOpen(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		create := func(svc *models.Service, mapped string) (*models.Incident, error) {
			return s.CreateIncident(w.ctx, "Alice", models.NewIncident{ServiceID: svc.ID, Title: "t", MappedWith: &mapped})
		}
		first, err := create(w.svcA1, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		for _, mapped := range []string{"key-1", " key-1 "} {
			_, err = create(w.svcA1, mapped)
			wantWebhookErr(t, err, models.CodeValidation, "mappedWith")
			if !strings.Contains(err.Error(), first.ID+" is open") {
				t.Errorf("message %q does not name %s", err.Error(), first.ID)
			}
		}
		if _, err := s.AcknowledgeIncident(w.ctx, "Bob", first.ID); err != nil {
			t.Fatal(err)
		}
		_, err = create(w.svcA1, "key-1")
		wantWebhookErr(t, err, models.CodeValidation, "mappedWith")
		if _, err := create(w.svcB1, "key-1"); err != nil {
			t.Fatalf("same mappedWith on another service: %v", err)
		}
		if _, err := create(w.svcA1, "key-2"); err != nil {
			t.Fatalf("another mappedWith: %v", err)
		}

		// An incident opened through the incoming API holds its mapping value the same way.
		res := ingest(t, s, w.integration, "", []byte(`{"groupKey":"grp-1","status":"firing"}`))
		_, err = create(w.svcA1, "grp-1")
		wantWebhookErr(t, err, models.CodeValidation, "mappedWith")
		if !strings.Contains(err.Error(), res.IncidentID) {
			t.Errorf("message %q does not name %s", err.Error(), res.IncidentID)
		}

		if _, err := s.ResolveIncident(w.ctx, "Bob", first.ID); err != nil {
			t.Fatal(err)
		}
		again, err := create(w.svcA1, "key-1")
		if err != nil {
			t.Fatalf("mappedWith of a resolved incident: %v", err)
		}
		if n := countRows(t, s, &models.Incident{}, "service_id = ? AND mapped_with = ? AND status <> ?", w.svcA1.ID, "key-1", models.IncidentResolved); n != 1 {
			t.Fatalf("%d open incidents with key-1, want 1 (%s)", n, again.ID)
		}
		if n := countRows(t, s, &models.Incident{}, ""); n != 5 {
			t.Fatalf("%d incidents, want 5", n)
		}
	})
}

// TestCreateIncidentMappedWithConcurrent creates incidents with one mappedWith from two
// stores at once, beside incoming-API payloads with the same mapping value: exactly one open
// incident results, every other create is refused on mappedWith and every payload maps to it.
func TestCreateIncidentMappedWithConcurrent(t *testing.T) {
	t.Parallel()
	storetest.EachPair(t, func(t *testing.T, s1, s2 *models.Store) {
		w := newIncWorld(t, s1)
		const creates, payloads = 15, 5
		var wg sync.WaitGroup
		errs := make(chan error, 2*creates)
		results := make(chan *models.IngestResult, 2*payloads)
		for _, s := range []*models.Store{s1, s2} {
			for range creates {
				wg.Go(func() {
					mapped := "grp-1"
					_, err := s.CreateIncident(context.Background(), "x", models.NewIncident{ServiceID: w.svcA1.ID, Title: "t", MappedWith: &mapped})
					errs <- err
				})
			}
			for range payloads {
				wg.Go(func() {
					res, err := s.Ingest(context.Background(), w.integration, "", []byte(`{"groupKey":"grp-1"}`))
					if err != nil {
						t.Errorf("ingest: %v", err)
						return
					}
					results <- res
				})
			}
		}
		wg.Wait()
		close(errs)
		close(results)
		created := 0
		for err := range errs {
			switch {
			case err == nil:
				created++
			case models.ErrorCode(err) != models.CodeValidation:
				t.Fatalf("create: %v", err)
			default:
				wantWebhookErr(t, err, models.CodeValidation, "mappedWith")
			}
		}
		for res := range results {
			if res.Action == models.IngestCreated {
				created++
			}
		}
		if n := countRows(t, s1, &models.Incident{}, "mapped_with = ?", "grp-1"); n != 1 || created != 1 {
			t.Fatalf("%d incidents with one mappedWith (%d reported created), want 1", n, created)
		}
	})
}

func TestIncidentStateMachine(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		type step struct {
			op   string
			want string // resulting status, or an error code
		}
		tests := map[string][]step{
			"ack, unack, resolve":   {{"ack", models.IncidentAcknowledged}, {"unack", models.IncidentTriggered}, {"resolve", models.IncidentResolved}},
			"resolve from trig":     {{"resolve", models.IncidentResolved}},
			"ack twice":             {{"ack", models.IncidentAcknowledged}, {"ack", models.CodeValidation}},
			"unack triggered":       {{"unack", models.CodeValidation}},
			"resolve twice":         {{"resolve", models.IncidentResolved}, {"resolve", models.CodeValidation}},
			"ack resolved":          {{"resolve", models.IncidentResolved}, {"ack", models.CodeValidation}},
			"unack resolved":        {{"ack", models.IncidentAcknowledged}, {"resolve", models.IncidentResolved}, {"unack", models.CodeValidation}},
			"reassign open":         {{"reassign", models.IncidentTriggered}, {"ack", models.IncidentAcknowledged}, {"reassign-alice", models.IncidentAcknowledged}},
			"reassign resolved":     {{"resolve", models.IncidentResolved}, {"reassign", models.CodeValidation}},
			"reassign same user":    {{"reassign", models.IncidentTriggered}, {"reassign", models.CodeValidation}},
			"reassign unknown user": {{"reassign-nobody", models.CodeValidation}},
		}
		for name, steps := range tests {
			inc := w.create(t, w.svcA1, name)
			for i, st := range steps {
				var got *models.Incident
				var err error
				switch st.op {
				case "ack":
					got, err = s.AcknowledgeIncident(w.ctx, "Bob", inc.ID)
				case "unack":
					got, err = s.UnacknowledgeIncident(w.ctx, "Bob", inc.ID)
				case "resolve":
					got, err = s.ResolveIncident(w.ctx, "Bob", inc.ID)
				case "reassign":
					got, err = s.ReassignIncident(w.ctx, "Bob", inc.ID, w.bob.ID)
				case "reassign-alice":
					got, err = s.ReassignIncident(w.ctx, "Bob", inc.ID, w.alice.ID)
				case "reassign-nobody":
					got, err = s.ReassignIncident(w.ctx, "Bob", inc.ID, "nobody")
				}
				if st.want == models.CodeValidation {
					if models.ErrorCode(err) != models.CodeValidation {
						t.Fatalf("%s step %d (%s): error %v, want VALIDATION", name, i, st.op, err)
					}
					continue
				}
				if err != nil || got.Status != st.want {
					t.Fatalf("%s step %d (%s): %+v, %v; want %s", name, i, st.op, got, err, st.want)
				}
				stored, _ := s.FindIncidentByID(w.ctx, inc.ID)
				if stored.Status != st.want {
					t.Fatalf("%s step %d: stored status %s", name, i, stored.Status)
				}
				switch stored.Status {
				case models.IncidentAcknowledged:
					if stored.AcknowledgedAt == nil {
						t.Fatalf("%s: acknowledgedAt not set", name)
					}
				case models.IncidentTriggered:
					if stored.AcknowledgedAt != nil {
						t.Fatalf("%s: acknowledgedAt kept after unacknowledge", name)
					}
				case models.IncidentResolved:
					if stored.ResolvedAt == nil {
						t.Fatalf("%s: resolvedAt not set", name)
					}
				}
			}
		}
		for _, op := range []func() error{
			func() error { _, err := s.AcknowledgeIncident(w.ctx, "Bob", "INC-404"); return err },
			func() error { _, err := s.ResolveIncident(w.ctx, "Bob", "INC-404"); return err },
			func() error { _, err := s.ReassignIncident(w.ctx, "Bob", "INC-404", w.bob.ID); return err },
		} {
			wantCode(t, op(), models.CodeNotFound)
		}
	})
}

func TestListIncidents(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		for i := range 5 {
			w.create(t, w.svcA1, fmt.Sprint("a", i))
		}
		b := w.create(t, w.svcB1, "b")
		if _, err := s.ResolveIncident(w.ctx, "x", "INC-2"); err != nil {
			t.Fatal(err)
		}
		ids := func(incs []*models.Incident) []string {
			var out []string
			for _, i := range incs {
				out = append(out, i.ID)
			}
			return out
		}
		all, err := s.ListIncidents(w.ctx, models.IncidentFilter{}, 0, "")
		if err != nil || !slices.Equal(ids(all), []string{"INC-6", "INC-5", "INC-4", "INC-3", "INC-2", "INC-1"}) {
			t.Fatalf("all = %v, %v", ids(all), err)
		}
		page, _ := s.ListIncidents(w.ctx, models.IncidentFilter{TeamIDs: []string{w.teamA.ID}}, 2, "")
		if !slices.Equal(ids(page), []string{"INC-5", "INC-4"}) {
			t.Fatalf("page 1 = %v", ids(page))
		}
		page, _ = s.ListIncidents(w.ctx, models.IncidentFilter{TeamIDs: []string{w.teamA.ID}}, 2, "INC-4")
		if !slices.Equal(ids(page), []string{"INC-3", "INC-2"}) {
			t.Fatalf("page 2 = %v", ids(page))
		}
		resolved := models.IncidentResolved
		page, _ = s.ListIncidents(w.ctx, models.IncidentFilter{Status: &resolved}, 0, "")
		if !slices.Equal(ids(page), []string{"INC-2"}) {
			t.Fatalf("resolved = %v", ids(page))
		}
		page, _ = s.ListIncidents(w.ctx, models.IncidentFilter{ServiceID: &w.svcB1.ID}, 0, "")
		if !slices.Equal(ids(page), []string{b.ID}) {
			t.Fatalf("service B1 = %v", ids(page))
		}
		page, _ = s.ListIncidents(w.ctx, models.IncidentFilter{TeamIDs: []string{}}, 0, "")
		if len(page) != 0 {
			t.Fatalf("no teams = %v", ids(page))
		}
		_, err = s.ListIncidents(w.ctx, models.IncidentFilter{}, 0, "garbage")
		wantCode(t, err, models.CodeValidation)
		_, err = s.ListIncidents(w.ctx, models.IncidentFilter{}, 1000, "")
		wantCode(t, err, models.CodeValidation)
		bad := "OPEN"
		_, err = s.ListIncidents(w.ctx, models.IncidentFilter{Status: &bad}, 0, "")
		wantCode(t, err, models.CodeValidation)
	})
}

// TestIncidentNumbersAcrossProcesses creates incidents from two stores on one database at once
// (two Herald processes): every number is handed out once.
func TestIncidentNumbersAcrossProcesses(t *testing.T) {
	t.Parallel()
	storetest.EachPair(t, func(t *testing.T, s1, s2 *models.Store) {
		w := newIncWorld(t, s1)
		const perStore = 20
		var wg sync.WaitGroup
		errs := make(chan error, 2*perStore)
		for _, s := range []*models.Store{s1, s2} {
			for i := range perStore {
				wg.Go(func() {
					_, err := s.CreateIncident(context.Background(), "x", models.NewIncident{ServiceID: w.svcA1.ID, Title: fmt.Sprint("c", i)})
					errs <- err
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var numbers []int64
		if err := s1.DB().Model(&models.Incident{}).Order("number").Pluck("number", &numbers).Error; err != nil {
			t.Fatal(err)
		}
		if len(numbers) != 2*perStore {
			t.Fatalf("%d incidents, want %d", len(numbers), 2*perStore)
		}
		for i, n := range numbers {
			if n != int64(i+1) {
				t.Fatalf("numbers = %v, want 1..%d without gaps or repeats", numbers, 2*perStore)
			}
		}
	})
}

func TestIntegrations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := newIncWorld(t, s)
		if len(w.integrationToken) < 20 || w.integrationToken[:4] != "hri_" {
			t.Fatalf("token %q", w.integrationToken)
		}
		if w.integration.TokenHash == w.integrationToken || w.integration.TokenHash != models.HashToken(w.integrationToken) {
			t.Fatal("the token must be stored hashed")
		}
		got, err := s.FindIntegrationByToken(w.ctx, w.integrationToken)
		if err != nil || got.ID != w.integration.ID || got.APIFilter.V.MappingKey != "groupKey" || got.APIFilter.V.ResolveWhen.Value != "resolved" {
			t.Fatalf("FindIntegrationByToken = %+v, %v", got, err)
		}
		_, err = s.FindIntegrationByToken(w.ctx, "hri_unknown")
		wantCode(t, err, models.CodeUnauthenticated)
		_, err = s.FindIntegrationByToken(w.ctx, "")
		wantCode(t, err, models.CodeUnauthenticated)

		other, _, err := s.CreateIntegration(w.ctx, w.svcB1.ID, "Grafana", payload.APIFilter{})
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.ListIntegrations(w.ctx, nil, []string{w.teamA.ID})
		if err != nil || len(list) != 1 || list[0].ID != w.integration.ID {
			t.Fatalf("team A integrations = %v, %v", list, err)
		}
		list, _ = s.ListIntegrations(w.ctx, &w.svcB1.ID, nil)
		if len(list) != 1 || list[0].ID != other.ID {
			t.Fatalf("service B1 integrations = %v", list)
		}
		if err := s.RevokeIntegration(w.ctx, w.integration.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeIntegration(w.ctx, w.integration.ID); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		wantCode(t, s.RevokeIntegration(w.ctx, "nope"), models.CodeNotFound)
		_, err = s.FindIntegrationByToken(w.ctx, w.integrationToken)
		wantCode(t, err, models.CodeUnauthenticated)
		list, _ = s.ListIntegrations(w.ctx, nil, nil)
		if len(list) != 1 || list[0].ID != other.ID {
			t.Fatalf("integrations after revoke = %v", list)
		}

		_, _, err = s.CreateIntegration(w.ctx, w.svcA1.ID, " ", payload.APIFilter{})
		wantCode(t, err, models.CodeValidation)
		_, _, err = s.CreateIntegration(w.ctx, "nope", "x", payload.APIFilter{})
		wantCode(t, err, models.CodeNotFound)
		_, _, err = s.CreateIntegration(w.ctx, w.svcA1.ID, "x", payload.APIFilter{TitleKey: "a..b"})
		var de *models.Error
		if !errors.As(err, &de) || de.Field != "apiFilter.titleKey" {
			t.Fatalf("bad filter: %v", err)
		}
	})
}
