package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	goast "go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"gorm.io/gorm"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/models/webhook/outcome"
)

// logWorld is a running GraphQL endpoint with two teams, a webhook in each and a global one.
type logWorld struct {
	store                           *models.Store
	url                             string
	admin, managerA, memberB        string
	hookA, hookB, hookGlobal, teamA string
}

// secondToken returns the id of managerA's only API token and a second token of the same user.
func (w *logWorld) secondToken(t *testing.T) (tokenID, other string) {
	t.Helper()
	var me struct {
		Me struct {
			ID        string
			APITokens []struct{ ID string } `json:"apiTokens"`
		}
	}
	data, codes := w.post(t, w.managerA, `{ me { id apiTokens { id } } }`, nil)
	if err := json.Unmarshal(data, &me); err != nil || len(codes) > 0 || len(me.Me.APITokens) != 1 {
		t.Fatalf("me: %s %v", data, codes)
	}
	other, err := w.store.CreateAPIToken(context.Background(), me.Me.ID, "other")
	must(t, err)
	return me.Me.APITokens[0].ID, other
}

func setupLogWorld(t *testing.T, s *models.Store) *logWorld {
	t.Helper()
	ctx := context.Background()
	w := &logWorld{store: s}
	mustTeam := func(name string) string {
		tm, err := s.CreateTeam(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return tm.ID
	}
	teamA, teamB := mustTeam("A"), mustTeam("B")
	w.teamA = teamA
	token := func(role string, teams ...string) string {
		u, err := s.CreateUser(ctx, role+"-user", nil, role, teams)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.CreateAPIToken(ctx, u.ID, "test")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	w.admin = token(models.RoleGlobalAdmin)
	w.managerA = token(models.RoleTeamManager, teamA)
	w.memberB = token(models.RoleMember, teamB)
	hook := func(scope string, team *string) string {
		h, _, err := s.CreateWebhook(ctx, webhook.Spec{
			Name: "hook", Scope: scope, TeamID: team, Events: []string{webhook.EventCreated},
			URLs: []string{"https://receiver.example/hook"}, Method: "POST", Auth: webhook.Auth{Type: "NONE"},
			Signing: webhook.Signing{Scheme: "NONE"}, SendDataUsing: "BODY", ContentType: "JSON",
			RetryCount: 3, RetryIntervalMinutes: 1, TimeoutSeconds: 3,
		})
		if err != nil {
			t.Fatal(err)
		}
		return h.ID
	}
	w.hookA = hook(webhook.ScopeTeam, &teamA)
	w.hookB = hook(webhook.ScopeTeam, &teamB)
	w.hookGlobal = hook(webhook.ScopeGlobal, nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(NewHandler(&Resolver{Store: s, Logger: logger}, nil))
	t.Cleanup(srv.Close)
	w.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return w
}

// attempt stores a test attempt of the webhook, which the hub announces after commit.
func (w *logWorld) attempt(t *testing.T, hookID string) string {
	t.Helper()
	a := &models.Attempt{
		WebhookID: &hookID, Event: webhook.EventCreated, Number: 1, Outcome: models.AttemptSucceeded,
		Request: models.NewJSON(webhook.RequestLog{Method: "POST", URL: "https://receiver.example/hook"}), StartedAt: time.Now(),
	}
	if err := w.store.CreateTestAttempt(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a connection whose messages a goroutine reads into C.
type wsClient struct {
	conn *websocket.Conn
	C    chan wsMessage
	// Err is why reading ended (a *websocket.CloseError for a close frame), set before C closes.
	Err error
}

func newWSClient(c *websocket.Conn) *wsClient {
	cl := &wsClient{conn: c, C: make(chan wsMessage, 64)}
	go func() {
		defer close(cl.C)
		for {
			var m wsMessage
			if err := c.ReadJSON(&m); err != nil {
				cl.Err = err
				return
			}
			cl.C <- m
		}
	}()
	return cl
}

// subscribe opens a graphql-transport-ws connection and starts deliveryLog with the arguments.
func (w *logWorld) subscribe(t *testing.T, token, args string) *wsClient {
	t.Helper()
	return w.subscribeTo(t, token, "subscription { deliveryLog"+args+" { id test outcome webhook { id status } } }", nil)
}

// subscribeTo opens a graphql-transport-ws connection and starts query with vars.
func (w *logWorld) subscribeTo(t *testing.T, token, query string, vars map[string]any) *wsClient {
	t.Helper()
	return w.subscribeOver(t, "graphql-transport-ws", token, query, vars)
}

// subscribeOver opens a connection speaking protocol (graphql-transport-ws, or the legacy
// graphql-ws) and starts query with vars.
func (w *logWorld) subscribeOver(t *testing.T, protocol, token, query string, vars map[string]any) *wsClient {
	t.Helper()
	c := w.connect(t, protocol, nil, token)
	startOperation(t, c, "1", query, vars)
	return newWSClient(c)
}

// connect opens a connection speaking protocol, with header on the upgrade request, and
// returns it once acknowledged; connection_init carries token unless it is "".
func (w *logWorld) connect(t *testing.T, protocol string, header http.Header, token string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{protocol}}
	c, _, err := d.Dial(w.url, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var init json.RawMessage
	if token != "" {
		init, _ = json.Marshal(map[string]any{"Authorization": "Bearer " + token})
	}
	must(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: init}))
	var ack wsMessage
	must(t, c.ReadJSON(&ack))
	if ack.Type != "connection_ack" {
		t.Fatalf("want connection_ack, got %+v", ack)
	}
	return c
}

// startOperation sends the message that starts query with vars as id, in c's protocol.
func startOperation(t *testing.T, c *websocket.Conn, id, query string, vars map[string]any) {
	t.Helper()
	q, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	start := "subscribe"
	if c.Subprotocol() == "graphql-ws" {
		start = "start"
	}
	must(t, c.WriteJSON(wsMessage{ID: id, Type: start, Payload: q}))
}

// execute runs a query or mutation as id on c, a graphql-transport-ws connection nothing else
// reads, and returns its data and its errors' codes.
func execute(t *testing.T, c *websocket.Conn, id, query string, vars map[string]any) (json.RawMessage, []string) {
	t.Helper()
	startOperation(t, c, id, query, vars)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var result, complete wsMessage
	for result.Type == "" || result.Type == "ping" { // keep-alives may come first
		result = wsMessage{}
		must(t, c.ReadJSON(&result))
	}
	must(t, c.ReadJSON(&complete))
	if result.ID != id || result.Type != "next" || complete.ID != id || complete.Type != "complete" {
		t.Fatalf("got %+v and %+v, want the result of %s and its end", result, complete, id)
	}
	var out struct {
		Data   json.RawMessage
		Errors []struct{ Extensions struct{ Code string } }
	}
	must(t, json.Unmarshal(result.Payload, &out))
	var codes []string
	for _, e := range out.Errors {
		codes = append(codes, e.Extensions.Code)
	}
	return out.Data, codes
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// received collects messages for a while and returns the attempt ids and errors streamed.
func received(t *testing.T, c *wsClient, within time.Duration) (ids []string, errs []string) {
	t.Helper()
	timeout := time.After(within)
	for {
		var m wsMessage
		var ok bool
		select {
		case m, ok = <-c.C:
			if !ok {
				return ids, errs
			}
		case <-timeout:
			return ids, errs
		}
		switch m.Type {
		case "next":
			var p struct {
				Data struct {
					DeliveryLog struct{ ID string } `json:"deliveryLog"`
				} `json:"data"`
				Errors []struct{ Message string } `json:"errors"`
			}
			_ = json.Unmarshal(m.Payload, &p)
			if p.Data.DeliveryLog.ID != "" {
				ids = append(ids, p.Data.DeliveryLog.ID)
			}
			for _, e := range p.Errors {
				errs = append(errs, e.Message)
			}
		case "error":
			errs = append(errs, string(m.Payload))
			return ids, errs
		}
	}
}

func TestDeliveryLogStreamsOnlyWhatTheSubscriberMaySee(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupLogWorld(t, s)
		listenCtx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		go s.Listen(listenCtx)

		admin := w.subscribe(t, w.admin, "")
		manager := w.subscribe(t, w.managerA, "")
		member := w.subscribe(t, w.memberB, "")
		filtered := w.subscribe(t, w.admin, `(webhookId: "`+w.hookB+`")`)
		byTeam := w.subscribe(t, w.admin, `(teamId: "`+w.teamA+`")`)
		waitFor(t, func() bool { return s.Hub().Len() == 5 })

		var a, b, g string
		// The PostgreSQL listener may connect after the subscriptions; repeat until heard.
		deadline := time.Now().Add(10 * time.Second)
		var adminIDs []string
		for len(adminIDs) < 3 && time.Now().Before(deadline) {
			a, b, g = w.attempt(t, w.hookA), w.attempt(t, w.hookB), w.attempt(t, w.hookGlobal)
			adminIDs, _ = received(t, admin, time.Second)
		}
		if !equalSet(adminIDs, a, b, g) {
			t.Fatalf("admin got %v, want %v", adminIDs, []string{a, b, g})
		}
		for name, tc := range map[string]struct {
			conn *wsClient
			want []string
		}{
			"manager of A sees A only":      {manager, []string{a}},
			"member of B sees B only":       {member, []string{b}},
			"webhook filter":                {filtered, []string{b}},
			"team filter leaves out global": {byTeam, []string{a}},
		} {
			got, errs := received(t, tc.conn, 2*time.Second)
			if len(errs) > 0 {
				t.Errorf("%s: errors %v", name, errs)
			}
			if !containsAll(got, tc.want...) || containsAny(got, except(adminIDs, tc.want)...) {
				t.Errorf("%s: got %v, want only %v", name, got, tc.want)
			}
		}
	})
}

func TestDeliveryLogRefusals(t *testing.T) {
	t.Parallel()
	w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))

	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial(w.url, nil)
	must(t, err)
	defer c.Close()
	init, _ := json.Marshal(map[string]any{"Authorization": "Bearer hrd_not-a-token"})
	must(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: init}))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !asCloseError(err, &ce) || ce.Code != 4403 {
		t.Fatalf("a refused token must close with 4403, got %v", err)
	}

	member := w.subscribe(t, w.memberB, `(webhookId: "`+w.hookGlobal+`")`)
	if _, errs := received(t, member, 3*time.Second); len(errs) == 0 || !strings.Contains(errs[0], "not allowed") {
		t.Fatalf("a member asking for a global webhook's log: want FORBIDDEN, got %v", errs)
	}

	body := strings.NewReader(`{"query":"subscription { deliveryLog { id } }"}`)
	post, _ := http.NewRequest(http.MethodPost, strings.Replace(w.url, "ws", "http", 1), body)
	post.Header.Set("Content-Type", "application/json")
	post.Header.Set("Authorization", "Bearer "+w.admin)
	resp, err := http.DefaultClient.Do(post)
	must(t, err)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(answer), "websockets only") {
		t.Fatalf("deliveryLog over POST: want the websockets-only error, got %s", answer)
	}

	req, _ := http.NewRequest(http.MethodGet, strings.Replace(w.url, "ws", "http", 1), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", "graphql-transport-ws")
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign browser origin must be refused, got %d", resp.StatusCode)
	}
}

