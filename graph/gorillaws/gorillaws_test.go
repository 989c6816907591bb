package gorillaws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/herald-hq/herald/graph/gorillaws"
)

// protocols lists each subprotocol with its names for starting a
// subscription and for a result.
var protocols = map[string]struct {
	subscribe, next string
}{
	"graphql-transport-ws": {subscribe: "subscribe", next: "next"},
	"graphql-ws":           {subscribe: "start", next: "data"},
}

type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type fixture struct {
	gql *testserver.TestServer
	url string // ws:// address of the GraphQL endpoint
}

// setup serves gqlgen's test schema over ws, with an InitFunc that accepts
// only "Bearer good" unless ws sets its own.
func setup(t *testing.T, ws transport.Websocket) fixture {
	t.Helper()
	if ws.InitFunc == nil {
		ws.InitFunc = func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if p.Authorization() != "Bearer good" {
				return gorillaws.Forbidden(ctx, "invalid token")
			}
			return ctx, nil, nil
		}
	}
	gql := testserver.New()
	gql.AddTransport(ws)
	srv := httptest.NewServer(gql)
	t.Cleanup(srv.Close)
	return fixture{gql: gql, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

func dial(t *testing.T, url string, header http.Header, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	dialer := websocket.Dialer{Subprotocols: subprotocols, HandshakeTimeout: 5 * time.Second}
	c, resp, err := dialer.Dial(url, header)
	if resp != nil {
		_ = resp.Body.Close()
	}
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, resp, err
}

func mustDial(t *testing.T, url, protocol string) *websocket.Conn {
	t.Helper()
	c, _, err := dial(t, url, nil, protocol)
	if err != nil {
		t.Fatalf("dial %s: %v", protocol, err)
	}
	if got := c.Subprotocol(); got != protocol {
		t.Fatalf("negotiated %q, want %q", got, protocol)
	}
	return c
}

func send(t *testing.T, c *websocket.Conn, m message) {
	t.Helper()
	if err := c.WriteJSON(m); err != nil {
		t.Fatalf("send %s: %v", m.Type, err)
	}
}

func receive(t *testing.T, c *websocket.Conn) message {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var m message
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("receive: %v", err)
	}
	return m
}

func expect(t *testing.T, c *websocket.Conn, typ string) message {
	t.Helper()
	m := receive(t, c)
	if m.Type != typ {
		t.Fatalf("got %s message %s, want %s", m.Type, m.Payload, typ)
	}
	return m
}

// readClose reads until the connection ends and returns the error, failing
// on a read timeout.
func readClose(t *testing.T, c *websocket.Conn) error {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := c.ReadMessage()
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			t.Fatalf("connection still open: %v", err)
		}
		if err != nil {
			return err
		}
		t.Logf("before close: %s", data)
	}
}

// initialise sends connection_init with token and expects the ack (and, on
// graphql-ws, the first keep-alive that gqlgen sends with it).
func initialise(t *testing.T, c *websocket.Conn, token string) {
	t.Helper()
	send(t, c, message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + token + `"}`)})
	expect(t, c, "connection_ack")
	if c.Subprotocol() == "graphql-ws" {
		expect(t, c, "ka")
	}
}

func subscribe(t *testing.T, c *websocket.Conn, id string) {
	t.Helper()
	send(t, c, message{ID: id, Type: protocols[c.Subprotocol()].subscribe, Payload: json.RawMessage(`{"query":"subscription { name }"}`)})
}

// eventually polls cond until it holds, failing after ten seconds with
// describe's account of what is still wrong.
func eventually(t *testing.T, cond func() bool, describe func() string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal(describe())
		}
	}
}

