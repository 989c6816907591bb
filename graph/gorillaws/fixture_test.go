package gorillaws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/herald-hq/herald/graph/gorillaws"
)

// protocols lists each subprotocol with its names for starting and stopping an operation
// and for a result.
var protocols = map[string]struct {
	subscribe, stop, next string
}{
	"graphql-transport-ws": {subscribe: "subscribe", stop: "complete", next: "next"},
	"graphql-ws":           {subscribe: "start", stop: "stop", next: "data"},
}

type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// schema is what the fixture serves, through a stand-in for gqlgen's generated code:
// `query { name }` answers "test"; `subscription { name }` streams what the test sends to its
// feed, each value after the prefix argument, through the transport's Stream as a resolver
// following the Stream contract does; `subscription { plain }` waits on a channel, as a
// resolver that ignores the Stream does.
var schema = gqlparser.MustLoadSchema(&ast.Source{Input: `
	type Query { name: String! }
	type Subscription { name(prefix: String): String! plain: String! }
`})

type fixture struct {
	url string // ws:// address of the GraphQL endpoint
	// feeds announces each `subscription { name }` started.
	feeds chan *feed
	// plain passes values to `subscription { plain }`; closing it ends them.
	plain chan string
	// release, once closed, lets the results of the value "wait" be made.
	release chan struct{}

	mu       sync.Mutex
	executed map[string]int // how many times a result was made for each value
}

// setup serves the schema over tr, with an InitFunc that accepts only "Bearer good" unless
// tr has its own.
func setup(t *testing.T, tr *gorillaws.Transport) *fixture {
	t.Helper()
	if tr.InitFunc == nil {
		tr.InitFunc = func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if p.Authorization() != "Bearer good" {
				return gorillaws.Forbidden(ctx, "invalid token")
			}
			return ctx, nil, nil
		}
	}
	fx := &fixture{feeds: make(chan *feed, 64), plain: make(chan string), release: make(chan struct{}), executed: map[string]int{}}
	gql := handler.New(&graphql.ExecutableSchemaMock{
		ExecFunc:   fx.exec,
		SchemaFunc: func() *ast.Schema { return schema },
	})
	gql.AddTransport(tr)
	srv := httptest.NewServer(gql)
	t.Cleanup(srv.Close)
	fx.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return fx
}

func (fx *fixture) exec(ctx context.Context) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	op := oc.Operation
	if op.Operation == ast.Query {
		return graphql.OneShot(&graphql.Response{Data: []byte(`{"name":"test"}`)})
	}
	if op.Operation != ast.Subscription {
		return graphql.OneShot(graphql.ErrorResponse(ctx, "mutations are not supported"))
	}
	field := op.SelectionSet[0].(*ast.Field)
	prefix, _ := field.ArgumentMap(oc.Variables)["prefix"].(string)
	values := fx.plain
	if field.Name == "name" {
		f := newFeed(ctx)
		fx.feeds <- f
		values = f.out
	}
	// What gqlgen generates for a subscription field: wait for a value or the end, then make
	// the result. The value "wait" waits for release first; a value starting with "error"
	// makes an error numbered with the count of its results so far.
	return func(ctx context.Context) *graphql.Response {
		select {
		case v, ok := <-values:
			if !ok {
				return nil
			}
			if v == "wait" {
				<-fx.release
			}
			fx.mu.Lock()
			fx.executed[v]++
			n := fx.executed[v]
			fx.mu.Unlock()
			if strings.HasPrefix(v, "error") {
				return &graphql.Response{Errors: gqlerror.List{{Message: fmt.Sprintf("%s %d", v, n)}}}
			}
			data, _ := json.Marshal(map[string]string{field.Alias: prefix + v})
			return &graphql.Response{Data: data}
		case <-ctx.Done():
			return nil
		}
	}
}

// executions returns how many times a result was made for value.
func (fx *fixture) executions(value string) int {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.executed[value]
}

// nextFeed returns the next `subscription { name }` started.
func (fx *fixture) nextFeed(t *testing.T) *feed {
	t.Helper()
	select {
	case f := <-fx.feeds:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription started")
		return nil
	}
}

// feed is one `subscription { name }`, following the Stream contract: the test sends it
// values, with or without a key to share their results under, and ends it, with or without
// an error. Its fill panics on the value "panic".
type feed struct {
	ctx    context.Context // the subscription's
	stream *gorillaws.Stream
	out    chan string
	// ended closes when the subscription's context ends.
	ended chan struct{}

	mu     sync.Mutex
	queue  []feedValue
	end    bool
	err    error
	closed bool
}

