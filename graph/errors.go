package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/herald-hq/herald/models"
)

// presentError maps errors once for the whole API: domain errors keep their message and get
// extensions.code (and extensions.field); argument decoding errors are VALIDATION; anything else
// is logged and shown as "internal error".
func presentError(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var de *models.Error
		var ge *gqlerror.Error
		switch {
		case errors.As(err, &de):
			gerr.Message = de.Message
			ext := map[string]any{"code": de.Code}
			if de.Field != "" {
				ext["field"] = de.Field
			}
			if de.Code == models.CodeInternal {
				logger.ErrorContext(ctx, "internal error", "err", err, "path", gerr.Path.String())
				gerr.Message = "internal error"
			}
			gerr.Extensions = ext
		case errors.As(err, &ge):
			// gqlgen wraps only the failures to decode an operation's arguments; resolvers
			// return plain errors.
			if gerr.Extensions == nil {
				gerr.Extensions = map[string]any{}
			}
			if _, ok := gerr.Extensions["code"]; !ok {
				gerr.Extensions["code"] = models.CodeValidation
			}
		default:
			logger.ErrorContext(ctx, "internal error", "err", err, "path", gerr.Path.String())
			gerr.Message = "internal error"
			gerr.Extensions = map[string]any{"code": models.CodeInternal}
		}
		return gerr
	}
}

// recoverPanic logs a resolver panic and answers "internal error".
func recoverPanic(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		logger.ErrorContext(ctx, "resolver panic", "err", fmt.Sprint(v))
		return models.Errorf(models.CodeInternal, "internal error")
	}
}