// TestDeliveryLogEndsWithItsToken checks that a deliveryLog subscriber whose API token is
// revoked (revokeApiToken, on the same process) has its connection closed with 4403, after a
// connection_error on graphql-ws, as a refused connection_init, and is sent no attempt stored
// after the revocation, while a connection of the same user with another token streams on.
func TestDeliveryLogEndsWithItsToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		w := setupLogWorld(t, s)
		listenCtx, stop := context.WithCancel(ctx)
		t.Cleanup(stop)
		go s.Listen(listenCtx)
		tokenID, other := w.secondToken(t)

		const query = "subscription { deliveryLog { id } }"
		revoked := map[string]*wsClient{}
		for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
			revoked[protocol] = w.subscribeOver(t, protocol, w.managerA, query, nil)
		}
		kept := w.subscribeTo(t, other, query, nil)
		waitFor(t, func() bool { return s.Hub().Len() == 3 })
		// The PostgreSQL listener may connect after the subscriptions; repeat until heard.
		for deadline := time.Now().Add(10 * time.Second); ; {
			id := w.attempt(t, w.hookA)
			if got, _ := received(t, kept, time.Second); containsAny(got, id) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no attempt reached the subscriber")
			}
		}

		data, codes := w.post(t, w.admin, `mutation($id: ID!) { revokeApiToken(id: $id) }`, map[string]any{"id": tokenID})
		if len(codes) > 0 || string(data) != `{"revokeApiToken":true}` {
			t.Fatalf("revokeApiToken: %s %v", data, codes)
		}
		if _, codes := w.post(t, w.managerA, `{ me { id } }`, nil); len(codes) != 1 || codes[0] != models.CodeUnauthenticated {
			t.Fatalf("the revoked token still authenticates: %v", codes)
		}
		after := w.attempt(t, w.hookA)
		for deadline := time.Now().Add(10 * time.Second); ; {
			if got, errs := received(t, kept, time.Second); len(errs) > 0 || containsAny(got, after) {
				if len(errs) > 0 {
					t.Fatalf("the connection with another token got %v", errs)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the connection with another token missed %s", after)
			}
		}

		for protocol, c := range revoked {
			var types []string
			timeout := time.After(10 * time.Second)
			for open := true; open; {
				select {
				case m, ok := <-c.C:
					if open = ok; !ok {
						break
					}
					if strings.Contains(string(m.Payload), after) {
						t.Errorf("%s: the revoked token's subscriber got %s, stored after the revocation", protocol, after)
					}
					types = append(types, m.Type)
				case <-timeout:
					t.Fatalf("%s: the revoked token's connection is still open", protocol)
				}
			}
			var ce *websocket.CloseError
			if !asCloseError(c.Err, &ce) || ce.Code != 4403 {
				t.Errorf("%s: the revoked token's connection ended with %v, want close 4403", protocol, c.Err)
			}
			if protocol == "graphql-ws" && !slices.Contains(types, "connection_error") {
				t.Errorf("graphql-ws: got %v before the close, want a connection_error", types)
			}
		}
	})
}

