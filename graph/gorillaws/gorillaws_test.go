package gorillaws_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/herald-hq/herald/graph/gorillaws"
)

// TestNoGoroutineLeak is not parallel: it runs while the parallel tests wait, so the
// goroutine count only moves with its own connections. Each connection holds a streaming
// subscription and (on graphql-ws) a keep-alive that keeps firing when it disconnects.
func TestNoGoroutineLeak(t *testing.T) {
	disconnects := map[string]func(c *websocket.Conn){
		"close frame": func(c *websocket.Conn) {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = readClose(t, c)
		},
		"dropped": func(c *websocket.Conn) { _ = c.Close() },
	}
	keepAlive := map[string]time.Duration{
		"graphql-ws":           5 * time.Millisecond, // ka keeps coming
		"graphql-transport-ws": time.Second,          // pongs are not due during the test
	}
	type client struct {
		c          *websocket.Conn
		feed       *feed
		disconnect func(c *websocket.Conn)
	}
	var fixtures []*fixture
	for protocol := range protocols {
		for range disconnects {
			fixtures = append(fixtures, setup(t, &gorillaws.Transport{KeepAlive: keepAlive[protocol]}))
		}
	}
	before := runtime.NumGoroutine()

	var clients []client
	i := 0
	for protocol := range protocols {
		for _, disconnect := range disconnects {
			fx := fixtures[i]
			i++
			c := mustDial(t, fx.url, protocol)
			initialise(t, c, "good", true)
			subscribe(t, c, "1", "subscription { name }")
			f := fx.nextFeed(t)
			f.send("test")
			for m := receive(t, c); m.Type != protocols[protocol].next; m = receive(t, c) {
				if m.Type == "ping" {
					send(t, c, message{Type: "pong"})
				}
			}
			clients = append(clients, client{c: c, feed: f, disconnect: disconnect})
		}
	}
	if runtime.NumGoroutine() <= before {
		t.Fatalf("%d goroutines with %d live subscriptions, %d before: the check below would prove nothing", runtime.NumGoroutine(), len(clients), before)
	}
	for _, cl := range clients {
		cl.disconnect(cl.c) // with the subscription still running
	}
	for _, cl := range clients {
		cl.feed.waitEnded(t)
	}

	var now int
	eventually(t, func() bool { now = runtime.NumGoroutine(); return now <= before }, func() string {
		var stacks bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		return fmt.Sprintf("%d goroutines after disconnecting, %d before:\n%s", now, before, stacks.String())
	})
}

// TestOneGoroutinePerIdleConnection checks the point of the transport: a connection with a
// streaming subscription and keep-alive holds its reader goroutine and nothing else (not
// net/http's either) while nothing is sent, and a subscription ignoring the Stream holds one
// goroutine more.
func TestOneGoroutinePerIdleConnection(t *testing.T) {
	fx := setup(t, &gorillaws.Transport{KeepAlive: time.Minute})
	const conns = 20
	for range conns {
		c := mustDial(t, fx.url, "graphql-transport-ws")
		initialise(t, c, "good", true)
		subscribe(t, c, "1", "subscription { name }")
		f := fx.nextFeed(t)
		f.send("test")
		expectData(t, c, "1", "test")
	}
	var n int
	eventually(t, func() bool { n = serverGoroutines(); return n == conns }, func() string {
		return fmt.Sprintf("%d server goroutines for %d idle subscribed connections, want %d", n, conns, conns)
	})
	c := mustDial(t, fx.url, "graphql-transport-ws")
	initialise(t, c, "good", true)
	subscribe(t, c, "1", "subscription { plain }")
	eventually(t, func() bool { n = serverGoroutines(); return n == conns+2 }, func() string {
		return fmt.Sprintf("%d server goroutines with a subscription ignoring its Stream, want %d", n, conns+2)
	})
}

// serverGoroutines counts the goroutines serving websocket connections: in net/http's
// connection loop or in this package.
func serverGoroutines() int {
	var stacks bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
	n := 0
	for g := range strings.SplitSeq(stacks.String(), "\n\n") {
		if strings.Contains(g, "net/http.(*conn).serve") || strings.Contains(g, "/graph/gorillaws.") {
			n++
		}
	}
	return n
}

