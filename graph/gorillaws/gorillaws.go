// Package gorillaws serves GraphQL over websockets for gqlgen, on github.com/gorilla/websocket,
// with one long-lived goroutine per connection.
//
// Transport speaks graphql-transport-ws (preferred) and the legacy graphql-ws protocol of
// subscriptions-transport-ws, refuses browser origins outside its allow-list with 403 before
// upgrading, authenticates connection_init through an InitFunc (Forbidden refuses with close
// code 4403, TooMany with 4429), keeps connections alive with timers, bounds each write with a
// deadline, the operations running on a connection with MaxOperations and the connections
// open at once with MaxConnections (4429). It must not know Herald's domain: it imports no
// Herald package, and who may connect is the InitFunc's call (and Forbid's, later).
// Wiring:
//
//	srv.AddTransport(&gorillaws.Transport{
//		Origins: cfg.allowedOrigins,
//		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
//			user, err := authenticate(ctx, p.Authorization())
//			if err != nil {
//				return gorillaws.Forbidden(ctx, "invalid token")
//			}
//			return withUser(ctx, user), nil, nil
//		},
//		KeepAlive: 15 * time.Second, // graphql-ws "ka", graphql-transport-ws ping (pong expected within 2×)
//	})
//
// An idle connection costs its reader goroutine and little else: the HTTP handler returns once
// the connection is upgraded, keep-alive runs on a timer, and a subscription resolver that
// feeds its channel through the operation's Stream (see StreamFrom) needs no goroutine while
// it has nothing to send. Queries, mutations and subscriptions that do not use the Stream run
// on a goroutine of their own until they end, as in gqlgen's transport. A value that many
// subscriptions receive can be executed and encoded once for all of them (Stream.Share).
// Forbid closes a connection with 4403 at any time, as a refused connection_init is, when its
// caller loses the right to it; the context the InitFunc is given ends with the connection, so
// that what the InitFunc starts for the connection (such as a watch calling Forbid) can end
// with it.
package gorillaws

import (
	"bufio"
	"cmp"
	"context"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// Defaults for the zero values of Transport's fields.
const (
	DefaultWriteTimeout  = 10 * time.Second
	DefaultInitTimeout   = 10 * time.Second
	DefaultReadLimit     = 1 << 20
	DefaultMaxOperations = 100
)

// Transport is a gqlgen transport (srv.AddTransport(&gorillaws.Transport{…})) for websocket
// upgrade requests, for one server: the subscriptions it serves share results by the text of
// their operations (Stream.Share), which means the same only within one schema. Its fields
// must not change once it serves. The zero value allows only same-origin browsers and clients
// that send no Origin header, accepts every connection_init and sends no keep-alive.
type Transport struct {
	// Origins lists the other browser origins allowed to connect, each as
	// scheme://host[:port] ("https://ops.example.com"), compared exactly but
	// case-insensitively. "*" is not supported; check the list at start-up
	// with ValidateOrigins.
	Origins []string
	// InitFunc authenticates connection_init; nil accepts every connection as it is.
	InitFunc InitFunc
	// KeepAlive is the interval of graphql-ws "ka" messages and graphql-transport-ws pings;
	// a graphql-transport-ws peer that sends nothing (not even the pong) for twice as long is
	// disconnected. Zero sends none and waits for graphql-transport-ws peers forever.
	KeepAlive time.Duration
	// InitTimeout is how long a connection may stay open without connection_init before it
	// is closed with 4408. Zero means DefaultInitTimeout.
	InitTimeout time.Duration
	// WriteTimeout bounds each write; a peer that does not take a message within it is
	// disconnected. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ReadLimit bounds an incoming message in bytes; a larger one closes the connection with
	// 1009. Zero means DefaultReadLimit.
	ReadLimit int64
	// MaxOperations bounds the operations running at once on one connection: beyond it a new
	// one is refused with an error message for its id, carrying a GraphQL error whose
	// extensions.code is LIMIT_EXCEEDED, and the connection stays open. An operation runs until
	// it ends or the client completes (stops) it, which frees its place. Zero means
	// DefaultMaxOperations.
	MaxOperations int
	// MaxConnections bounds the connections open at once: one more is closed at once with
	// CloseTooManyConnections (4429) and MaxConnectionsReason. Zero means no bound.
	MaxConnections int
	// MaxConnectionsReason is the close reason of a connection refused by MaxConnections.
	MaxConnectionsReason string
	// ErrorFunc, when set, is told why a connection failed: read and write errors, a peer that
	// stopped answering pings, an InitFunc error other than Forbidden's. Peers closing
	// normally, going away or breaking the protocol are not reported.
	ErrorFunc func(ctx context.Context, err error)

	// shared holds the results that its subscriptions share (Stream.Share).
	shared sharedResults
	// live holds the connections being served, for GoingAway.
	live liveConns
}

// liveConns is the set of a transport's connections; once gone, it takes no more.
type liveConns struct {
	mu    sync.Mutex
	conns map[*conn]struct{}
	gone  string // GoingAway's reason, once called
}

// add records c and returns 0, or the close code and reason of its refusal: the transport is
// going away, or max connections (when above 0) are open already.
func (l *liveConns) add(c *conn, max int, tooMany string) (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone != "" {
		return websocket.CloseGoingAway, l.gone
	}
	if max > 0 && len(l.conns) >= max {
		return CloseTooManyConnections, tooMany
	}
	if l.conns == nil {
		l.conns = map[*conn]struct{}{}
	}
	l.conns[c] = struct{}{}
	return 0, ""
}

// Connections returns how many connections are open.
func (t *Transport) Connections() int {
	t.live.mu.Lock()
	defer t.live.mu.Unlock()
	return len(t.live.conns)
}

func (l *liveConns) remove(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// GoingAway closes every connection with 1001 (going away) and reason, and every connection
// opened from then on at once: the server is shutting down, and clients should reconnect,
// to another replica, rather than see the connection drop. Call it before http.Server's
// Shutdown, which leaves upgraded connections alone.
func (t *Transport) GoingAway(reason string) {
	t.live.mu.Lock()
	t.live.gone = reason
	conns := slices.Collect(maps.Keys(t.live.conns))
	t.live.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.CloseGoingAway, reason)
	}
}

