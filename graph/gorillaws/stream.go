package gorillaws

import (
	"context"
	"crypto/sha256"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Stream connects a subscription resolver to the transport so that the subscription needs
// no goroutine while it has nothing to send. gqlgen's generated code waits on the resolver's
// channel for each result, but returns at once when the channel holds a value already; so
// the transport asks the resolver to fill the channel first and only then collects the
// result, from a short-lived goroutine. The contract, for a resolver that got a Stream from
// StreamFrom:
//
//   - return a channel of capacity 1 and call Start with fill before returning it;
//   - fill moves the next ready value into the channel and returns true, or, when the
//     subscription has ended, closes the channel (after Fail, for an error) and returns
//     true; with nothing ready it returns false. The transport calls it from one goroutine
//     at a time and only with the channel empty: once the resolver has returned and after
//     each Wake, again and again until it returns false;
//   - fill may, instead of moving a value into the channel, hand the transport a function
//     that does and a key under which the result is shared (see Share), and return true;
//   - call Wake, from any goroutine, when a value may have become ready;
//   - release what it holds when the resolver's context ends (context.AfterFunc): the
//     client completed or stopped the subscription, the connection ended, or the stream did.
type Stream struct {
	op        *operation
	fill      func() bool
	responses graphql.ResponseHandler // set with ctx before streaming, read by the pump alone
	ctx       context.Context
	// ident names the operation for Share, set with responses; shareable is false when it
	// could not be computed.
	ident     [sha256.Size]byte
	shareable bool
	// Set by Share during fill, taken by the pump.
	shareKey string
	put      func()
	// Guarded by the connection's mu.
	streaming bool  // the resolver has returned and responses is set
	queued    bool  // in the connection's ready list
	failure   error // set by Fail
}

type streamKey struct{}

// StreamFrom returns the Stream of the subscription that ctx (a subscription resolver's)
// belongs to, or nil when the subscription is not served by Transport.
func StreamFrom(ctx context.Context) *Stream {
	s, _ := ctx.Value(streamKey{}).(*Stream)
	return s
}

// Start hands the transport the resolver's fill function (see Stream).
func (s *Stream) Start(fill func() bool) { s.fill = fill }

// Share, called by fill in place of moving the value it has made ready into the channel, says
// that the operation's result for that value is the same for every subscription of this
// Transport that runs the same operation (query text, operation name and variables) and gives
// the same key, whoever its client is: the resolver vouches for every field of the result. The
// transport then executes the operation once per operation and key, the other subscriptions
// waiting for that result and sent it as encoded once: executing and encoding a value for each
// of thousands of subscribers is otherwise what fan-out spends its time on. put moves the value
// into the channel; the transport calls it only to execute the operation for this
// subscription, and otherwise drops it, the value unsent. A result with errors is not shared:
// each subscription then executes its own. fill calls Share at most once a call, and then
// returns true.
func (s *Stream) Share(key string, put func()) { s.shareKey, s.put = key, put }

// Wake tells the transport that fill may have a value to move. It returns at once: it queues
// the stream and, unless one is running, starts the connection's pump goroutine.
func (s *Stream) Wake() {
	c := s.op.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.streaming || s.queued || c.closed {
		return
	}
	s.queued = true
	c.ready = append(c.ready, s)
	if !c.pumping {
		c.pumping = true
		go c.pump()
	}
}

// Fail makes the subscription end with err, sent to the client as an error message (through
// the server's error presenter) instead of complete. Call it from fill before closing the
// channel.
func (s *Stream) Fail(err error) {
	c := s.op.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s.failure = err
}

// operation is one operation the client started.
type operation struct {
	c      *conn
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	stream Stream
}

// execute runs the operation until it ends, or, for a subscription whose resolver took its
// Stream, until the resolver has returned: the pump takes the results from there.
func (op *operation) execute(params *graphql.RawParams) {
	c := op.c
	ctx := graphql.StartOperationTrace(op.ctx)
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			// The document does not parse or validate: the protocol's error message.
			c.finish(op, resp.Errors)
			return
		}
		if c.sendResponse(op, resp) == nil {
			c.finish(op, nil)
		}
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	if rc.Operation.Operation == ast.Subscription {
		ctx = context.WithValue(ctx, streamKey{}, &op.stream)
	}
	defer c.recoverOperation(ctx, op)
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	if s := &op.stream; s.fill != nil {
		ident, shareable := operationIdentity(rc)
		c.mu.Lock()
		s.responses, s.ctx, s.ident, s.shareable, s.streaming = responses, ctx, ident, shareable, true
		c.mu.Unlock()
		s.Wake()
		return
	}
	for resp := responses(ctx); resp != nil; resp = responses(ctx) {
		if c.sendResponse(op, resp) != nil {
			return
		}
	}
	c.finish(op, nil)
}