func TestOperations(t *testing.T) {
	t.Parallel()
	for protocol, names := range protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			fx := setup(t, &gorillaws.Transport{})
			c := mustDial(t, fx.url, protocol)
			initialise(t, c, "good", false)

			// A streaming subscription, ended by the resolver.
			subscribe(t, c, "stream", "subscription { name }")
			f := fx.nextFeed(t)
			f.send("a", "b")
			expectData(t, c, "stream", "a")
			expectData(t, c, "stream", "b")
			f.send("c")
			expectData(t, c, "stream", "c")
			f.finish(nil)
			if m := expect(t, c, "complete"); m.ID != "stream" {
				t.Errorf("complete for %q, want stream", m.ID)
			}
			f.waitEnded(t)

			// A query: one result, then complete.
			subscribe(t, c, "query", "query { name }")
			expectData(t, c, "query", "test")
			if m := expect(t, c, "complete"); m.ID != "query" {
				t.Errorf("complete for %q, want query", m.ID)
			}

			// A document that does not validate: the protocol's error message, no complete.
			subscribe(t, c, "invalid", "query { nope }")
			if m := expect(t, c, "error"); m.ID != "invalid" || !strings.Contains(string(m.Payload), "nope") {
				t.Errorf("got error %s for %q, want the validation error for invalid", m.Payload, m.ID)
			}

			// A subscription that ignores its Stream runs on its own goroutine.
			subscribe(t, c, "plain", "subscription { plain }")
			fx.plain <- "p"
			expectData(t, c, "plain", "p")
			close(fx.plain)
			if m := expect(t, c, "complete"); m.ID != "plain" {
				t.Errorf("complete for %q, want plain", m.ID)
			}

			// Stopped by the client: the resolver's context ends and nothing more is sent.
			subscribe(t, c, "stopped", "subscription { name }")
			f = fx.nextFeed(t)
			send(t, c, message{ID: "stopped", Type: names.stop})
			f.waitEnded(t)
			f.send("too late")
			subscribe(t, c, "query", "query { name }")
			expectData(t, c, "query", "test")
			expect(t, c, "complete")

			if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			expectClose(t, c, websocket.CloseNormalClosure)
		})
	}
}

// TestStreamFailure checks that a subscription failed by its resolver (the deliveryLog
// subscriber that fell behind) ends with an error message carrying the error, not complete.
func TestStreamFailure(t *testing.T) {
	t.Parallel()
	for protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			fx := setup(t, &gorillaws.Transport{})
			c := mustDial(t, fx.url, protocol)
			initialise(t, c, "good", false)
			subscribe(t, c, "1", "subscription { name }")
			f := fx.nextFeed(t)
			f.send("a")
			f.finish(errors.New("fell behind"))
			expectData(t, c, "1", "a")
			m := expect(t, c, "error")
			var errs []struct{ Message string }
			if err := json.Unmarshal(m.Payload, &errs); err != nil || m.ID != "1" || len(errs) != 1 || errs[0].Message != "fell behind" {
				t.Fatalf("got error %s for %q (%v), want [{message: fell behind}] for 1", m.Payload, m.ID, err)
			}
			f.waitEnded(t)
			// No complete follows: the next message is the answer to this query.
			subscribe(t, c, "2", "query { name }")
			expectData(t, c, "2", "test")
		})
	}
}

