package graph

import (
	"log/slog"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/worker"
)

// Resolver holds what the resolvers depend on. Resolvers only translate: authorise, call the
// store, map the answer.
type Resolver struct {
	Store  *models.Store
	Logger *slog.Logger
	// Sender sends test webhooks (testWebhook); nil in a process that sends none.
	Sender *worker.Sender
	// WebsocketMaxPerToken bounds the websocket connections open at once with one API token,
	// WebsocketMaxConnections those of the whole process; zero means
	// DefaultWebsocketMaxPerToken and DefaultWebsocketMaxConnections.
	WebsocketMaxPerToken    int
	WebsocketMaxConnections int

	// attempts shares the loading of announced attempts among deliveryLog subscribers.
	attempts attemptLoader
	// tokenConns counts each API token's websocket connections.
	tokenConns tokenConns
}