// TestNoGoroutineLeak is not parallel: it runs while the parallel tests wait,
// so the goroutine count only moves with its own connections.
func TestNoGoroutineLeak(t *testing.T) {
	disconnects := map[string]func(c *websocket.Conn){
		"close frame": func(c *websocket.Conn) {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = readClose(t, c)
		},
		"dropped": func(c *websocket.Conn) { _ = c.Close() },
	}
	type client struct {
		fx         fixture
		protocol   string
		disconnect func(c *websocket.Conn)
	}
	var clients []client
	for protocol := range protocols {
		for _, disconnect := range disconnects {
			fx := setup(t, transport.Websocket{
				Implementation:        gorillaws.Implementation{},
				KeepAlivePingInterval: 5 * time.Millisecond, // graphql-ws: ka keeps coming
				PingPongInterval:      time.Second,          // graphql-transport-ws: no pong deadline reached
			})
			clients = append(clients, client{fx: fx, protocol: protocol, disconnect: disconnect})
		}
	}
	before := runtime.NumGoroutine()

	conns := make([]*websocket.Conn, len(clients))
	for i, cl := range clients {
		c := mustDial(t, cl.fx.url, cl.protocol)
		initialise(t, c, "good")
		subscribe(t, c, "1")
		cl.fx.gql.SendNextSubscriptionMessage()
		for m := receive(t, c); m.Type != protocols[cl.protocol].next; m = receive(t, c) {
			if m.Type == "ping" {
				send(t, c, message{Type: "pong"})
			}
		}
		conns[i] = c
	}
	if runtime.NumGoroutine() <= before {
		t.Fatalf("%d goroutines with %d live subscriptions, %d before: the check below would prove nothing", runtime.NumGoroutine(), len(conns), before)
	}
	for i, c := range conns {
		clients[i].disconnect(c) // with the subscription still running
	}

	var now int
	eventually(t, func() bool { now = runtime.NumGoroutine(); return now <= before }, func() string {
		var stacks bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		return fmt.Sprintf("%d goroutines after disconnecting, %d before:\n%s", now, before, stacks.String())
	})
}

func TestSubscription(t *testing.T) {
	t.Parallel()
	for protocol, names := range protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			fx := setup(t, transport.Websocket{Implementation: gorillaws.Implementation{}})
			c := mustDial(t, fx.url, protocol)
			initialise(t, c, "good")
			subscribe(t, c, "sub-1")
			for range 2 {
				fx.gql.SendNextSubscriptionMessage()
				m := expect(t, c, names.next)
				if m.ID != "sub-1" {
					t.Errorf("id %q, want sub-1", m.ID)
				}
				var payload map[string]any
				if err := json.Unmarshal(m.Payload, &payload); err != nil {
					t.Fatal(err)
				}
				if data, _ := payload["data"].(map[string]any); data["name"] != "test" {
					t.Errorf("payload %s, want data.name test", m.Payload)
				}
			}
			fx.gql.SendCompleteSubscriptionMessage()
			if m := expect(t, c, "complete"); m.ID != "sub-1" {
				t.Errorf("complete id %q, want sub-1", m.ID)
			}

			if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if err := readClose(t, c); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("closing: %v, want close 1000", err)
			}
		})
	}
}

func TestSubprotocolPreference(t *testing.T) {
	t.Parallel()
	fx := setup(t, transport.Websocket{Implementation: gorillaws.Implementation{}})
	c, _, err := dial(t, fx.url, nil, "graphql-ws", "graphql-transport-ws")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Subprotocol(); got != "graphql-transport-ws" {
		t.Errorf("negotiated %q, want graphql-transport-ws", got)
	}
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	t.Run("graphql-ws ka", func(t *testing.T) {
		t.Parallel()
		fx := setup(t, transport.Websocket{Implementation: gorillaws.Implementation{}, KeepAlivePingInterval: 10 * time.Millisecond})
		c := mustDial(t, fx.url, "graphql-ws")
		initialise(t, c, "good")
		for range 3 {
			expect(t, c, "ka")
		}
	})
	t.Run("graphql-transport-ws ping pong", func(t *testing.T) {
		t.Parallel()
		interval := 100 * time.Millisecond // pongs must arrive within 2×, even on a loaded -race run
		fx := setup(t, transport.Websocket{Implementation: gorillaws.Implementation{}, PingPongInterval: interval})
		c := mustDial(t, fx.url, "graphql-transport-ws")
		initialise(t, c, "good")
		start := time.Now()
		for range 4 { // outlives the first pong deadline (2 × interval)
			expect(t, c, "ping")
			send(t, c, message{Type: "pong"})
		}
		if elapsed := time.Since(start); elapsed < 2*interval {
			t.Fatalf("4 pings in %v, want them spaced by %v", elapsed, interval)
		}
		send(t, c, message{Type: "ping"})
		for m := receive(t, c); m.Type != "pong"; m = receive(t, c) {
			if m.Type != "ping" {
				t.Fatalf("got %s, want pong", m.Type)
			}
			send(t, c, message{Type: "pong"})
		}
	})
	t.Run("graphql-transport-ws missing pong", func(t *testing.T) {
		t.Parallel()
		fx := setup(t, transport.Websocket{Implementation: gorillaws.Implementation{}, PingPongInterval: 20 * time.Millisecond})
		c := mustDial(t, fx.url, "graphql-transport-ws")
		initialise(t, c, "good")
		expect(t, c, "ping")
		if err := readClose(t, c); err == nil {
			t.Fatal("connection ended without error")
		}
	})
}