// TestForbid checks that Forbid closes a connection, from outside the transport's goroutines,
// with operations running or none, with 4403 and its reason (after a connection_error on
// graphql-ws), as a refused connection_init: nothing of the values made ready after it is
// sent, nothing the client sends after it is executed, every operation of the connection
// ends, and so does the context its InitFunc was given, while the other connections go on.
// Called by the InitFunc itself (a token revoked while the connection is authenticated), it
// refuses the connection.
func TestForbid(t *testing.T) {
	t.Parallel()
	for protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			inits := make(chan context.Context, 8) // the context each InitFunc was given
			fx := setup(t, &gorillaws.Transport{
				InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
					inits <- ctx
					if p.Authorization() == "Bearer revoked" {
						gorillaws.Forbid(ctx, "token revoked")
					}
					return ctx, nil, nil
				},
			})
			connect := func(t *testing.T) (*websocket.Conn, context.Context) {
				c := mustDial(t, fx.url, protocol)
				initialise(t, c, "good", false)
				return c, <-inits
			}
			expectForbidden := func(t *testing.T, c *websocket.Conn, initCtx context.Context) {
				t.Helper()
				var got []string // type and payload of each message before the close
				var err error
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				for err == nil {
					var m message
					if err = c.ReadJSON(&m); err == nil {
						got = append(got, m.Type+" "+string(m.Payload))
					}
				}
				var closeErr *websocket.CloseError
				if !errors.As(err, &closeErr) || closeErr.Code != gorillaws.CloseForbidden || closeErr.Text != "token revoked" {
					t.Fatalf("got %v, want close 4403 with the reason", err)
				}
				var want []string
				if protocol == "graphql-ws" {
					want = []string{`connection_error {"message":"token revoked"}`}
				}
				if !slices.Equal(got, want) {
					t.Errorf("got %q before the close, want %q", got, want)
				}
				select {
				case <-initCtx.Done():
				case <-time.After(5 * time.Second):
					t.Error("the context the InitFunc was given did not end with the connection")
				}
			}

			t.Run("operations", func(t *testing.T) {
				c, ctx := connect(t)
				subscribe(t, c, "1", "subscription { name }")
				f := fx.nextFeed(t)
				subscribe(t, c, "2", "subscription { name }")
				sibling := fx.nextFeed(t)
				other, otherCtx := connect(t)
				subscribe(t, other, "1", "subscription { name }")
				unrelated := fx.nextFeed(t)

				f.send("before")
				expectData(t, c, "1", "before")
				gorillaws.Forbid(f.ctx, "token revoked")
				f.send("after")
				sibling.send("after")
				expectForbidden(t, c, ctx)
				f.waitEnded(t)
				sibling.waitEnded(t)

				unrelated.send("still")
				expectData(t, other, "1", "still")
				if otherCtx.Err() != nil {
					t.Error("the context of another connection ended")
				}
			})
			t.Run("idle", func(t *testing.T) {
				c, ctx := connect(t)
				gorillaws.Forbid(ctx, "token revoked")
				subscribe(t, c, "1", "subscription { name }")
				expectForbidden(t, c, ctx)
				select {
				case <-fx.feeds:
					t.Error("a subscription sent after Forbid was executed")
				default:
				}
			})
			t.Run("during init", func(t *testing.T) {
				c := mustDial(t, fx.url, protocol)
				send(t, c, message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer revoked"}`)})
				expectForbidden(t, c, <-inits)
			})
		})
	}
}

// TestGoingAway: when the server shuts down, every connection — subscribed, idle, or not yet
// initialised — is closed with 1001 and a reason, so that clients reconnect (to another
// replica) instead of seeing an abnormal closure; its operations end; a connection opened
// afterwards is closed at once the same way.
func TestGoingAway(t *testing.T) {
	t.Parallel()
	tr := &gorillaws.Transport{}
	fx := setup(t, tr)
	subscribed := mustDial(t, fx.url, "graphql-transport-ws")
	initialise(t, subscribed, "good", false)
	subscribe(t, subscribed, "1", "subscription { name }")
	f := fx.nextFeed(t)
	idle := mustDial(t, fx.url, "graphql-ws")
	initialise(t, idle, "good", false)
	fresh := mustDial(t, fx.url, "graphql-transport-ws")

	tr.GoingAway("server shutting down")
	for _, c := range []*websocket.Conn{subscribed, idle, fresh} {
		if e := expectClose(t, c, websocket.CloseGoingAway); e.Text != "server shutting down" {
			t.Errorf("close reason %q", e.Text)
		}
	}
	f.waitEnded(t)
	expectClose(t, mustDial(t, fx.url, "graphql-transport-ws"), websocket.CloseGoingAway)
}

// TestInitContextEnds checks that the context an InitFunc is given ends with the connection,
// whether the InitFunc accepted it or not, and not before.
func TestInitContextEnds(t *testing.T) {
	t.Parallel()
	inits := make(chan context.Context, 2)
	fx := setup(t, &gorillaws.Transport{
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			inits <- ctx
			if p.Authorization() != "Bearer good" {
				return gorillaws.Forbidden(ctx, "invalid token")
			}
			return ctx, nil, nil
		},
	})
	ended := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}

	c := mustDial(t, fx.url, "graphql-transport-ws")
	initialise(t, c, "good", false)
	ctx := <-inits
	subscribe(t, c, "1", "query { name }")
	expectData(t, c, "1", "test")
	if ctx.Err() != nil {
		t.Fatal("the context ended while the connection is open")
	}
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	if !ended(ctx) {
		t.Error("the context of a connection the client closed did not end")
	}

	refused := mustDial(t, fx.url, "graphql-transport-ws")
	send(t, refused, message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer bad"}`)})
	expectClose(t, refused, gorillaws.CloseForbidden)
	if !ended(<-inits) {
		t.Error("the context of a refused connection did not end")
	}
}