// pump drains the woken streams until none is left; Wake starts it, at most one per
// connection at a time, so a connection's fill functions never run concurrently.
func (c *conn) pump() {
	for {
		c.mu.Lock()
		woken := c.ready
		c.ready = nil
		for _, s := range woken {
			s.queued = false
		}
		if len(woken) == 0 {
			c.pumping = false
		}
		c.mu.Unlock()
		if len(woken) == 0 {
			return
		}
		for _, s := range woken {
			c.drain(s)
		}
	}
}

// drain sends the stream's ready results, and ends the operation when the stream has ended.
func (c *conn) drain(s *Stream) {
	op := s.op
	defer c.recoverOperation(s.ctx, op)
	for op.ctx.Err() == nil && s.fill() {
		resp, payload := s.next()
		var err error
		switch {
		case payload != nil:
			err = c.send(c.proto.next, op.id, payload)
		case resp != nil:
			err = c.sendResponse(op, resp)
		default:
			c.mu.Lock()
			failure := s.failure
			c.mu.Unlock()
			var errs gqlerror.List
			if failure != nil {
				errs = c.exec.DispatchError(s.ctx, gqlerror.List{gqlerror.WrapIfUnwrapped(failure)}).Errors
			}
			c.finish(op, errs)
			return
		}
		if err != nil {
			return
		}
	}
}

// next returns the result for the value fill has just made ready: gqlgen's response, nil once
// the stream has ended, or, when fill called Share, the encoded result shared by the
// subscriptions of the same operation and key (executed here if this subscription is the
// first to ask, or if the shared one carries errors).
func (s *Stream) next() (resp *graphql.Response, payload []byte) {
	key, put := s.shareKey, s.put
	s.shareKey, s.put = "", nil
	if put == nil {
		return s.responses(s.ctx), nil
	}
	if !s.shareable {
		put()
		return s.responses(s.ctx), nil
	}
	e := s.op.c.t.shared.get(sharedKey{op: s.ident, key: key})
	e.once.Do(func() {
		put()
		put = nil
		resp = s.responses(s.ctx)
		if resp == nil || len(resp.Errors) > 0 {
			return
		}
		// A result that does not encode is not shared; sendResponse reports why.
		if b, err := json.Marshal(resp); err == nil {
			e.payload = b
		}
	})
	switch {
	case e.payload != nil:
		return nil, e.payload
	case put == nil: // executed here, and not shared
		return resp, nil
	}
	put()
	return s.responses(s.ctx), nil
}

// recoverOperation ends op with an error when running it panicked, instead of taking the
// process down, as gqlgen's own transport does.
func (c *conn) recoverOperation(ctx context.Context, op *operation) {
	v := recover()
	if v == nil {
		return
	}
	err := graphql.GetOperationContext(ctx).Recover(ctx, v)
	c.finish(op, c.exec.DispatchError(ctx, gqlerror.List{gqlerror.WrapIfUnwrapped(err)}).Errors)
}

// finish ends op and, unless the client stopped it first, tells the client: an error message
// with errs, or complete.
func (c *conn) finish(op *operation, errs gqlerror.List) {
	c.mu.Lock()
	current := c.ops[op.id] == op
	if current {
		delete(c.ops, op.id)
	}
	c.mu.Unlock()
	op.cancel()
	if !current {
		return
	}
	if len(errs) == 0 {
		_ = c.send("complete", op.id, nil)
		return
	}
	payload, err := json.Marshal(errs)
	if err != nil {
		c.abort(err)
		return
	}
	_ = c.send("error", op.id, payload)
}

// sendResponse sends one result of op.
func (c *conn) sendResponse(op *operation, resp *graphql.Response) error {
	payload, err := json.Marshal(resp)
	if err != nil {
		c.abort(err)
		return err
	}
	return c.send(c.proto.next, op.id, payload)
}
