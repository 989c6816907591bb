package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestReplicasShareDeliveryLog runs an API process and a worker process on one PostgreSQL
// database: an incident created through the API is delivered by the worker, and the attempt
// reaches a deliveryLog subscriber of the API process through LISTEN/NOTIFY.
func TestReplicasShareDeliveryLog(t *testing.T) {
	t.Parallel()
	const adminToken = "replica-test-admin-token-0001"
	dbURL := storetest.URL(t, models.DialectPostgres)
	env := func(role string) map[string]string {
		return map[string]string{
			"HERALD_DATABASE_URL":          dbURL,
			"HERALD_SECRET_KEY":            storetest.Key,
			"HERALD_ADMIN_TOKEN":           adminToken,
			"HERALD_ROLE":                  role,
			"HERALD_ALLOW_PRIVATE_TARGETS": "true",
		}
	}
	// The API process migrates the fresh database before the worker starts on it.
	api := startHerald(t, env(roleAPI))
	startHerald(t, env(roleWorker))

	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	events := subscribeDeliveryLog(t, api, adminToken)

	mutate := func(query string, vars map[string]any) map[string]any {
		t.Helper()
		data, errs := api.gql(t, adminToken, query, vars)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", query, errs)
		}
		return data
	}
	teamID := mutate(`mutation { createTeam(name: "Payments") { id } }`, nil)["createTeam"].(map[string]any)["id"].(string)
	serviceID := mutate(`mutation($t: ID!) { createService(teamId: $t, name: "checkout") { id } }`,
		map[string]any{"t": teamID})["createService"].(map[string]any)["id"].(string)
	hook := mutate(`mutation($in: WebhookInput!) { createWebhook(input: $in) { webhook { id } } }`, map[string]any{"in": map[string]any{
		"name": "receiver", "scope": "SERVICE", "teamId": teamID, "serviceId": serviceID,
		"events": []string{"INCIDENT_CREATED"}, "urls": []string{receiver.URL + "/hook"},
	}})["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)

	// The API process's listener may connect after the first NOTIFY: create incidents until
	// one of their attempts arrives.
	deadline := time.Now().Add(45 * time.Second)
	for n := 1; ; n++ {
		mutate(`mutation($in: IncidentInput!) { createIncident(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"serviceId": serviceID, "title": "Checkout is down"}})
		select {
		case a := <-events:
			if a.Webhook.ID != hook || a.Test || a.Outcome != "SUCCEEDED" {
				t.Fatalf("subscriber got %+v, want a SUCCEEDED attempt of webhook %s", a, hook)
			}
			if hits.Load() == 0 {
				t.Fatal("an attempt arrived but the receiver was never called")
			}
			return
		case <-time.After(5 * time.Second):
			if time.Now().After(deadline) {
				t.Fatalf("no attempt reached the API process's subscriber after %d incidents (receiver called %d times)", n, hits.Load())
			}
		}
	}
}

// logAttempt is the part of a deliveryLog event the replica test checks.
type logAttempt struct {
	ID      string `json:"id"`
	Test    bool   `json:"test"`
	Outcome string `json:"outcome"`
	Webhook struct {
		ID string `json:"id"`
	} `json:"webhook"`
}

// subscribeDeliveryLog opens a graphql-transport-ws connection to p, starts deliveryLog and
// returns the attempts it streams.
func subscribeDeliveryLog(t *testing.T, p *process, token string) <-chan logAttempt {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(p.base, "http")+"/query", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	type message struct {
		ID      string          `json:"id,omitempty"`
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload,omitempty"`
	}
	init, _ := json.Marshal(map[string]any{"Authorization": "Bearer " + token})
	if err := c.WriteJSON(message{Type: "connection_init", Payload: init}); err != nil {
		t.Fatal(err)
	}
	var ack message
	if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("want connection_ack, got %+v (%v)", ack, err)
	}
	q, _ := json.Marshal(map[string]any{"query": "subscription { deliveryLog { id test outcome webhook { id } } }"})
	if err := c.WriteJSON(message{ID: "1", Type: "subscribe", Payload: q}); err != nil {
		t.Fatal(err)
	}
	out := make(chan logAttempt, 16)
	go func() {
		defer close(out)
		for {
			var m message
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			var next struct {
				Data struct {
					DeliveryLog logAttempt `json:"deliveryLog"`
				} `json:"data"`
			}
			if m.Type == "next" && json.Unmarshal(m.Payload, &next) == nil && next.Data.DeliveryLog.ID != "" {
				select {
				case out <- next.Data.DeliveryLog:
				default:
				}
			}
		}
	}()
	return out
}
