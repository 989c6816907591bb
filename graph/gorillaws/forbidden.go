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
	return ctx, nil, &forbiddenError{reason: reason}
}

// forbiddenError is Forbidden's refusal.
type forbiddenError struct{ reason string }

func (e *forbiddenError) Error() string { return "connection refused: " + e.reason }
