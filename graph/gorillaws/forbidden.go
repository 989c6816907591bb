package gorillaws

import (
	"context"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// Forbidden refuses a connection_init; an InitFunc returns its results as they are. The
// transport then sends a connection_error message with reason (legacy graphql-ws only:
// graphql-transport-ws has no such message) and closes with CloseForbidden (4403) and reason,
// which the graphql-ws npm client takes as final instead of reconnecting without limit.
func Forbidden(ctx context.Context, reason string) (context.Context, *transport.InitPayload, error) {
	return ctx, nil, &refusal{code: CloseForbidden, reason: reason}
}

// TooMany refuses a connection_init as Forbidden does, but with CloseTooManyConnections
// (4429): the caller has too many connections open, and may connect again once one closes.
func TooMany(ctx context.Context, reason string) (context.Context, *transport.InitPayload, error) {
	return ctx, nil, &refusal{code: CloseTooManyConnections, reason: reason}
}

// refusal is Forbidden's and TooMany's refusal: the close code and its reason.
type refusal struct {
	code   int
	reason string
}

func (e *refusal) Error() string { return "connection refused: " + e.reason }

// Forbid closes the connection whose InitFunc was given ctx (ctx, or a context derived from it
// such as one of the connection's operations'), and with it every operation on it, as
// Forbidden refuses a connection_init: close code CloseForbidden (4403) with reason, after a
// connection_error on the legacy protocol. Call it, from any goroutine, once the caller the
// connection was authenticated as may no longer use it (its token was revoked). It returns at
// once; from then on nothing is sent on the connection but the closing messages, and the
// client's messages are ignored. It does nothing when ctx is no connection's, or once the
// connection is closing.
func Forbid(ctx context.Context, reason string) {
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		c.forbid(reason)
	}
}

// connKey is the context key of the connection, for Forbid.
type connKey struct{}
