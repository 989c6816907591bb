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
	Worker *worker.Worker

	// attempts shares the loading of announced attempts among deliveryLog subscribers.
	attempts attemptLoader
}
