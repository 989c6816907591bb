package gorillaws

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// CloseForbidden is the close code ("Forbidden" in the graphql-transport-ws
// protocol) sent when an InitFunc refuses connection_init through Forbidden.
const CloseForbidden = 4403

// Forbidden refuses a connection_init; a transport.Websocket InitFunc returns
// its results as they are. gqlgen then sends a connection_error message with
// reason (legacy graphql-ws only: graphql-transport-ws has no such message)
// and closes with CloseForbidden (4403) and reason, instead of its default
// 1000, which the graphql-ws npm client retries without limit.
func Forbidden(ctx context.Context, reason string) (context.Context, *transport.InitPayload, error) {
	ctx = transport.WithWebsocketCloseCode(ctx, CloseForbidden)
	ctx = transport.AppendCloseReason(ctx, reason)
	return ctx, nil, errors.New(reason)
}