func TestInitForbidden(t *testing.T) {
	t.Parallel()
	for protocol := range protocols {
		for name, init := range map[string]message{
			"wrong token": {Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer bad"}`)},
			"no payload":  {Type: "connection_init"},
		} {
			t.Run(protocol+"/"+name, func(t *testing.T) {
				t.Parallel()
				fx := setup(t, transport.Websocket{Implementation: gorillaws.Implementation{}})
				c := mustDial(t, fx.url, protocol)
				send(t, c, init)
				if protocol == "graphql-ws" {
					if m := expect(t, c, "connection_error"); !strings.Contains(string(m.Payload), "invalid token") {
						t.Errorf("connection_error payload %s, want the reason", m.Payload)
					}
				}
				err := readClose(t, c)
				var closeErr *websocket.CloseError
				if !errors.As(err, &closeErr) || closeErr.Code != gorillaws.CloseForbidden || closeErr.Text != "invalid token" {
					t.Fatalf("got %v, want close 4403 invalid token", err)
				}
			})
		}
	}
}

// TestInitPayloadNotObject covers a gqlgen path that returns without closing
// the connection; Accept closes it when the handler returns.
func TestInitPayloadNotObject(t *testing.T) {
	t.Parallel()
	for protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			fx := setup(t, transport.Websocket{Implementation: gorillaws.Implementation{}})
			c := mustDial(t, fx.url, protocol)
			send(t, c, message{Type: "connection_init", Payload: json.RawMessage(`"not an object"`)})
			if err := readClose(t, c); err == nil {
				t.Fatal("connection ended without error")
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	listed := []string{"https://ops.example.com", "http://localhost:3000"}
	tests := map[string]struct {
		origins []string
		origin  string // "self" stands for the server's own address
		want    int
	}{
		"no origin":                {origins: listed, want: http.StatusSwitchingProtocols},
		"same origin":              {origin: "self", want: http.StatusSwitchingProtocols},
		"listed":                   {origins: listed, origin: "https://ops.example.com", want: http.StatusSwitchingProtocols},
		"listed, other case":       {origins: listed, origin: "HTTPS://Ops.Example.com", want: http.StatusSwitchingProtocols},
		"listed with port":         {origins: listed, origin: "http://localhost:3000", want: http.StatusSwitchingProtocols},
		"listed host, other port":  {origins: listed, origin: "https://ops.example.com:8443", want: http.StatusForbidden},
		"listed host, http":        {origins: listed, origin: "http://ops.example.com", want: http.StatusForbidden},
		"foreign":                  {origins: listed, origin: "https://evil.example", want: http.StatusForbidden},
		"foreign, empty list":      {origin: "https://evil.example", want: http.StatusForbidden},
		"opaque origin":            {origins: listed, origin: "null", want: http.StatusForbidden},
		"wildcard is not accepted": {origins: []string{"*"}, origin: "https://evil.example", want: http.StatusForbidden},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fx := setup(t, transport.Websocket{Implementation: gorillaws.Implementation{Origins: tt.origins}})
			header := http.Header{}
			switch tt.origin {
			case "":
			case "self":
				header.Set("Origin", "http://"+strings.TrimPrefix(fx.url, "ws://"))
			default:
				header.Set("Origin", tt.origin)
			}
			_, resp, err := dial(t, fx.url, header, "graphql-transport-ws")
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, err, tt.want)
			}
		})
	}
}

