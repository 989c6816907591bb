package graph

import (
	"cmp"
	"context"
	"net/http"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/herald-hq/herald/graph/gorillaws"
	"github.com/herald-hq/herald/graph/ingest"
	"github.com/herald-hq/herald/models"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	authErrKey
)

// withPrincipal returns ctx carrying the authenticated caller.
func withPrincipal(ctx context.Context, p *models.Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// principal returns the caller of the operation: UNAUTHENTICATED when there is none.
func principal(ctx context.Context) (*models.Principal, error) {
	if p, ok := ctx.Value(principalKey).(*models.Principal); ok && p != nil {
		return p, nil
	}
	if err, ok := ctx.Value(authErrKey).(error); ok {
		return nil, err
	}
	return nil, models.Errorf(models.CodeUnauthenticated, "missing API token: send Authorization: Bearer TOKEN")
}

// authenticate is the HTTP middleware that resolves the Bearer token of a request into the
// caller; operations without a caller are refused by requireCaller.
func (r *Resolver) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := req.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, req)
			return
		}
		ctx := req.Context()
		p, err := r.Store.Authenticate(ctx, ingest.BearerToken(h))
		if err != nil {
			ctx = context.WithValue(ctx, authErrKey, err)
		} else {
			ctx = withPrincipal(ctx, p)
		}
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// initWebsocket authenticates a websocket from its connection_init payload
// ({"Authorization": "Bearer TOKEN"}) or, failing that, from the upgrade request's header. A
// refused connection is closed with 4403 so that clients stop instead of reconnecting; while the
// database cannot be reached it is closed with 4500 instead, and clients reconnect.
//
// The connection is authenticated once, here, and its operations trust the principal
// afterwards (deliveryLog checks each attempt against it). What keeps that sound is a watch
// on the principal's API token, for as long as the connection lives: once the token is
// revoked, in this process or another, the whole connection is closed with 4403, as a
// refused connection_init is, before anything more is sent on it or anything it sends is
// executed. (The API has no other way to narrow what a caller may do or see: users are
// neither deleted nor demoted, nor taken out of a team.)
func (r *Resolver) initWebsocket(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	if h := payload.Authorization(); h != "" {
		p, err := r.Store.Authenticate(ctx, ingest.BearerToken(h))
		switch {
		case models.ErrorCode(err) == models.CodeUnavailable:
			// Not a refusal: the client is to reconnect later, not give up (closed with 4500).
			return ctx, nil, err
		case err != nil:
			return gorillaws.Forbidden(ctx, "invalid API token")
		}
		ctx = withPrincipal(ctx, p)
	}
	p, err := principal(ctx)
	switch {
	case models.ErrorCode(err) == models.CodeUnavailable:
		return ctx, nil, err
	case err != nil:
		return gorillaws.Forbidden(ctx, "missing API token")
	}
	watch, err := r.Store.WatchAPIToken(ctx, p.TokenID, func() { gorillaws.Forbid(ctx, "API token revoked") })
	switch {
	case models.ErrorCode(err) == models.CodeUnauthenticated:
		return gorillaws.Forbidden(ctx, "API token revoked")
	case err != nil:
		return ctx, nil, err
	}
	context.AfterFunc(ctx, watch.Stop) // ctx ends with the connection
	if !r.tokenConns.acquire(p.TokenID, cmp.Or(r.WebsocketMaxPerToken, DefaultWebsocketMaxPerToken)) {
		return gorillaws.TooMany(ctx, "too many websocket connections open with this API token (HERALD_WS_MAX_PER_TOKEN)")
	}
	context.AfterFunc(ctx, func() { r.tokenConns.release(p.TokenID) })
	return ctx, nil, nil
}

// tokenConns counts the websocket connections open with each API token.
type tokenConns struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire counts one more connection of token and reports true, unless max are open already.
func (t *tokenConns) acquire(token string, max int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n[token] >= max {
		return false
	}
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[token]++
	return true
}

// release counts one connection of token fewer.
func (t *tokenConns) release(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n[token]--; t.n[token] <= 0 {
		delete(t.n, token)
	}
}

// requireCaller refuses every operation that has no authenticated caller, with the error
// presented as any other (a database that cannot be reached is UNAVAILABLE).
func requireCaller(present graphql.ErrorPresenterFunc) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if _, err := principal(ctx); err != nil {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{present(ctx, err)}})
		}
		return next(ctx)
	}
}
