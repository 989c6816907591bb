package gorillaws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// conn is one upgraded connection. Its reader goroutine (serve) is the only long-lived one:
// it handles every client message, and on leaving ends the connection's operations and its
// context. Writes come from the reader, operation goroutines, the pump, the keep-alive timer
// and forbid's goroutine, one at a time under wmu, as gorilla allows a single writer.
type conn struct {
	t     *Transport
	ws    *websocket.Conn
	exec  graphql.GraphExecutor
	proto *protocol
	// ctx carries the upgrade request's values and the connection (Forbid), then also the
	// InitFunc's; the reader alone sets it, before any operation starts.
	ctx context.Context
	// cancel ends the context the InitFunc was given, when the connection ends (shutdown).
	cancel context.CancelFunc
	// acked is set, by the reader alone, once connection_init is accepted.
	acked bool

	wmu sync.Mutex

	mu        sync.Mutex
	closed    bool                  // the connection is closing (see markClosed) or failed
	ops       map[string]*operation // running operations by id
	ready     []*Stream             // streams woken since the pump last looked
	pumping   bool                  // a pump goroutine is running
	keepAlive *time.Timer
}

// serve reads the client's messages until the connection ends, then ends its operations and
// its context.
// After the server has sent a close frame it keeps reading, ignoring messages, until the
// client's close frame or a short deadline: closing the socket with unread data would reset
// it and could lose the close frame, and with it the close code, on the way to the client.
func (c *conn) serve() {
	defer c.shutdown()
	c.ws.SetReadLimit(c.t.readLimit())
	_ = c.ws.SetReadDeadline(time.Now().Add(c.t.initTimeout()))
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.isClosed() {
			continue
		}
		c.handle(data, graphql.Now())
		if wait := c.pongWait(); wait > 0 && c.acked {
			// Under mu: a close from another goroutine (Forbid) sets the deadline after it.
			c.mu.Lock()
			if !c.closed {
				_ = c.ws.SetReadDeadline(time.Now().Add(wait))
			}
			c.mu.Unlock()
		}
	}
}

// handle acts on one client message, read at start.
func (c *conn) handle(data []byte, start time.Time) {
	var m inMessage
	if err := json.Unmarshal(data, &m); err != nil {
		c.fail(closeInvalidMessage, "invalid message: not a JSON object with a type")
		return
	}
	switch c.proto.in[m.Type] {
	case kindInit:
		c.init(m.Payload)
	case kindPing:
		_ = c.send("pong", "", m.Payload)
	case kindPong:
		// Any message extends the read deadline (serve); a pong has nothing else to do.
	case kindSubscribe:
		c.subscribe(m, start)
	case kindStop:
		c.stop(m.ID)
	case kindTerminate:
		c.close(websocket.CloseNormalClosure, "terminated")
	default:
		c.fail(closeInvalidMessage, fmt.Sprintf("invalid message type %q", m.Type))
	}
}

// init answers connection_init: the InitFunc decides, then connection_ack, the first
// keep-alive and the read deadline that replaces the initialisation timeout.
func (c *conn) init(raw json.RawMessage) {
	if c.acked {
		c.fail(closeTooManyInits, "too many initialisation requests")
		return
	}
	var payload transport.InitPayload
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &payload); err != nil {
			c.fail(closeInvalidMessage, "the connection_init payload must be an object")
			return
		}
	}
	ctx, ack, err := c.runInit(payload)
	if err != nil {
		var refused *refusal
		if errors.As(err, &refused) {
			c.fail(refused.code, refused.reason)
			return
		}
		c.report(fmt.Errorf("websocket connection_init: %w", err))
		c.fail(closeInternalError, "internal server error")
		return
	}
	var ackPayload []byte
	if ack != nil {
		if ackPayload, err = json.Marshal(*ack); err != nil {
			c.report(fmt.Errorf("encode connection_ack payload: %w", err))
			c.fail(closeInternalError, "internal server error")
			return
		}
	}
	c.ctx, c.acked = ctx, true
	if c.send("connection_ack", "", ackPayload) != nil {
		return
	}
	if c.t.KeepAlive > 0 && c.proto.legacy {
		_ = c.send(c.proto.keepAlive, "", nil)
	}
	// Under mu: the connection may be forbidden from another goroutine at any time (Forbid),
	// which sets the deadline of its close after marking it closed.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.t.KeepAlive > 0 {
		c.keepAlive = time.AfterFunc(c.t.KeepAlive, c.sendKeepAlive)
	}
	if c.pongWait() == 0 {
		_ = c.ws.SetReadDeadline(time.Time{})
	}
}