// TestPanicEndsOperation checks that a panic in a stream's fill ends that operation with an
// error, through the server's recover function, and leaves the connection working.
func TestPanicEndsOperation(t *testing.T) {
	t.Parallel()
	fx := setup(t, &gorillaws.Transport{})
	c := mustDial(t, fx.url, "graphql-transport-ws")
	initialise(t, c, "good", false)
	subscribe(t, c, "1", "subscription { name }")
	f := fx.nextFeed(t)
	f.send("panic")
	if m := expect(t, c, "error"); m.ID != "1" || !strings.Contains(string(m.Payload), "internal system error") {
		t.Fatalf("got error %s for %q, want gqlgen's internal system error for 1", m.Payload, m.ID)
	}
	f.waitEnded(t)
	subscribe(t, c, "2", "query { name }")
	expectData(t, c, "2", "test")
}

// TestAckPayload checks that the InitFunc's payload reaches the client in connection_ack.
func TestAckPayload(t *testing.T) {
	t.Parallel()
	fx := setup(t, &gorillaws.Transport{
		InitFunc: func(ctx context.Context, _ transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			return ctx, &transport.InitPayload{"user": "me"}, nil
		},
	})
	c := mustDial(t, fx.url, "graphql-transport-ws")
	send(t, c, message{Type: "connection_init"})
	if m := expect(t, c, "connection_ack"); string(m.Payload) != `{"user":"me"}` {
		t.Errorf("connection_ack payload %s, want {\"user\":\"me\"}", m.Payload)
	}
}

// TestReadLimit checks that a message over ReadLimit closes the connection with 1009.
func TestReadLimit(t *testing.T) {
	t.Parallel()
	fx := setup(t, &gorillaws.Transport{ReadLimit: 100})
	c := mustDial(t, fx.url, "graphql-transport-ws")
	send(t, c, message{Type: "connection_init", Payload: json.RawMessage(`{"pad":"` + strings.Repeat("x", 100) + `"}`)})
	expectClose(t, c, websocket.CloseMessageTooBig)
}

func TestSubprotocolPreference(t *testing.T) {
	t.Parallel()
	fx := setup(t, &gorillaws.Transport{KeepAlive: time.Minute})
	c, _, err := dial(t, fx.url, nil, "graphql-ws", "graphql-transport-ws")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Subprotocol(); got != "graphql-transport-ws" {
		t.Errorf("negotiated %q, want graphql-transport-ws", got)
	}
	// A client that offers none is served the legacy protocol, as by gqlgen.
	c, _, err = dial(t, fx.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	initialise(t, c, "good", true)
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	t.Run("graphql-ws ka", func(t *testing.T) {
		t.Parallel()
		fx := setup(t, &gorillaws.Transport{KeepAlive: 10 * time.Millisecond})
		c := mustDial(t, fx.url, "graphql-ws")
		initialise(t, c, "good", true)
		for range 3 {
			expect(t, c, "ka")
		}
	})
	t.Run("graphql-transport-ws ping pong", func(t *testing.T) {
		t.Parallel()
		interval := 100 * time.Millisecond // pongs must arrive within 2×, even on a loaded -race run
		fx := setup(t, &gorillaws.Transport{KeepAlive: interval})
		c := mustDial(t, fx.url, "graphql-transport-ws")
		initialise(t, c, "good", true)
		start := time.Now()
		for range 4 { // outlives the first pong deadline (2 × interval)
			expect(t, c, "ping")
			send(t, c, message{Type: "pong"})
		}
		if elapsed := time.Since(start); elapsed < 3*interval {
			t.Fatalf("4 pings in %v, want them spaced by %v", elapsed, interval)
		}
		send(t, c, message{Type: "ping", Payload: json.RawMessage(`{"n":1}`)})
		for m := receive(t, c); m.Type != "pong"; m = receive(t, c) {
			if m.Type != "ping" {
				t.Fatalf("got %s, want pong", m.Type)
			}
			send(t, c, message{Type: "pong"})
		}
	})
	t.Run("graphql-transport-ws missing pong", func(t *testing.T) {
		t.Parallel()
		errorFunc, reported := reporter()
		fx := setup(t, &gorillaws.Transport{KeepAlive: 20 * time.Millisecond, ErrorFunc: errorFunc})
		c := mustDial(t, fx.url, "graphql-transport-ws")
		initialise(t, c, "good", true)
		expect(t, c, "ping")
		expectClose(t, c, websocket.CloseGoingAway)
		if err := waitReported(t, reported); !strings.Contains(err.Error(), "pong") {
			t.Errorf("reported %v, want the missing pong", err)
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
				fx := setup(t, &gorillaws.Transport{})
				c := mustDial(t, fx.url, protocol)
				send(t, c, init)
				if protocol == "graphql-ws" {
					if m := expect(t, c, "connection_error"); !strings.Contains(string(m.Payload), "invalid token") {
						t.Errorf("connection_error payload %s, want the reason", m.Payload)
					}
				}
				if closeErr := expectClose(t, c, gorillaws.CloseForbidden); closeErr.Text != "invalid token" {
					t.Fatalf("close reason %q, want invalid token", closeErr.Text)
				}
			})
		}
	}
}