// TestRevokedTokenClosesItsConnections checks that revoking an API token (revokeApiToken, over
// another connection) closes every websocket authenticated with it, through connection_init
// or the upgrade request's header, even with no subscription: with 4403, after a
// connection_error on graphql-ws, as a refused connection_init, and nothing sent on it
// afterwards is executed. A connection of the same user with another token goes on, and HTTP
// requests with the revoked token are refused.
func TestRevokedTokenClosesItsConnections(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupLogWorld(t, s)
		tokenID, other := w.secondToken(t)
		revoked := map[string]*websocket.Conn{
			"graphql-transport-ws": w.connect(t, "graphql-transport-ws", nil, w.managerA),
			"graphql-ws":           w.connect(t, "graphql-ws", nil, w.managerA),
			"upgrade header":       w.connect(t, "graphql-transport-ws", http.Header{"Authorization": {"Bearer " + w.managerA}}, ""),
		}
		kept := w.connect(t, "graphql-transport-ws", nil, other)
		admin := w.connect(t, "graphql-transport-ws", nil, w.admin)

		data, codes := execute(t, admin, "1", `mutation($id: ID!) { revokeApiToken(id: $id) }`, map[string]any{"id": tokenID})
		if len(codes) > 0 || string(data) != `{"revokeApiToken":true}` {
			t.Fatalf("revokeApiToken: %s %v", data, codes)
		}
		const create = `mutation($t: ID!, $n: String!) { createService(teamId: $t, name: $n) { id } }`
		for name, c := range revoked {
			startOperation(t, c, "1", create, map[string]any{"t": w.teamA, "n": name})
		}
		for name, c := range revoked {
			got, err := readUntilClosed(c)
			var ce *websocket.CloseError
			if !asCloseError(err, &ce) || ce.Code != 4403 {
				t.Errorf("%s: the revoked token's connection ended with %v, want close 4403", name, err)
			}
			var want []string
			if name == "graphql-ws" {
				want = []string{`connection_error {"message":"API token revoked"}`}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: got %q before the close, want %q", name, got, want)
			}
		}
		if _, codes := w.post(t, w.managerA, create, map[string]any{"t": w.teamA, "n": "http"}); !slices.Equal(codes, []string{models.CodeUnauthenticated}) {
			t.Errorf("createService over HTTP with the revoked token: got %v, want UNAUTHENTICATED", codes)
		}
		if data, codes := execute(t, kept, "1", create, map[string]any{"t": w.teamA, "n": "kept"}); len(codes) > 0 {
			t.Fatalf("createService on the connection with another token: %s %v", data, codes)
		}
		data, codes = w.post(t, w.admin, `query($t: ID!) { services(teamId: $t) { name } }`, map[string]any{"t": w.teamA})
		if len(codes) > 0 || string(data) != `{"services":[{"name":"kept"}]}` {
			t.Errorf("team A's services: got %s %v, want only the one created with the other token", data, codes)
		}
	})
}