// feedValue is a value sent to a feed and the key of its result, "" for none.
type feedValue struct{ value, key string }

func newFeed(ctx context.Context) *feed {
	f := &feed{ctx: ctx, stream: gorillaws.StreamFrom(ctx), out: make(chan string, 1), ended: make(chan struct{})}
	context.AfterFunc(ctx, func() { close(f.ended) })
	f.stream.Start(f.fill)
	return f
}

func (f *feed) send(values ...string) {
	f.mu.Lock()
	for _, v := range values {
		f.queue = append(f.queue, feedValue{value: v})
	}
	f.mu.Unlock()
	f.stream.Wake()
}

// share sends value, its result shared under key.
func (f *feed) share(key, value string) {
	f.mu.Lock()
	f.queue = append(f.queue, feedValue{value: value, key: key})
	f.mu.Unlock()
	f.stream.Wake()
}

// pending returns how many values fill has yet to take.
func (f *feed) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

// finish ends the subscription once the values sent are out, with err unless nil.
func (f *feed) finish(err error) {
	f.mu.Lock()
	f.end, f.err = true, err
	f.mu.Unlock()
	f.stream.Wake()
}

func (f *feed) fill() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		panic("fill called after the channel was closed")
	case len(f.queue) > 0 && f.queue[0].value == "panic":
		panic("fill failed")
	case len(f.queue) > 0 && f.queue[0].key != "":
		v := f.queue[0].value
		f.stream.Share(f.queue[0].key, func() { f.out <- v })
		f.queue = f.queue[1:]
		return true
	case len(f.queue) > 0:
		f.out <- f.queue[0].value
		f.queue = f.queue[1:]
		return true
	case f.end:
		if f.err != nil {
			f.stream.Fail(f.err)
		}
		f.closed = true
		close(f.out)
		return true
	}
	return false
}

// waitEnded fails the test unless the subscription's context ends.
func (f *feed) waitEnded(t *testing.T) {
	t.Helper()
	select {
	case <-f.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription's context did not end")
	}
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

// expectData expects a result of operation id whose data has one field, equal to value.
func expectData(t *testing.T, c *websocket.Conn, id, value string) {
	t.Helper()
	m := expect(t, c, protocols[protocolOf(c)].next)
	var payload struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(m.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	if m.ID != id || len(payload.Data) != 1 || slices.Collect(maps.Values(payload.Data))[0] != value {
		t.Fatalf("got result %s for %q, want data with one field, %q, for %q", m.Payload, m.ID, value, id)
	}
}

// protocolOf returns the connection's protocol, graphql-ws when none was negotiated.
func protocolOf(c *websocket.Conn) string {
	if p := c.Subprotocol(); p != "" {
		return p
	}
	return "graphql-ws"
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

// expectClose reads until the connection ends and fails unless the server closed it with
// code.
func expectClose(t *testing.T, c *websocket.Conn, code int) *websocket.CloseError {
	t.Helper()
	err := readClose(t, c)
	var closeErr *websocket.CloseError
	if !errors.As(err, &closeErr) || closeErr.Code != code {
		t.Fatalf("got %v, want close %d", err, code)
	}
	return closeErr
}

// initialise sends connection_init with token and expects the ack (and, on graphql-ws with
// keep-alive, the first keep-alive, sent with it).
func initialise(t *testing.T, c *websocket.Conn, token string, keepAlive bool) {
	t.Helper()
	send(t, c, message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + token + `"}`)})
	expect(t, c, "connection_ack")
	if keepAlive && protocolOf(c) == "graphql-ws" {
		expect(t, c, "ka")
	}
}

// subscribe starts query (a subscription, or any operation) as id.
func subscribe(t *testing.T, c *websocket.Conn, id, query string) {
	t.Helper()
	payload, _ := json.Marshal(map[string]string{"query": query})
	send(t, c, message{ID: id, Type: protocols[protocolOf(c)].subscribe, Payload: payload})
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

// reporter returns an ErrorFunc passing the first error it is told to the channel.
func reporter() (func(context.Context, error), <-chan error) {
	reported := make(chan error, 1)
	return func(_ context.Context, err error) {
		select {
		case reported <- err:
		default:
		}
	}, reported
}

// waitReported returns the error reported, failing the test if none comes.
func waitReported(t *testing.T, reported <-chan error) error {
	t.Helper()
	select {
	case err := <-reported:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no error reported")
		return nil
	}
}
