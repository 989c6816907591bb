package graph

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
)

// TestDeliveryLogRefusesWebhooksLikeWebhook checks that deliveryLog(webhookId) refuses what
// webhook(id) refuses, with the same codes.
func TestDeliveryLogRefusesWebhooksLikeWebhook(t *testing.T) {
	t.Parallel()
	w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
	tests := map[string]struct {
		token, id, code string
	}{
		"unknown id":      {w.admin, "nope", models.CodeNotFound},
		"manager global":  {w.managerA, w.hookGlobal, models.CodeForbidden},
		"manager foreign": {w.managerA, w.hookB, models.CodeForbidden},
		"member foreign":  {w.memberB, w.hookA, models.CodeForbidden},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, codes := w.post(t, tc.token, `query($id: ID!) { webhook(id: $id) { id } }`, map[string]any{"id": tc.id})
			if len(codes) != 1 || codes[0] != tc.code {
				t.Fatalf("webhook(id) answers %v, the test expects %s", codes, tc.code)
			}
			c := w.subscribeTo(t, tc.token, `subscription($id: ID) { deliveryLog(webhookId: $id) { id } }`, map[string]any{"id": tc.id})
			if errs := wsErrors(t, c); len(errs) != 1 || errs[0].Extensions["code"] != tc.code {
				t.Errorf("deliveryLog(webhookId) answers %+v, want %s", errs, tc.code)
			}
		})
	}
}

// wsErrors returns the errors of the first result or error message c receives.
func wsErrors(t *testing.T, c *wsClient) []webhookGQLError {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-c.C:
			if !ok {
				t.Fatalf("connection ended: %v", c.Err)
			}
			var errs []webhookGQLError
			switch m.Type {
			case "next":
				var p struct{ Errors []webhookGQLError }
				must(t, json.Unmarshal(m.Payload, &p))
				return p.Errors
			case "error":
				must(t, json.Unmarshal(m.Payload, &errs))
				return errs
			}
		case <-timeout:
			t.Fatal("no result within 5 s")
		}
	}
}

// TestPageSizeBounds checks that every paged list takes first from 0 (an empty page, which
// Relay allows) to 200, and that its error says so.
func TestPageSizeBounds(t *testing.T) {
	t.Parallel()
	w := setupWebhookWorld(t, storetest.Open(t, models.DialectSQLite))
	hook := w.fixture(t, webhook.ScopeGlobal)
	inc := w.createIncident(t, "admin", "paged")
	lists := map[string]string{
		"deliveries":          `query($f: Int) { deliveries(first: $f) { totalCount } }`,
		"webhook deliveries":  `query($f: Int) { webhook(id: "` + hook.ID + `") { deliveries(first: $f) { totalCount } } }`,
		"incident deliveries": `query($f: Int) { incident(id: "` + inc + `") { deliveries(first: $f) { totalCount } } }`,
		"incidents":           `query($f: Int) { incidents(first: $f) { id } }`,
		"requests":            `query($f: Int) { requests(first: $f) { id } }`,
	}
	for name, query := range lists {
		for _, first := range []int{0, 1, 200} {
			if _, errs := w.do(t, "admin", query, map[string]any{"f": first}); len(errs) > 0 {
				t.Errorf("%s, first %d: %+v", name, first, errs)
			}
		}
		for _, first := range []int{-1, 201} {
			_, errs := w.do(t, "admin", query, map[string]any{"f": first})
			if len(errs) != 1 || errs[0].Extensions["code"] != models.CodeValidation || errs[0].Extensions["field"] != "first" ||
				errs[0].Message != "first must be between 0 and 200" {
				t.Errorf("%s, first %d: %+v, want VALIDATION on first: first must be between 0 and 200", name, first, errs)
			}
		}
	}
}