// pongWait is how long a graphql-transport-ws peer may stay silent once acknowledged: two
// keep-alive intervals, time enough to answer a ping. Zero means forever.
func (c *conn) pongWait() time.Duration {
	if c.proto.legacy {
		return 0
	}
	return 2 * c.t.KeepAlive
}

// runInit calls the InitFunc on a goroutine of its own and waits for it. The reader lives as
// long as the connection, and the stack it grows to is kept (the collector only halves an
// idle stack per cycle); an InitFunc that reads a database would leave it many times the few
// KiB that reading needs. A panic is an error, as net/http would have contained it.
func (c *conn) runInit(payload transport.InitPayload) (ctx context.Context, ack *transport.InitPayload, err error) {
	if c.t.InitFunc == nil {
		return c.ctx, nil, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("InitFunc panicked: %v", v)
			}
		}()
		ctx, ack, err = c.t.InitFunc(c.ctx, payload)
	}()
	<-done
	return ctx, ack, err
}

// subscribe starts an operation on its own goroutine, after checking the protocol's rules:
// only once acknowledged, with an id no running operation has and a payload of parameters.
// Beyond MaxOperations running ones it refuses the operation (refuse) instead.
func (c *conn) subscribe(m inMessage, start time.Time) {
	if !c.acked {
		c.fail(closeUnauthorized, "unauthorized")
		return
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(m.Payload))
	dec.UseNumber()
	if m.ID == "" || dec.Decode(&params) != nil {
		c.fail(closeInvalidMessage, "invalid message: subscribe needs an id and a payload of parameters")
		return
	}
	op := &operation{c: c, id: m.ID}
	op.stream.op = op
	op.ctx, op.cancel = context.WithCancel(c.ctx)
	c.mu.Lock()
	_, duplicate := c.ops[m.ID]
	closed := c.closed
	full := len(c.ops) >= c.t.maxOperations()
	if !duplicate && !closed && !full {
		if c.ops == nil {
			c.ops = map[string]*operation{}
		}
		c.ops[m.ID] = op
	}
	c.mu.Unlock()
	switch {
	case duplicate:
		op.cancel()
		c.fail(closeDuplicateID, fmt.Sprintf("subscriber for %s already exists", m.ID))
		return
	case closed:
		op.cancel()
		return
	case full:
		op.cancel()
		c.refuse(m.ID, &gqlerror.Error{
			Message:    fmt.Sprintf("too many operations on this connection: at most %d may run at once; complete one first", c.t.maxOperations()),
			Extensions: map[string]any{"code": codeLimitExceeded},
		})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	go op.execute(&params)
}

// codeLimitExceeded is the extensions.code of an operation refused for MaxOperations:
// LIMIT_EXCEEDED, as Herald's API (SPEC §8) calls a limit reached.
const codeLimitExceeded = "LIMIT_EXCEEDED"

// refuse answers the operation id, which never started, with an error message carrying err,
// as finish ends one with errors. Being the transport's own, err skips the server's error
// presenter (which has no operation to present it for).
func (c *conn) refuse(id string, err *gqlerror.Error) {
	payload, _ := json.Marshal(gqlerror.List{err}) // a message and a code always encode
	_ = c.send("error", id, payload)
}

// stop ends the operation the client completed (or stopped); nothing more is sent for it.
func (c *conn) stop(id string) {
	c.mu.Lock()
	op := c.ops[id]
	delete(c.ops, id)
	c.mu.Unlock()
	if op != nil {
		op.cancel()
	}
}

// send writes one message within the write timeout, or nothing, returning errClosed, once
// the connection is closed: from then on only the messages that close it go out.
func (c *conn) send(typ, id string, payload []byte) error {
	msg := encodeMessage(typ, id, payload)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return errClosed
	}
	return c.write(msg)
}

// errClosed is send's answer once the connection is closed.
var errClosed = errors.New("websocket connection closed")