// TestLongCloseReason checks that a reason longer than a close frame holds is cut to a
// valid UTF-8 prefix of at most 123 bytes.
func TestLongCloseReason(t *testing.T) {
	t.Parallel()
	reason := strings.Repeat("é", 100) // 200 bytes, beyond a close frame
	fx := setup(t, &gorillaws.Transport{
		InitFunc: func(ctx context.Context, _ transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			return gorillaws.Forbidden(ctx, reason)
		},
	})
	c := mustDial(t, fx.url, "graphql-transport-ws")
	send(t, c, message{Type: "connection_init"})
	closeErr := expectClose(t, c, gorillaws.CloseForbidden)
	if len(closeErr.Text) > 123 || !utf8.ValidString(closeErr.Text) || !strings.HasPrefix(reason, closeErr.Text) || closeErr.Text == "" {
		t.Errorf("close reason %q (%d bytes), want a valid prefix of at most 123 bytes", closeErr.Text, len(closeErr.Text))
	}
}

// TestInitFuncError checks that an InitFunc error other than Forbidden's closes with 4500
// and is reported, and that a panicking InitFunc does the same instead of crashing.
func TestInitFuncError(t *testing.T) {
	t.Parallel()
	for name, init := range map[string]gorillaws.InitFunc{
		"error": func(ctx context.Context, _ transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			return ctx, nil, errors.New("database down")
		},
		"panic": func(context.Context, transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			panic("database down")
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			errorFunc, reported := reporter()
			fx := setup(t, &gorillaws.Transport{InitFunc: init, ErrorFunc: errorFunc})
			c := mustDial(t, fx.url, "graphql-transport-ws")
			send(t, c, message{Type: "connection_init"})
			expectClose(t, c, 4500)
			if err := waitReported(t, reported); !strings.Contains(err.Error(), "database down") {
				t.Errorf("reported %v, want the InitFunc's error", err)
			}
		})
	}
}

