package graph

import (
	"cmp"
	"context"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/herald-hq/herald/graph/gorillaws"
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
