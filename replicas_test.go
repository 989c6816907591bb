package main

import (
	"encoding/json"
	"errors"
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
// reaches a deliveryLog subscriber of the API process through LISTEN/NOTIFY. Then a second
// API process revokes a subscriber's token: the first one closes that subscriber's
// connection with 4403 before the attempts of a new incident reach it, and another connection
// with that token and no subscription, and streams them on to the subscriber with another
// token.
func TestReplicasShareDeliveryLog(t *testing.T) {
	t.Parallel()
	const adminToken = "replica-test-admin-token-0001"
	env := roleEnv(storetest.URL(t, models.DialectPostgres), adminToken)
	// The API process migrates the fresh database before the others start on it.
	api := startHerald(t, env(roleAPI))
	startHerald(t, env(roleWorker))
	revoker := startHerald(t, env(roleAPI))

	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	admin := subscribeDeliveryLog(t, api, adminToken)

	mutate := func(p *process, token, query string, vars map[string]any) map[string]any {
		t.Helper()
		data, errs := p.gql(t, token, query, vars)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", query, errs)
		}
		return data
	}
	id := func(data map[string]any, field string) string {
		return data[field].(map[string]any)["id"].(string)
	}
	teamID := id(mutate(api, adminToken, `mutation { createTeam(name: "Payments") { id } }`, nil), "createTeam")
	serviceID := id(mutate(api, adminToken, `mutation($t: ID!) { createService(teamId: $t, name: "checkout") { id } }`,
		map[string]any{"t": teamID}), "createService")
	hook := mutate(api, adminToken, `mutation($in: WebhookInput!) { createWebhook(input: $in) { webhook { id } } }`, map[string]any{"in": map[string]any{
		"name": "receiver", "scope": "SERVICE", "teamId": teamID, "serviceId": serviceID,
		"events": []string{"INCIDENT_CREATED"}, "urls": []string{receiver.URL + "/hook"},
	}})["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"].(string)
	memberID := id(mutate(api, adminToken, `mutation($t: ID!) { createUser(input: {name: "auditor", role: MEMBER, teamIds: [$t]}) { id } }`,
		map[string]any{"t": teamID}), "createUser")
	memberToken := mutate(api, adminToken, `mutation($u: ID!) { createApiToken(userId: $u, name: "audit") }`,
		map[string]any{"u": memberID})["createApiToken"].(string)
	member := subscribeDeliveryLog(t, api, memberToken)
	idle := connectWS(t, api, memberToken)
	createIncident := func() string {
		return id(mutate(api, adminToken, `mutation($in: IncidentInput!) { createIncident(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"serviceId": serviceID, "title": "Checkout is down"}}), "createIncident")
	}

	// The API process's listener may connect after the first NOTIFY: create incidents until
	// one of their attempts arrives.
	deadline := time.Now().Add(45 * time.Second)
	for n := 1; ; n++ {
		createIncident()
		select {
		case a := <-admin.attempts:
			if a.Webhook.ID != hook || a.Test || a.Outcome != "SUCCEEDED" {
				t.Fatalf("subscriber got %+v, want a SUCCEEDED attempt of webhook %s", a, hook)
			}
			if hits.Load() == 0 {
				t.Fatal("an attempt arrived but the receiver was never called")
			}
		case <-time.After(5 * time.Second):
			if time.Now().After(deadline) {
				t.Fatalf("no attempt reached the API process's subscriber after %d incidents (receiver called %d times)", n, hits.Load())
			}
			continue
		}
		break
	}
	select {
	case <-member.attempts:
	case <-time.After(10 * time.Second):
		t.Fatal("the member's subscriber got no attempt")
	}

	tokens := mutate(revoker, memberToken, `{ me { apiTokens { id } } }`, nil)["me"].(map[string]any)["apiTokens"].([]any)
	mutate(revoker, adminToken, `mutation($id: ID!) { revokeApiToken(id: $id) }`,
		map[string]any{"id": tokens[0].(map[string]any)["id"]})
	incident := createIncident()
	for seen := false; !seen; {
		select {
		case a, ok := <-admin.attempts:
			if !ok {
				t.Fatalf("the admin's connection ended: %v", admin.err)
			}
			seen = a.Delivery.Incident.ID == incident
		case <-time.After(30 * time.Second):
			t.Fatalf("the admin's subscriber missed the attempt of %s", incident)
		}
	}
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case a, ok := <-member.attempts:
			if open = ok; ok && a.Delivery.Incident.ID == incident {
				t.Fatalf("the revoked token's subscriber got the attempt of %s, created after the revocation", incident)
			}
		case <-timeout:
			t.Fatal("the revoked token's connection is still open")
		}
	}
	var ce *websocket.CloseError
	if !errors.As(member.err, &ce) || ce.Code != 4403 {
		t.Fatalf("the revoked token's connection ended with %v, want close 4403", member.err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m wsMessage
		err := idle.ReadJSON(&m)
		if err == nil && m.Type == "ping" {
			continue
		}
		if !errors.As(err, &ce) || ce.Code != 4403 {
			t.Fatalf("the revoked token's connection without a subscription got %+v, %v; want close 4403", m, err)
		}
		break
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
	Delivery struct {
		Incident struct {
			ID string `json:"id"`
		} `json:"incident"`
	} `json:"delivery"`
}

// logSubscriber is a deliveryLog subscription: the attempts it streams, until the connection
// ends with err.
type logSubscriber struct {
	attempts <-chan logAttempt
	// err is why the connection ended (a *websocket.CloseError for a close frame), set before
	// attempts closes.
	err error
}

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// connectWS opens a graphql-transport-ws connection to p, authenticated with token, and
// returns it once acknowledged.
func connectWS(t *testing.T, p *process, token string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(p.base, "http")+"/query", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	init, _ := json.Marshal(map[string]any{"Authorization": "Bearer " + token})
	if err := c.WriteJSON(wsMessage{Type: "connection_init", Payload: init}); err != nil {
		t.Fatal(err)
	}
	var ack wsMessage
	if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("want connection_ack, got %+v (%v)", ack, err)
	}
	return c
}

// subscribeDeliveryLog opens a graphql-transport-ws connection to p and starts deliveryLog.
func subscribeDeliveryLog(t *testing.T, p *process, token string) *logSubscriber {
	t.Helper()
	c := connectWS(t, p, token)
	q, _ := json.Marshal(map[string]any{"query": "subscription { deliveryLog { id test outcome webhook { id } delivery { incident { id } } } }"})
	if err := c.WriteJSON(wsMessage{ID: "1", Type: "subscribe", Payload: q}); err != nil {
		t.Fatal(err)
	}
	out := make(chan logAttempt, 16)
	sub := &logSubscriber{attempts: out}
	go func() {
		defer close(out)
		for {
			var m wsMessage
			if err := c.ReadJSON(&m); err != nil {
				sub.err = err
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
	return sub
}

// TestAPIProcessSendsTestsAndNoDeliveries: a process with HERALD_ROLE=api runs no worker — the
// delivery an incident makes stays PENDING, with no attempt, while only it is up — yet sends a
// test webhook itself; a worker process started afterwards delivers the delivery.
func TestAPIProcessSendsTestsAndNoDeliveries(t *testing.T) {
	t.Parallel()
	const adminToken = "api-only-test-admin-token-0001"
	env := roleEnv(storetest.URL(t, models.DialectPostgres), adminToken)
	api := startHerald(t, env(roleAPI))
	var tests, deliveries atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Webhook-Id"), "test_") {
			tests.Add(1)
		} else {
			deliveries.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	mutate := func(query string, vars map[string]any) map[string]any {
		t.Helper()
		data, errs := api.gql(t, adminToken, query, vars)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", query, errs)
		}
		return data
	}
	team := mutate(`mutation { createTeam(name: "Payments") { id } }`, nil)["createTeam"].(map[string]any)["id"]
	service := mutate(`mutation($t: ID!) { createService(teamId: $t, name: "checkout") { id } }`, map[string]any{"t": team})["createService"].(map[string]any)["id"]
	hook := mutate(`mutation($in: WebhookInput!) { createWebhook(input: $in) { webhook { id } } }`, map[string]any{"in": map[string]any{
		"name": "receiver", "scope": "SERVICE", "teamId": team, "serviceId": service,
		"events": []string{"INCIDENT_CREATED"}, "urls": []string{receiver.URL + "/hook"},
	}})["createWebhook"].(map[string]any)["webhook"].(map[string]any)["id"]
	mutate(`mutation($in: IncidentInput!) { createIncident(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"serviceId": service, "title": "Checkout is down"}})

	attempt := mutate(`mutation($id: ID!) { testWebhook(id: $id) { outcome test } }`, map[string]any{"id": hook})["testWebhook"].(map[string]any)
	if attempt["outcome"] != "SUCCEEDED" || attempt["test"] != true || tests.Load() != 1 {
		t.Fatalf("test send from the API process: %v, receiver got %d tests", attempt, tests.Load())
	}
	// A worker claims at least once a second: three seconds without one says there is none.
	time.Sleep(3 * time.Second)
	pending := func() []any {
		return mutate(`{ deliveries(status: PENDING) { edges { node { id attempts { id } } } } }`, nil)["deliveries"].(map[string]any)["edges"].([]any)
	}
	edges := pending()
	if len(edges) != 1 || len(edges[0].(map[string]any)["node"].(map[string]any)["attempts"].([]any)) != 0 || deliveries.Load() != 0 {
		t.Fatalf("with only the API process up: pending %v, %d deliveries received; want one PENDING delivery, never attempted", edges, deliveries.Load())
	}

	startHerald(t, env(roleWorker))
	deadline := time.Now().Add(30 * time.Second)
	for deliveries.Load() == 0 || len(pending()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the worker process did not deliver: %d received, %d pending", deliveries.Load(), len(pending()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// roleEnv returns the environment of a Herald process of a role on the database dbURL, with
// adminToken and private targets allowed.
func roleEnv(dbURL, adminToken string) func(role string) map[string]string {
	return func(role string) map[string]string {
		return map[string]string{
			"HERALD_DATABASE_URL":          dbURL,
			"HERALD_SECRET_KEY":            storetest.Key,
			"HERALD_ADMIN_TOKEN":           adminToken,
			"HERALD_ROLE":                  role,
			"HERALD_ALLOW_PRIVATE_TARGETS": "true",
		}
	}
}
