package graph

import (
	"encoding/json"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// TestIncidentDeliveries: an incident lists the deliveries its changes caused, only those of
// webhooks the caller may see (a GLOBAL webhook's for GLOBAL_ADMIN only); first: 0 answers an
// empty page that still says how many there are.
func TestIncidentDeliveries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		global := w.fixture(t, webhook.ScopeGlobal)
		service := w.fixture(t, webhook.ScopeService)
		id := w.createIncident(t, "managerA", "Disk full")

		type page struct {
			Incident struct {
				Deliveries struct {
					TotalCount int
					PageInfo   struct{ HasNextPage bool }
					Edges      []struct {
						Node struct{ Webhook struct{ ID string } }
					}
				}
			}
		}
		read := func(role string, first any) page {
			t.Helper()
			data, errs := w.do(t, role, `query($id: ID!, $first: Int) { incident(id: $id) { deliveries(first: $first) { totalCount pageInfo { hasNextPage } edges { node { webhook { id } } } } } }`,
				map[string]any{"id": id, "first": first})
			if len(errs) > 0 {
				t.Fatalf("%s: %+v", role, errs)
			}
			var p page
			if err := json.Unmarshal(data, &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		hooks := func(p page) map[string]bool {
			out := map[string]bool{}
			for _, e := range p.Incident.Deliveries.Edges {
				out[e.Node.Webhook.ID] = true
			}
			return out
		}

		if got := hooks(read("admin", nil)); len(got) != 2 || !got[global.ID] || !got[service.ID] {
			t.Errorf("admin sees deliveries of %v, want the global and the service webhook", got)
		}
		for _, role := range []string{"memberA", "managerA"} {
			p := read(role, nil)
			if got := hooks(p); len(got) != 1 || !got[service.ID] || p.Incident.Deliveries.TotalCount != 1 {
				t.Errorf("%s sees deliveries of %v (total %d), want only the service webhook's", role, got, p.Incident.Deliveries.TotalCount)
			}
		}
		empty := read("admin", 0)
		if d := empty.Incident.Deliveries; len(d.Edges) != 0 || d.TotalCount != 2 || !d.PageInfo.HasNextPage {
			t.Errorf("first: 0 gave %+v, want no edges, totalCount 2 and a next page", d)
		}
		one := read("admin", 1)
		if d := one.Incident.Deliveries; len(d.Edges) != 1 || !d.PageInfo.HasNextPage {
			t.Errorf("first: 1 gave %+v, want one edge and a next page", d)
		}

		data, errs := w.do(t, "admin", `{ incidents(first: 0) { id } requests(first: 0) { id } }`, nil)
		if len(errs) > 0 || string(data) != `{"incidents":[],"requests":[]}` {
			t.Errorf("incidents and requests with first: 0: %s %+v", data, errs)
		}
	})
}