// TestProtocolViolations checks the close codes of the graphql-transport-ws protocol, which
// the legacy protocol gets too, after a connection_error.
func TestProtocolViolations(t *testing.T) {
	t.Parallel()
	init := message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer good"}`)}
	query := json.RawMessage(`{"query":"subscription { name }"}`)
	tests := map[string]struct {
		messages func(subscribe string) []message
		code     int
	}{
		"subscribe before init": {
			messages: func(subscribe string) []message { return []message{{ID: "1", Type: subscribe, Payload: query}} },
			code:     4401,
		},
		"second init": {
			messages: func(string) []message { return []message{init, init} },
			code:     4429,
		},
		"duplicate id": {
			messages: func(subscribe string) []message {
				return []message{init, {ID: "1", Type: subscribe, Payload: query}, {ID: "1", Type: subscribe, Payload: query}}
			},
			code: 4409,
		},
		"subscribe without id": {
			messages: func(subscribe string) []message { return []message{init, {Type: subscribe, Payload: query}} },
			code:     4400,
		},
		"subscribe without payload": {
			messages: func(subscribe string) []message { return []message{init, {ID: "1", Type: subscribe}} },
			code:     4400,
		},
		"unknown type": {
			messages: func(string) []message { return []message{init, {Type: "hello"}} },
			code:     4400,
		},
		"init payload not an object": {
			messages: func(string) []message {
				return []message{{Type: "connection_init", Payload: json.RawMessage(`"not an object"`)}}
			},
			code: 4400,
		},
	}
	for protocol, names := range protocols {
		for name, tt := range tests {
			t.Run(protocol+"/"+name, func(t *testing.T) {
				t.Parallel()
				fx := setup(t, &gorillaws.Transport{})
				c := mustDial(t, fx.url, protocol)
				for _, m := range tt.messages(names.subscribe) {
					send(t, c, m)
				}
				expectClose(t, c, tt.code)
			})
		}
		t.Run(protocol+"/not JSON", func(t *testing.T) {
			t.Parallel()
			fx := setup(t, &gorillaws.Transport{})
			c := mustDial(t, fx.url, protocol)
			if err := c.WriteMessage(websocket.TextMessage, []byte("connection_init")); err != nil {
				t.Fatal(err)
			}
			expectClose(t, c, 4400)
		})
		t.Run(protocol+"/init timeout", func(t *testing.T) {
			t.Parallel()
			fx := setup(t, &gorillaws.Transport{InitTimeout: 50 * time.Millisecond})
			c := mustDial(t, fx.url, protocol)
			expectClose(t, c, 4408)
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
			fx := setup(t, &gorillaws.Transport{Origins: tt.origins})
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

// TestConcurrentWrites has many writers on one connection at once: streams fed from several
// goroutines, queries and a keep-alive every millisecond. Every message must arrive whole
// (gorilla panics on concurrent writes it detects; -race sees the rest) and each stream's
// results in order.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	const streams, each = 8, 50
	fx := setup(t, &gorillaws.Transport{KeepAlive: time.Millisecond})
	c := mustDial(t, fx.url, "graphql-ws") // ka needs no answer
	initialise(t, c, "good", true)
	feeds := make([]*feed, streams)
	for i := range feeds {
		subscribe(t, c, fmt.Sprint("s", i), "subscription { name }")
		feeds[i] = fx.nextFeed(t)
	}
	var wg sync.WaitGroup
	for _, f := range feeds {
		wg.Go(func() {
			for i := range each {
				f.send(fmt.Sprint(i))
			}
		})
	}
	for i := range streams {
		subscribe(t, c, fmt.Sprint("q", i), "query { name }")
	}
	wg.Wait()

	next := map[string]int{}
	results, completes := 0, 0
	for results < streams*each+streams || completes < streams {
		m := receive(t, c)
		switch m.Type {
		case "ka":
		case "complete":
			completes++
		case "data":
			results++
			if !strings.HasPrefix(m.ID, "s") {
				continue
			}
			var payload struct{ Data struct{ Name string } }
			if err := json.Unmarshal(m.Payload, &payload); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprint(next[m.ID]); payload.Data.Name != want {
				t.Fatalf("%s sent %s, want %s", m.ID, payload.Data.Name, want)
			}
			next[m.ID]++
		default:
			t.Fatalf("unexpected %s %s", m.Type, m.Payload)
		}
	}
}

// TestStalledPeerIsDropped checks that a write timing out ends the connection and its
// subscriptions, and is reported, instead of the server waiting for the peer forever.
func TestStalledPeerIsDropped(t *testing.T) {
	t.Parallel()
	errorFunc, reported := reporter()
	fx := setup(t, &gorillaws.Transport{WriteTimeout: 50 * time.Millisecond, ErrorFunc: errorFunc})
	c := mustDial(t, fx.url, "graphql-transport-ws")
	initialise(t, c, "good", false)
	subscribe(t, c, "1", "subscription { name }")
	f := fx.nextFeed(t)
	big := strings.Repeat("x", 64<<10)
	deadline := time.After(30 * time.Second)
	for sent := false; !sent; { // the client never reads
		select {
		case <-f.ended:
			sent = true
		case <-deadline:
			t.Fatal("server still blocked on the stalled peer")
		default:
			f.send(big)
			time.Sleep(time.Millisecond)
		}
	}
	if err := waitReported(t, reported); !strings.Contains(err.Error(), "write") {
		t.Errorf("reported %v, want the failed write", err)
	}
}

// TestNormalCloseIsNotAnError checks that a client closing normally, or going away as a
// browser tab does, is not reported to ErrorFunc, while a dropped connection is.
func TestNormalCloseIsNotAnError(t *testing.T) {
	t.Parallel()
	for name, code := range map[string]int{
		"normal":     websocket.CloseNormalClosure,
		"going away": websocket.CloseGoingAway,
		"no status":  websocket.CloseNoStatusReceived,
		"dropped":    0,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var (
				mu       sync.Mutex
				reported []error
			)
			fx := setup(t, &gorillaws.Transport{
				ErrorFunc: func(_ context.Context, err error) {
					mu.Lock()
					defer mu.Unlock()
					reported = append(reported, err)
				},
			})
			c := mustDial(t, fx.url, "graphql-transport-ws")
			initialise(t, c, "good", false)
			if code == 0 {
				_ = c.Close()
				eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(reported) > 0 }, func() string {
					return "a dropped connection was not reported"
				})
				return
			}
			if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			_ = readClose(t, c)
			// The server reports a read error before closing the network connection:
			// once it is closed, nothing more will be reported.
			_ = c.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c.NetConn()); err != nil {
				t.Fatalf("waiting for the server to close: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reported) != 0 {
				t.Errorf("ErrorFunc got %v", reported)
			}
		})
	}
}

