package graph

import (
	"cmp"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/herald-hq/herald/graph/gorillaws"
	"github.com/herald-hq/herald/models"
)

// Limits of one GraphQL operation. MaxComplexity bounds its cost (fieldCosts): a page of 200
// deliveries with every attempt's request and response costs about 7,400, the dashboard's
// heaviest query (30 deliveries) about 1,100. MaxIntrospection bounds its __schema and __type
// selections and MaxIntrospectionValues what they answer (introspectionLimit, about 16 bytes a
// value): GraphiQL's schema query selects __schema once and counts about 7,500 (100 KB).
const (
	MaxRequestBytes        = 1 << 20
	MaxComplexity          = 10000
	MaxDepth               = 12
	MaxIntrospection       = 5
	MaxIntrospectionValues = 50000
)

// Websocket keep-alive: graphql-ws "ka" messages and graphql-transport-ws pings.
const keepAlive = 15 * time.Second

// MaxWebsocketOperations bounds the operations running at once on one websocket connection
// (gorillaws.Transport.MaxOperations): the dashboard and the incident page run one or two.
const MaxWebsocketOperations = 100

// Default bounds of the websocket connections open at once (HERALD_WS_MAX_PER_TOKEN and
// HERALD_WS_MAX_CONNECTIONS): the dashboard opens one per tab.
const (
	DefaultWebsocketMaxPerToken    = 100
	DefaultWebsocketMaxConnections = 10000
)

// Handler is the GraphQL endpoint.
type Handler struct {
	http.Handler
	ws *gorillaws.Transport
}

// GoingAway closes every websocket connection with 1001, and those opened later at once: the
// server is shutting down and subscribers should reconnect elsewhere.
func (h *Handler) GoingAway() { h.ws.GoingAway("server shutting down") }

// WebsocketConnections returns how many websocket connections are open.
func (h *Handler) WebsocketConnections() int { return h.ws.Connections() }

// NewHandler returns the GraphQL endpoint (`/query`): POST, GET and websockets (both
// subscription protocols, browser origins limited to the same origin and allowedOrigins),
// bounded in size, depth, complexity and introspection (and websockets in operations at once),
// every operation authenticated with a Bearer token.
func NewHandler(r *Resolver, allowedOrigins []string) *Handler {
	srv := handler.New(NewExecutableSchema(Config{Resolvers: r, Complexity: fieldCosts()}))
	ws := &gorillaws.Transport{
		Origins:              allowedOrigins,
		InitFunc:             r.initWebsocket,
		KeepAlive:            keepAlive,
		ReadLimit:            MaxRequestBytes,
		MaxOperations:        MaxWebsocketOperations,
		MaxConnections:       cmp.Or(r.WebsocketMaxConnections, DefaultWebsocketMaxConnections),
		MaxConnectionsReason: "too many websocket connections open on this server (HERALD_WS_MAX_CONNECTIONS)",
		ErrorFunc: func(ctx context.Context, err error) {
			r.Logger.InfoContext(ctx, "websocket connection failed", "err", err)
		},
	}
	srv.AddTransport(ws)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(MaxParserTokens)
	srv.SetValidationRulesFn(validationRules)
	srv.Use(overlapGuard{maxPairs: MaxOverlapPairs, maxTokens: MaxParserTokens})
	srv.Use(extension.Introspection{})
	srv.Use(depthLimit{max: MaxDepth})
	srv.Use(&introspectionLimit{maxSelections: MaxIntrospection, maxValues: MaxIntrospectionValues})
	srv.Use(&costLimit{max: MaxComplexity})
	srv.SetErrorPresenter(presentError(r.Logger))
	srv.SetRecoverFunc(recoverPanic(r.Logger))
	srv.AroundOperations(requireCaller(presentError(r.Logger)))
	return &Handler{Handler: r.authenticate(http.MaxBytesHandler(withLiteralMemo(srv), MaxRequestBytes)), ws: ws}
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

// depthLimit refuses operations nested deeper than max fields.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (depthLimit) ExtensionName() string { return "DepthLimit" }

// Validate implements graphql.HandlerExtension.
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, map[string]int{}); depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep; at most %d are allowed", depth, d.max)
		err.Extensions = map[string]any{"code": models.CodeValidation}
		return err
	}
	return nil
}

// oncePerFragment returns of(the spread fragment's selections), worked out once per fragment
// and kept in memo: a fragment may be spread many times, and the fragments in it many times
// over. A cycle, which validation refuses, counts 0.
func oncePerFragment(s *ast.FragmentSpread, memo map[string]int, of func(ast.SelectionSet) int) int {
	if v, ok := memo[s.Name]; ok || s.Definition == nil {
		return v
	}
	memo[s.Name] = 0
	v := of(s.Definition.SelectionSet)
	memo[s.Name] = v
	return v
}

// selectionDepth returns how deep set nests fields. depths holds each fragment's, worked out
// once: a fragment may be spread many times, and fragments in it many times over.
func selectionDepth(set ast.SelectionSet, depths map[string]int) int {
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				// Introspection (GraphiQL's schema query) is bounded by introspectionLimit.
				continue
			}
			d = 1 + selectionDepth(s.SelectionSet, depths)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depths)
		case *ast.FragmentSpread:
			d = oncePerFragment(s, depths, func(set ast.SelectionSet) int { return selectionDepth(set, depths) })
		}
		deepest = max(deepest, d)
	}
	return deepest
}