// InitFunc authenticates a connection from its connection_init payload. It returns the
// context the connection's operations run in (derived from ctx, which carries the upgrade
// request's values and ends when the connection does, whether or not it was accepted) and,
// when not nil, the connection_ack payload. An error refuses the connection: Forbidden's
// closes it with 4403 and its reason, any other with 4500. Forbid(ctx, reason) closes the
// connection later, as Forbidden would have.
type InitFunc func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error)

var _ graphql.Transport = (*Transport)(nil)

// Supports reports whether r asks for a websocket upgrade.
func (t *Transport) Supports(r *http.Request) bool { return websocket.IsWebSocketUpgrade(r) }

// Do upgrades r and hands the connection to a new goroutine, returning at once so that
// net/http's goroutine for the request ends. The connection's context keeps r's values (those
// of the authentication middleware among them) without its cancellation, which comes when Do
// returns, and ends when the connection does. A request that cannot be upgraded has been
// answered by gorilla: 403 for a refused origin, 400 for a malformed handshake.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	upgrader := websocket.Upgrader{
		HandshakeTimeout: t.writeTimeout(),
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  writeBufferSize,
		WriteBufferPool:  &writeBufferPool,
		Subprotocols:     []string{transportWS.name, legacyWS.name},
		CheckOrigin:      t.CheckOrigin,
	}
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := upgrader.Upgrade(hw, r, nil)
	hw.releaseBuffers()
	if err != nil {
		return
	}
	c := &conn{t: t, ws: ws, exec: exec, proto: protocolOf(ws.Subprotocol())}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c.ctx, c.cancel = context.WithValue(ctx, connKey{}, c), cancel
	if code, reason := t.live.add(c, t.MaxConnections, cmp.Or(t.MaxConnectionsReason, "too many connections")); code != 0 {
		c.close(code, reason)
	}
	go c.serve()
}

func (t *Transport) writeTimeout() time.Duration { return cmp.Or(t.WriteTimeout, DefaultWriteTimeout) }
func (t *Transport) initTimeout() time.Duration  { return cmp.Or(t.InitTimeout, DefaultInitTimeout) }
func (t *Transport) readLimit() int64            { return cmp.Or(t.ReadLimit, DefaultReadLimit) }
func (t *Transport) maxOperations() int          { return cmp.Or(t.MaxOperations, DefaultMaxOperations) }

// Buffers of an upgraded connection. Gorilla reads through a buffer of readBufferSize and
// writes through one of writeBufferSize taken from writeBufferPool for each message (none
// while idle), and Do releases net/http's 4 KiB read and write buffers, which the hijacked
// connection would otherwise keep.
const (
	readBufferSize  = 1 << 10
	writeBufferSize = 1 << 10
)

// writeBufferPool lends gorilla a write buffer for each message, shared by all connections.
var writeBufferPool sync.Pool

// hijackWriter passes gorilla's Hijack to the ResponseWriter and keeps the buffers it returns.
type hijackWriter struct {
	http.ResponseWriter
	brw *bufio.ReadWriter
}

// Hijack implements http.Hijacker, through http.ResponseController so that a wrapped
// ResponseWriter (with Unwrap) hijacks too.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	w.brw = brw
	return c, brw, err
}

// Unwrap gives http.ResponseController the ResponseWriter.
func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// releaseBuffers drops the hijacked bufio buffers, which the hijacker owns and gorilla no
// longer uses once Upgrade has returned (it has buffers of its own, as sized above). net/http
// keeps pointers to these bufio structs until the handler returns but never uses them after
// a hijack, so emptying them lets their 8 KiB go while the connection lives.
func (w *hijackWriter) releaseBuffers() {
	if w.brw == nil {
		return
	}
	*w.brw.Reader = bufio.Reader{}
	*w.brw.Writer = bufio.Writer{}
	w.brw = nil
}