func TestValidateOrigins(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		origins []string
		wantErr bool
	}{
		"none":           {},
		"valid":          {origins: []string{"https://ops.example.com", "http://localhost:3000", "HTTPS://Ops.Example.com"}},
		"wildcard":       {origins: []string{"*"}, wantErr: true},
		"wildcard host":  {origins: []string{"https://*.example.com"}, wantErr: true},
		"trailing slash": {origins: []string{"https://ops.example.com/"}, wantErr: true},
		"path":           {origins: []string{"https://ops.example.com/app"}, wantErr: true},
		"no scheme":      {origins: []string{"ops.example.com"}, wantErr: true},
		"other scheme":   {origins: []string{"file://ops.example.com"}, wantErr: true},
		"default port":   {origins: []string{"https://ops.example.com:443"}, wantErr: true},
		"empty port":     {origins: []string{"https://ops.example.com:"}, wantErr: true},
		"userinfo":       {origins: []string{"https://me@ops.example.com"}, wantErr: true},
		"one bad entry":  {origins: []string{"https://ops.example.com", "*"}, wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := gorillaws.ValidateOrigins(tt.origins); (err != nil) != tt.wantErr {
				t.Fatalf("ValidateOrigins(%q) = %v, want error %v", tt.origins, err, tt.wantErr)
			}
		})
	}
}

// acceptDirect serves handle on a connection accepted by impl, without
// gqlgen's transport, which would serialise writes itself.
func acceptDirect(t *testing.T, impl gorillaws.Implementation, handle func(transport.WebsocketConn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{ResponseHeader: http.Header{}})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		handle(c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestConcurrentWritesAndLongCloseReason(t *testing.T) {
	t.Parallel()
	const writers, each = 8, 50
	reason := strings.Repeat("é", 100) // 200 bytes, beyond a close frame
	url := acceptDirect(t, gorillaws.Implementation{}, func(c transport.WebsocketConn) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if err := c.WriteJSON(map[string]int{"writer": w, "i": i}); err != nil {
						t.Errorf("write: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := c.WriteClose(4000, reason); err != nil {
			t.Errorf("write close: %v", err)
		}
		_ = c.Close()
	})
	c, _, err := dial(t, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range writers * each {
		var m map[string]int
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	err = readClose(t, c)
	var closeErr *websocket.CloseError
	if !errors.As(err, &closeErr) || closeErr.Code != 4000 {
		t.Fatalf("got %v, want close 4000", err)
	}
	if len(closeErr.Text) > 123 || !utf8.ValidString(closeErr.Text) || !strings.HasPrefix(reason, closeErr.Text) || closeErr.Text == "" {
		t.Errorf("close reason %q (%d bytes), want a valid prefix of at most 123 bytes", closeErr.Text, len(closeErr.Text))
	}
}

// TestStalledPeerIsDropped checks that a write timing out closes the
// connection, so the transport's read loop ends instead of waiting forever.
func TestStalledPeerIsDropped(t *testing.T) {
	t.Parallel()
	type result struct{ writeErr, readErr error }
	done := make(chan result, 1)
	big := strings.Repeat("x", 64<<10)
	url := acceptDirect(t, gorillaws.Implementation{WriteTimeout: 50 * time.Millisecond}, func(c transport.WebsocketConn) {
		var res result
		for res.writeErr == nil {
			res.writeErr = c.WriteJSON(big) // the client never reads
		}
		_, _, res.readErr = c.NextReader()
		done <- res
	})
	if _, _, err := dial(t, url, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		if res.readErr == nil {
			t.Fatal("read succeeded on a dropped connection")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server still blocked on the stalled peer")
	}
}

// TestNormalCloseIsNotAnError checks that a client closing normally, or going
// away as a browser tab does, is not reported to ErrorFunc.
func TestNormalCloseIsNotAnError(t *testing.T) {
	t.Parallel()
	for name, code := range map[string]int{
		"normal":     websocket.CloseNormalClosure,
		"going away": websocket.CloseGoingAway,
		"no status":  websocket.CloseNoStatusReceived,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var (
				mu       sync.Mutex
				reported []error
			)
			closed := make(chan struct{})
			fx := setup(t, transport.Websocket{
				Implementation: gorillaws.Implementation{},
				ErrorFunc: func(_ context.Context, err error) {
					mu.Lock()
					defer mu.Unlock()
					reported = append(reported, err)
				},
				// gqlgen reports a read error before it closes.
				CloseFunc: func(context.Context, int) { close(closed) },
			})
			c := mustDial(t, fx.url, "graphql-transport-ws")
			initialise(t, c, "good")
			if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("server did not close")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reported) != 0 {
				t.Errorf("ErrorFunc got %v", reported)
			}
		})
	}
}