// TestWebsocketTokenWatchEndsWithConnection checks that the watch each connection keeps on its
// token ends with the connection however it ends (the client's close frame or a dropped TCP
// connection, with or without a subscription), and that a refused connection keeps none.
func TestWebsocketTokenWatchEndsWithConnection(t *testing.T) {
	t.Parallel()
	w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
	hub := w.store.Hub()
	const conns = 40
	var open []*websocket.Conn
	for i := range conns {
		protocol := []string{"graphql-transport-ws", "graphql-ws"}[i%2]
		c := w.connect(t, protocol, nil, w.managerA)
		if i%4 < 2 {
			startOperation(t, c, "1", "subscription { deliveryLog { id } }", nil)
		}
		open = append(open, c)
	}
	waitFor(t, func() bool { return hub.Len() == conns/2 })
	if n := hub.TokenWatches(); n != conns {
		t.Fatalf("%d token watches for %d connections, want one each", n, conns)
	}
	refused, _, err := websocket.DefaultDialer.Dial(w.url, nil)
	must(t, err)
	defer refused.Close()
	must(t, refused.WriteJSON(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer hrd_not-a-token"}`)}))
	if _, err := readUntilClosed(refused); !websocket.IsCloseError(err, 4403) {
		t.Fatalf("a refused token: got %v, want close 4403", err)
	}

	for i, c := range open {
		if i%3 == 0 {
			_ = c.Close()
			continue
		}
		must(t, c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)))
	}
	waitFor(t, func() bool { return hub.TokenWatches() == 0 && hub.Len() == 0 })
}