// write writes one message within the write timeout; wmu must be held. A failed write ends
// the connection: gorilla cannot write again, and a stalled peer would otherwise keep its
// operations running.
func (c *conn) write(msg []byte) error {
	err := c.ws.SetWriteDeadline(time.Now().Add(c.t.writeTimeout()))
	if err == nil {
		err = c.ws.WriteMessage(websocket.TextMessage, msg)
	}
	if err != nil {
		c.abort(fmt.Errorf("write websocket: %w", err))
	}
	return err
}

// sendKeepAlive sends a keep-alive message and sets the timer for the next one.
func (c *conn) sendKeepAlive() {
	if c.send(c.proto.keepAlive, "", nil) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.keepAlive.Reset(c.t.KeepAlive)
	}
}

// fail closes the connection with code and reason; a legacy graphql-ws client, whose
// libraries mostly ignore close codes, is first sent the reason in a connection_error.
func (c *conn) fail(code int, reason string) {
	if c.markClosed() {
		c.writeClose(code, reason, c.proto.legacy)
	}
}

// forbid closes the connection as a refused connection_init is (fail with CloseForbidden),
// from any goroutine, without waiting (see Forbid): once it returns nothing more is sent but
// the closing messages, written by a goroutine of their own so that a peer slow to take them
// (or a write under way to it) holds up no one.
func (c *conn) forbid(reason string) {
	if c.markClosed() {
		go c.writeClose(CloseForbidden, reason, c.proto.legacy)
	}
}

// close sends a close frame, once, and gives the client a moment to answer it (see serve).
func (c *conn) close(code int, reason string) {
	if c.markClosed() {
		c.writeClose(code, reason, false)
	}
}

// markClosed marks the connection closed, and reports whether it was open: from then on send
// writes nothing, Wake starts no pump and the keep-alive stops.
func (c *conn) markClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	closed := c.closed
	c.closed = true
	return !closed
}

// writeClose sends the close frame with code and reason, after the reason in a
// connection_error when asked, and gives the client a moment to answer it (see serve).
func (c *conn) writeClose(code int, reason string, connectionError bool) {
	if connectionError {
		payload, _ := json.Marshal(gqlerror.Error{Message: reason}) // a message always encodes
		c.wmu.Lock()
		_ = c.write(encodeMessage("connection_error", "", payload))
		c.wmu.Unlock()
	}
	msg := websocket.FormatCloseMessage(code, closeReason(reason))
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.t.writeTimeout()))
	_ = c.ws.SetReadDeadline(time.Now().Add(closeWait))
}

// closeWait is how long the reader waits for the client's close frame after the server's.
const closeWait = time.Second

// abort drops the connection after a failure, without a close frame, reporting err unless
// the connection was closing already.
func (c *conn) abort(err error) {
	if c.markClosed() {
		c.report(err)
	}
	_ = c.ws.Close()
}

// readFailed handles the error that ended the reader.
func (c *conn) readFailed(err error) {
	var netErr net.Error
	switch {
	case c.isClosed():
		// The server closed or aborted the connection; this is the echo or its timeout.
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		// The client left normally, or went away as a browser tab does.
	case errors.As(err, &netErr) && netErr.Timeout() && !c.acked:
		c.close(closeInitTimeout, "connection initialisation timeout")
	case errors.As(err, &netErr) && netErr.Timeout():
		c.report(fmt.Errorf("websocket peer sent nothing for %v, not even a pong: %w", c.pongWait(), err))
		c.close(websocket.CloseGoingAway, "keep-alive timeout")
	default:
		c.report(fmt.Errorf("read websocket: %w", err))
	}
}

// shutdown ends the connection when its reader leaves: no more keep-alives, the network
// connection closed, every operation cancelled, the connection's context ended.
func (c *conn) shutdown() {
	c.t.live.remove(c)
	c.mu.Lock()
	c.closed = true
	ops := c.ops
	c.ops, c.ready = nil, nil
	if c.keepAlive != nil {
		c.keepAlive.Stop()
	}
	c.mu.Unlock()
	_ = c.ws.Close()
	for _, op := range ops {
		op.cancel()
	}
	c.cancel()
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *conn) report(err error) {
	if c.t.ErrorFunc != nil {
		c.t.ErrorFunc(c.ctx, err)
	}
}
