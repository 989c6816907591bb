// Package gorillaws runs gqlgen's websocket transport on github.com/gorilla/websocket.
//
// Implementation negotiates graphql-transport-ws and the legacy graphql-ws
// subprotocols, refuses browser origins outside its allow-list with 403 before
// upgrading, serialises writes (gorilla allows one writer at a time) and bounds
// each write with a deadline. Forbidden refuses a connection_init with close
// code 4403. Wiring in server.go:
//
//	srv.AddTransport(transport.Websocket{
//		Implementation: gorillaws.Implementation{Origins: cfg.allowedOrigins},
//		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
//			user, err := authenticate(ctx, p.Authorization())
//			if err != nil {
//				return gorillaws.Forbidden(ctx, "invalid token")
//			}
//			return withUser(ctx, user), nil, nil
//		},
//		KeepAlivePingInterval: 10 * time.Second, // graphql-ws "ka" messages
//		PingPongInterval:      10 * time.Second, // graphql-transport-ws ping, pong expected within 2×
//	})
package gorillaws

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// DefaultWriteTimeout bounds a write when Implementation.WriteTimeout is zero.
const DefaultWriteTimeout = 10 * time.Second

// The current protocol's name; gqlgen keeps its own constant unexported.
const graphqlTransportWS = "graphql-transport-ws"

// A close frame's payload is at most 125 bytes, two of which hold the code.
const maxCloseReason = 123

// Implementation accepts websocket connections for gqlgen's transport.Websocket
// (set it as transport.Websocket.Implementation). The zero value allows only
// same-origin browsers and clients that send no Origin header.
type Implementation struct {
	// Origins lists the other browser origins allowed to connect, each as
	// scheme://host[:port] ("https://ops.example.com"), compared exactly but
	// case-insensitively. "*" is not supported; check the list at start-up
	// with ValidateOrigins.
	Origins []string
	// WriteTimeout bounds each write; a peer that does not take a message
	// within it is disconnected. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
}

var _ transport.WebsocketImplementation = Implementation{}

// Accept upgrades r to a websocket connection, preferring graphql-transport-ws
// when the client offers both subprotocols. It returns an error, after
// gorilla has answered the request (403 for a refused origin, 400 for a
// malformed handshake), when the request cannot be upgraded.
func (i Implementation) Accept(w http.ResponseWriter, r *http.Request, options transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	writeTimeout := i.WriteTimeout
	if writeTimeout == 0 {
		writeTimeout = DefaultWriteTimeout
	}
	upgrader := websocket.Upgrader{
		HandshakeTimeout: writeTimeout,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  writeBufferSize,
		WriteBufferPool:  &writeBufferPool,
		Subprotocols:     preferTransportWS(options.Subprotocols),
		CheckOrigin:      i.CheckOrigin,
	}
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := upgrader.Upgrade(hw, r, options.ResponseHeader)
	hw.releaseBuffers()
	if err != nil {
		return nil, fmt.Errorf("upgrade websocket: %w", err)
	}
	// gqlgen returns from some failed handshakes (a connection_init payload
	// that is not a JSON object) without closing the connection, leaving the
	// client waiting forever. The request context ends when the handler
	// returns, which for a websocket is when gqlgen is done with it.
	context.AfterFunc(r.Context(), func() { _ = ws.Close() })
	return &conn{ws: ws, writeTimeout: writeTimeout}, nil
}

// Buffers of an upgraded connection. gqlgen's websocket handler holds its HTTP request's
// goroutine for the connection's whole life, and so net/http's connection with its 4 KiB read
// and write buffers; an idle subscriber would hold 8 KiB of buffers. Instead gorilla reads
// through a buffer of readBufferSize, writes through one of writeBufferSize taken from
// writeBufferPool for each message (none while idle), and Accept releases net/http's.
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

// preferTransportWS orders the server's subprotocols for gorilla, which picks
// the first server subprotocol the client also offers.
func preferTransportWS(offered []string) []string {
	ordered := make([]string, 0, len(offered))
	for _, p := range offered {
		if p == graphqlTransportWS {
			ordered = append([]string{p}, ordered...)
		} else {
			ordered = append(ordered, p)
		}
	}
	return ordered
}

// conn is one upgraded connection. gqlgen reads from a single goroutine but
// writes from several (subscriptions, keep-alive, ping), so writes take mu.
type conn struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	mu           sync.Mutex
}

var (
	_ transport.WebsocketConn          = (*conn)(nil)
	_ transport.WebsocketReadLimiter   = (*conn)(nil)
	_ transport.WebsocketReadDeadliner = (*conn)(nil)
)

// NextReader returns the next message, or transport.ErrWebsocketClosed when
// the peer closed normally, so gqlgen does not report it as an error.
func (c *conn) NextReader() (int, io.Reader, error) {
	messageType, r, err := c.ws.NextReader()
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
		return messageType, nil, transport.ErrWebsocketClosed
	}
	return messageType, r, err
}

// WriteJSON sends v as one text message within the write timeout.
func (c *conn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode websocket message: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return err
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		// gorilla cannot write again after a failed write. Closing ends
		// gqlgen's read loop, which then releases the connection; otherwise
		// a stalled peer would keep its subscriptions running unseen.
		_ = c.ws.Close()
		return err
	}
	return nil
}

// WriteClose sends a close frame; reason is cut to fit the frame.
// gorilla allows WriteControl alongside the one writer.
func (c *conn) WriteClose(code int, reason string) error {
	msg := websocket.FormatCloseMessage(code, closeReason(reason))
	return c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.writeTimeout))
}

// Close closes the network connection without a close frame.
func (c *conn) Close() error { return c.ws.Close() }

// Subprotocol returns the negotiated subprotocol, "" if none.
func (c *conn) Subprotocol() string { return c.ws.Subprotocol() }

// SetReadLimit makes a larger message fail the read and close the connection with 1009.
func (c *conn) SetReadLimit(limit int64) { c.ws.SetReadLimit(limit) }

// SetReadDeadline lets gqlgen drop a graphql-transport-ws peer that stops answering pings.
func (c *conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// closeReason makes reason valid UTF-8 of at most maxCloseReason bytes;
// gorilla refuses a longer control frame and browsers fail on invalid text.
func closeReason(reason string) string {
	reason = strings.ToValidUTF8(reason, "")
	if len(reason) <= maxCloseReason {
		return reason
	}
	for end := maxCloseReason; end > 0; end-- {
		if utf8.RuneStart(reason[end]) {
			return reason[:end]
		}
	}
	return ""
}