// readUntilClosed reads c until the connection ends, for ten seconds at most, and returns the
// type and payload of each message but keep-alives, and why reading ended.
func readUntilClosed(c *websocket.Conn) ([]string, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []string
	for {
		var m wsMessage
		if err := c.ReadJSON(&m); err != nil {
			return got, err
		}
		if m.Type != "ping" && m.Type != "ka" {
			got = append(got, m.Type+" "+string(m.Payload))
		}
	}
}

// post sends one GraphQL operation over HTTP and returns its data and its errors' codes.
func (w *logWorld) post(t *testing.T, token, query string, vars map[string]any) (json.RawMessage, []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, strings.Replace(w.url, "ws", "http", 1), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out struct {
		Data   json.RawMessage
		Errors []struct{ Extensions struct{ Code string } }
	}
	must(t, json.NewDecoder(resp.Body).Decode(&out))
	var codes []string
	for _, e := range out.Errors {
		codes = append(codes, e.Extensions.Code)
	}
	return out.Data, codes
}

// TestDeliveryLogDropsSubscriberThatFallsBehind checks that a subscriber more ids behind than
// the hub keeps is sent LIMIT_EXCEEDED in an error message and unsubscribed, while the
// connection stays open for a new subscription.
func TestDeliveryLogDropsSubscriberThatFallsBehind(t *testing.T) {
	t.Parallel()
	w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
	c := w.subscribe(t, w.admin, "")
	waitFor(t, func() bool { return w.store.Hub().Len() == 1 })
	ids := make([]string, 1000) // one burst, more than any backlog: nothing is read in between
	for i := range ids {
		ids[i] = fmt.Sprintf("no-such-attempt-%d", i)
	}
	w.store.Hub().Publish(ids...)
	select {
	case m := <-c.C:
		var errs []struct {
			Message    string
			Extensions struct{ Code string }
		}
		if err := json.Unmarshal(m.Payload, &errs); err != nil || m.Type != "error" || m.ID != "1" || len(errs) != 1 || errs[0].Extensions.Code != models.CodeLimitExceeded {
			t.Fatalf("got %s %s (%v), want an error message with LIMIT_EXCEEDED for 1", m.Type, m.Payload, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber that fell behind got no error")
	}
	waitFor(t, func() bool { return w.store.Hub().Len() == 0 })

	q, _ := json.Marshal(map[string]any{"query": "subscription { deliveryLog { id } }"})
	must(t, c.conn.WriteJSON(wsMessage{ID: "2", Type: "subscribe", Payload: q}))
	waitFor(t, func() bool { return w.store.Hub().Len() == 1 })
	id := w.attempt(t, w.hookA)
	if got, errs := received(t, c, 2*time.Second); len(errs) > 0 || !equalSet(got, id) {
		t.Fatalf("resubscribed: got %v, errors %v, want %s", got, errs, id)
	}
}

func TestDeliveryLogLeavesNoGoroutines(t *testing.T) {
	w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
	before := runtime.NumGoroutine()
	var conns []*wsClient
	for range 20 {
		conns = append(conns, w.subscribe(t, w.admin, ""))
	}
	waitFor(t, func() bool { return w.store.Hub().Len() == len(conns) })
	id := w.attempt(t, w.hookA)
	for _, c := range conns {
		select {
		case m := <-c.C:
			if m.Type != "next" || !strings.Contains(string(m.Payload), id) {
				t.Fatalf("subscriber got %s %s, want attempt %s", m.Type, m.Payload, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber missed %s", id)
		}
		_ = c.conn.Close()
	}
	waitFor(t, func() bool { return w.store.Hub().Len() == 0 })
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines after closing, %d before", n, before)
	}
}

// TestDeliveryLogSharesResults checks that the subscribers of one deliveryLog operation that
// get an attempt are sent one result, made once for all of them whoever they are: the
// webhook's team is read once per operation, not once per subscriber. A subscriber with other
// variables gets a result of its own, and one who may not see the attempt gets nothing.
func TestDeliveryLogSharesResults(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	var teamReads atomic.Int64
	must(t, s.DB().Callback().Query().After("gorm:query").Register("test:count_team_reads", func(db *gorm.DB) {
		if db.Statement.Table == "teams" {
			teamReads.Add(1)
		}
	}))
	w := setupLogWorld(t, s)
	query := `subscription($w: ID) { deliveryLog(webhookId: $w) { id test webhook { id team { id name } } } }`
	shared := []*wsClient{w.subscribeTo(t, w.admin, query, nil), w.subscribeTo(t, w.admin, query, nil), w.subscribeTo(t, w.managerA, query, nil)}
	own := w.subscribeTo(t, w.admin, query, map[string]any{"w": w.hookA})
	member := w.subscribeTo(t, w.memberB, query, nil)
	waitFor(t, func() bool { return s.Hub().Len() == 5 })

	before := teamReads.Load()
	id := w.attempt(t, w.hookA)
	want := fmt.Sprintf(`{"data":{"deliveryLog":{"id":%q,"test":true,"webhook":{"id":%q,"team":{"id":%q,"name":"A"}}}}}`, id, w.hookA, w.teamA)
	for i, c := range append(shared, own) {
		select {
		case m := <-c.C:
			if m.Type != "next" || string(m.Payload) != want {
				t.Errorf("subscriber %d got %s %s, want next %s", i, m.Type, m.Payload, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber %d missed %s", i, id)
		}
	}
	if n := teamReads.Load() - before; n != 2 {
		t.Errorf("the team was read %d times for two operations, want once each", n)
	}
	if got, errs := received(t, member, time.Second); len(got) > 0 || len(errs) > 0 {
		t.Errorf("a member of another team got %v %v", got, errs)
	}
}

// TestDeliveryLogDoesNotShareCallerDependentResults checks that an operation selecting an
// assignee's API tokens, which admins see and a manager may not, is executed for each
// subscriber: the manager gets FORBIDDEN, never the tokens an admin's result holds, whichever
// subscriber's result is made first.
func TestDeliveryLogDoesNotShareCallerDependentResults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.Open(t, models.DialectSQLite)
	w := setupLogWorld(t, s)
	sv, err := s.CreateService(ctx, w.teamA, "api")
	must(t, err)
	oncall, err := s.CreateUser(ctx, "on-call", nil, models.RoleMember, []string{w.teamA})
	must(t, err)
	_, err = s.CreateAPIToken(ctx, oncall.ID, "pager")
	must(t, err)

	query := `subscription { deliveryLog { id delivery { incident { assignee { apiTokens { name } } } } } }`
	var admins []*wsClient
	for range 3 {
		admins = append(admins, w.subscribeTo(t, w.admin, query, nil))
	}
	manager := w.subscribeTo(t, w.managerA, query, nil)
	waitFor(t, func() bool { return s.Hub().Len() == 4 })

	for range 3 { // the manager's result may be made first, or not
		_, err := s.CreateIncident(ctx, "test", models.NewIncident{ServiceID: sv.ID, Title: "disk full", AssigneeID: &oncall.ID})
		must(t, err)
		claimed, err := s.ClaimDeliveries(ctx, "lease", 10, 0, time.Minute, nil)
		must(t, err)
		for _, cd := range claimed {
			if cd.Webhook.ID != w.hookA {
				continue
			}
			a := &models.Attempt{
				DeliveryID: &cd.Delivery.ID, WebhookID: &w.hookA, Event: webhook.EventCreated, Number: 1, Outcome: models.AttemptSucceeded,
				Request: models.NewJSON(webhook.RequestLog{Method: "POST", URL: "https://receiver.example/hook"}), StartedAt: time.Now(),
			}
			_, err := s.CompleteAttempt(ctx, &models.AttemptCompletion{LeaseToken: "lease", Attempt: a, Decision: outcome.Decision{Verdict: outcome.Delivered}})
			must(t, err)
		}
		for i, c := range append(admins, manager) {
			var m wsMessage
			select {
			case m = <-c.C:
			case <-time.After(5 * time.Second):
				t.Fatalf("subscriber %d missed the attempt", i)
			}
			tokens := strings.Contains(string(m.Payload), `"pager"`)
			forbidden := strings.Contains(string(m.Payload), models.CodeForbidden)
			if c == manager && (tokens || !forbidden) || c != manager && (!tokens || forbidden) {
				t.Fatalf("subscriber %d (manager: %v) got %s", i, c == manager, m.Payload)
			}
		}
	}
}

// TestSelectsCallerDependent checks that an operation is found to select a field of
// callerDependentFields however it is written.
func TestSelectsCallerDependent(t *testing.T) {
	t.Parallel()
	schema := NewExecutableSchema(Config{Resolvers: &Resolver{}}).Schema()
	const tokens = `delivery { incident { assignee { apiTokens { id } } } }`
	tests := map[string]struct {
		query string
		want  bool
	}{
		"none":                {`subscription { deliveryLog { id webhook { id name } delivery { incident { assignee { id } } } } }`, false},
		"field":               {`subscription { deliveryLog { ` + tokens + ` } }`, true},
		"alias":               {`subscription { deliveryLog { delivery { incident { assignee { t: apiTokens { id } } } } } }`, true},
		"inline fragment":     {`subscription { deliveryLog { delivery { incident { assignee { ... on User { apiTokens { id } } } } } } }`, true},
		"fragment":            {`subscription { deliveryLog { ...A } } fragment A on DeliveryAttempt { ` + tokens + ` }`, true},
		"nested fragment":     {`subscription { deliveryLog { id ...A } } fragment A on DeliveryAttempt { delivery { incident { assignee { ...U } } } } fragment U on User { apiTokens { id } }`, true},
		"fragment used twice": {`subscription { deliveryLog { ...A delivery { attempts { ...A } } } } fragment A on DeliveryAttempt { id }`, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, errs := gqlparser.LoadQueryWithRules(schema, tc.query, nil)
			if errs != nil {
				t.Fatal(errs)
			}
			if got := selectsCallerDependent(doc.Operations[0].SelectionSet, map[string]bool{}); got != tc.want {
				t.Fatalf("selectsCallerDependent = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCallerChecksAreAccountedFor guards deliveryLog's shared results (logStream.fill): each
// field resolver that asks who the caller is must either answer alike every caller who may
// read the attempt's webhook, or have its field in callerDependentFields. A new one fails
// here until someone has decided which, and said why in fill's comment or in
// callerDependentFields.
func TestCallerChecksAreAccountedFor(t *testing.T) {
	t.Parallel()
	alike := map[string]bool{
		"deliveryResolver.Webhook": true, "deliveryAttemptResolver.Delivery": true,
		"deliveryAttemptResolver.Webhook": true, "webhookResolver.Deliveries": true,
	}
	dependent := map[string]string{"userResolver.APITokens": "apiTokens", "userResolver.Teams": "teams", "incidentResolver.Deliveries": "deliveries"}
	f, err := parser.ParseFile(token.NewFileSet(), "schema.resolvers.go", nil, 0)
	must(t, err)
	for _, decl := range f.Decls {
		fn, ok := decl.(*goast.FuncDecl)
		if !ok || fn.Recv == nil || fn.Body == nil {
			continue
		}
		star, ok := fn.Recv.List[0].Type.(*goast.StarExpr)
		if !ok {
			continue
		}
		recv := star.X.(*goast.Ident).Name
		if recv == "Resolver" || recv == "queryResolver" || recv == "mutationResolver" || recv == "subscriptionResolver" {
			continue
		}
		asks := false
		goast.Inspect(fn.Body, func(n goast.Node) bool {
			if id, ok := n.(*goast.Ident); ok && id.Name == "principal" {
				asks = true
			}
			return !asks
		})
		name := recv + "." + fn.Name.Name
		if asks && !alike[name] && !callerDependentFields[dependent[name]] {
			t.Errorf("%s asks who the caller is: say why deliveryLog may share its results (logStream.fill) or list its field in callerDependentFields", name)
		}
	}
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	*ce = c
	return ok
}

func equalSet(got []string, want ...string) bool {
	return len(got) == len(want) && containsAll(got, want...)
}

func containsAll(got []string, want ...string) bool {
	for _, w := range want {
		if !containsAny(got, w) {
			return false
		}
	}
	return true
}

func containsAny(got []string, any ...string) bool {
	for _, g := range got {
		for _, a := range any {
			if g == a {
				return true
			}
		}
	}
	return false
}

func except(all, keep []string) []string {
	var out []string
	for _, a := range all {
		if !containsAny(keep, a) {
			out = append(out, a)
		}
	}
	return out
}

// waitFor polls until cond holds, failing the test after ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGraphQLWhileDatabaseCut: with the connection to PostgreSQL cut, an operation over HTTP
// and one on a websocket opened before the cut answer UNAVAILABLE, and a websocket opened
// during the cut is closed with 4500 (an error on the server: reconnect later), not refused
// with 4403 (give up).
func TestGraphQLWhileDatabaseCut(t *testing.T) {
	t.Parallel()
	proxy, via := storetest.NewProxy(t, storetest.URL(t, models.DialectPostgres))
	w := setupLogWorld(t, storetest.OpenURL(t, via))
	open := w.connect(t, "graphql-transport-ws", nil, w.admin)

	proxy.Cut()
	const query = `query($t: ID!) { services(teamId: $t) { name } }`
	if _, codes := w.post(t, w.admin, query, map[string]any{"t": w.teamA}); !slices.Equal(codes, []string{models.CodeUnavailable}) {
		t.Errorf("over HTTP: codes %v, want UNAVAILABLE", codes)
	}
	if _, codes := execute(t, open, "1", query, map[string]any{"t": w.teamA}); !slices.Equal(codes, []string{models.CodeUnavailable}) {
		t.Errorf("on the open websocket: codes %v, want UNAVAILABLE", codes)
	}
	for name, header := range map[string]http.Header{"connection_init": nil, "upgrade header": {"Authorization": {"Bearer " + w.admin}}} {
		c, _, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial(w.url, header)
		must(t, err)
		var init json.RawMessage
		if header == nil {
			init, _ = json.Marshal(map[string]any{"Authorization": "Bearer " + w.admin})
		}
		must(t, c.WriteJSON(wsMessage{Type: "connection_init", Payload: init}))
		_, err = readUntilClosed(c)
		var ce *websocket.CloseError
		if !asCloseError(err, &ce) || ce.Code != 4500 {
			t.Errorf("%s during the cut: ended with %v, want close 4500", name, err)
		}
		_ = c.Close()
	}

	proxy.Restore()
	if _, codes := w.post(t, w.admin, query, map[string]any{"t": w.teamA}); len(codes) > 0 {
		t.Errorf("after the restore: codes %v", codes)
	}
}