// TestSharedResults checks Stream.Share: the subscriptions of one operation (query text,
// operation name and variables) are sent the result of a shared value made once, whatever
// protocol they speak, while other operations get their own; concurrent subscriptions wait
// for that one result instead of making theirs; values without a key, and results with
// errors, are made for each subscription; and a Transport shares only its own results.
func TestSharedResults(t *testing.T) {
	t.Parallel()
	fx := setup(t, &gorillaws.Transport{})
	named := `subscription Log($p: String) { name(prefix: $p) }`
	subscribers := []struct {
		protocol, query, vars string
		field, prefix         string // where the value is, after what, in the result
	}{
		{protocol: "graphql-transport-ws", query: "subscription { name }", field: "name"},
		{protocol: "graphql-ws", query: "subscription { name }", field: "name"},
		{protocol: "graphql-transport-ws", query: "subscription { name }", field: "name"},
		{protocol: "graphql-transport-ws", query: named, vars: `{"p":"a:"}`, field: "name", prefix: "a:"},
		{protocol: "graphql-ws", query: named, vars: `{"p":"a:"}`, field: "name", prefix: "a:"},
		{protocol: "graphql-transport-ws", query: named, vars: `{"p":"b:"}`, field: "name", prefix: "b:"},
		{protocol: "graphql-transport-ws", query: "subscription { other: name }", field: "other"},
	}
	const operations = 4
	conns := make([]*websocket.Conn, len(subscribers))
	feeds := make([]*feed, len(subscribers))
	for i, sub := range subscribers {
		conns[i] = mustDial(t, fx.url, sub.protocol)
		initialise(t, conns[i], "good", false)
		payload, _ := json.Marshal(map[string]any{"query": sub.query, "variables": json.RawMessage(cmp.Or(sub.vars, "null"))})
		send(t, conns[i], message{ID: "1", Type: protocols[sub.protocol].subscribe, Payload: payload})
		feeds[i] = fx.nextFeed(t)
	}
	// result returns subscriber i's next result: the value in it, or its error.
	result := func(i int) (value, errMessage string) {
		t.Helper()
		m := expect(t, conns[i], protocols[subscribers[i].protocol].next)
		var payload struct {
			Data   map[string]string
			Errors []struct{ Message string }
		}
		if err := json.Unmarshal(m.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		if len(payload.Errors) > 0 {
			return "", payload.Errors[0].Message
		}
		v, ok := strings.CutPrefix(payload.Data[subscribers[i].field], subscribers[i].prefix)
		if !ok || len(payload.Data) != 1 {
			t.Fatalf("subscriber %d got %s, want a value after %q in %s", i, m.Payload, subscribers[i].prefix, subscribers[i].field)
		}
		return v, ""
	}
	expectValue := func(value string) {
		t.Helper()
		for i := range subscribers {
			if got, errMessage := result(i); got != value {
				t.Fatalf("subscriber %d got %q (error %q), want %q", i, got, errMessage, value)
			}
		}
	}

	for _, f := range feeds {
		f.share("k1", "shared")
	}
	expectValue("shared")
	if n := fx.executions("shared"); n != operations {
		t.Errorf("a shared value made %d results for %d operations, want one each", n, operations)
	}

	for _, f := range feeds {
		f.send("unshared")
	}
	expectValue("unshared")
	if n := fx.executions("unshared"); n != len(subscribers) {
		t.Errorf("a value without a key made %d results for %d subscribers, want one each", n, len(subscribers))
	}

	for _, f := range feeds {
		f.share("k2", "error")
	}
	seen := map[string]bool{}
	for i := range subscribers {
		if _, errMessage := result(i); errMessage == "" || seen[errMessage] {
			t.Fatalf("subscriber %d got error %q, want one of its own", i, errMessage)
		} else {
			seen[errMessage] = true
		}
	}

	// The first subscription of each operation makes the result, which waits for release,
	// while the others take the value from their feed and wait for that result.
	for _, f := range feeds {
		f.share("k3", "wait")
	}
	eventually(t, func() bool {
		for _, f := range feeds {
			if f.pending() > 0 {
				return false
			}
		}
		return true
	}, func() string { return "the feeds' values were not all taken" })
	close(fx.release)
	expectValue("wait")
	if n := fx.executions("wait"); n != operations {
		t.Errorf("concurrent subscriptions made %d results for %d operations, want one each", n, operations)
	}

	other := setup(t, &gorillaws.Transport{})
	c := mustDial(t, other.url, "graphql-transport-ws")
	initialise(t, c, "good", false)
	subscribe(t, c, "1", "subscription { name }")
	other.nextFeed(t).share("k1", "shared")
	expectData(t, c, "1", "shared")
	if n := other.executions("shared"); n != 1 {
		t.Errorf("another Transport made %d results for a key shared on the first, want its own", n)
	}
}

// TestOperationIDs checks that any operation id comes back as the client sent it, plain or
// needing escapes in JSON.
func TestOperationIDs(t *testing.T) {
	t.Parallel()
	fx := setup(t, &gorillaws.Transport{})
	c := mustDial(t, fx.url, "graphql-transport-ws")
	initialise(t, c, "good", false)
	for _, id := range []string{"1", "0b8f7c52-7d0e-4c1a-9a53-2f0c3c0d4e11", `say "hi"`, `back\slash`, "<a>&b", "tab\tnewline\n", "é", "\u2028", "\x7f"} {
		subscribe(t, c, id, "query { name }")
		expectData(t, c, id, "test")
		if m := expect(t, c, "complete"); m.ID != id {
			t.Fatalf("complete for %q, want %q", m.ID, id)
		}
	}
}

// TestMaxOperations checks that a connection runs at most MaxOperations operations at once
// (DefaultMaxOperations unless set): the next one is refused with an error message for its id
// carrying LIMIT_EXCEEDED and the limit, the connection staying open and its operations going
// on; an operation that ends or that the client completes frees its place.
func TestMaxOperations(t *testing.T) {
	t.Parallel()
	for protocol, names := range protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			fx := setup(t, &gorillaws.Transport{MaxOperations: 3})
			c := mustDial(t, fx.url, protocol)
			initialise(t, c, "good", false)
			feeds := map[string]*feed{}
			for _, id := range []string{"1", "2", "3"} {
				subscribe(t, c, id, "subscription { name }")
				feeds[id] = fx.nextFeed(t)
			}
			subscribe(t, c, "4", "subscription { name }")
			expectLimitExceeded(t, c, "4", 3)
			subscribe(t, c, "5", "query { name }")
			expectLimitExceeded(t, c, "5", 3)
			feeds["1"].send("a")
			expectData(t, c, "1", "a")

			// Completed by the client: its place is free.
			send(t, c, message{ID: "2", Type: names.stop})
			feeds["2"].waitEnded(t)
			subscribe(t, c, "4", "subscription { name }")
			feeds["4"] = fx.nextFeed(t)
			feeds["4"].send("b")
			expectData(t, c, "4", "b")
			subscribe(t, c, "5", "subscription { name }")
			expectLimitExceeded(t, c, "5", 3)

			// Ended by the server: its place is free too.
			feeds["3"].finish(nil)
			if m := expect(t, c, "complete"); m.ID != "3" {
				t.Fatalf("complete for %q, want 3", m.ID)
			}
			subscribe(t, c, "5", "query { name }")
			expectData(t, c, "5", "test")
			expect(t, c, "complete")
		})
	}
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		fx := setup(t, &gorillaws.Transport{})
		c := mustDial(t, fx.url, "graphql-transport-ws")
		initialise(t, c, "good", false)
		for i := range gorillaws.DefaultMaxOperations {
			subscribe(t, c, fmt.Sprint(i), "subscription { name }")
			fx.nextFeed(t)
		}
		subscribe(t, c, "over", "subscription { name }")
		expectLimitExceeded(t, c, "over", gorillaws.DefaultMaxOperations)
	})
}

// expectLimitExceeded expects the error message refusing operation id for the limit of max.
func expectLimitExceeded(t *testing.T, c *websocket.Conn, id string, max int) {
	t.Helper()
	m := expect(t, c, "error")
	var errs []struct {
		Message    string
		Extensions struct{ Code string }
	}
	if err := json.Unmarshal(m.Payload, &errs); err != nil || m.ID != id || len(errs) != 1 ||
		errs[0].Extensions.Code != "LIMIT_EXCEEDED" || !strings.Contains(errs[0].Message, fmt.Sprintf("at most %d ", max)) {
		t.Fatalf("got error %s for %q (%v), want LIMIT_EXCEEDED at most %d for %q", m.Payload, m.ID, err, max, id)
	}
}
