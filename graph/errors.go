package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/herald-hq/herald/models"
)

// presentError maps errors once for the whole API, so that a client only ever sees the codes of
// SPEC §8 (and INTERNAL): domain errors keep their message and get extensions.code (and
// extensions.field); every error of gqlgen itself is VALIDATION (see gqlgenError); anything
// else is logged and shown as "internal error".
//
// It never changes the error it is given: transports read gqlgen's own code from it after
// presenting it (GRAPHQL_VALIDATION_FAILED and GRAPHQL_PARSE_FAILED answer HTTP 422 and a
// websocket "error" message instead of a result).
func presentError(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		out := *graphql.DefaultErrorPresenter(ctx, err)
		var de *models.Error
		var ge *gqlerror.Error
		switch {
		case errors.As(err, &de):
			out.Message = de.Message
			out.Extensions = map[string]any{"code": de.Code}
			if de.Field != "" {
				out.Extensions["field"] = de.Field
			}
			if de.Code == models.CodeInternal {
				logger.ErrorContext(ctx, "internal error", "err", err, "path", out.Path.String())
				out.Message = "internal error"
			}
		case errors.As(err, &ge):
			out.Extensions = gqlgenError(ctx, ge)
			if field, ok := out.Extensions["field"].(string); ok {
				out.Message = field + ": " + ge.Message
			}
		default:
			logger.ErrorContext(ctx, "internal error", "err", err, "path", out.Path.String())
			out.Message = "internal error"
			out.Extensions = map[string]any{"code": models.CodeInternal}
		}
		return &out
	}
}

// gqlgenError returns the extensions of an error made by gqlgen, or by one of our handler
// extensions, which set a SPEC code themselves and keep it. Any other code becomes VALIDATION.
//
// The input a client sends as data is refused like the store refuses it (SPEC §4): VALIDATION
// naming the field in the store's notation (`headers[3].name`), for a variable that does not
// fit its type (path ["variable", NAME, …]) and for an argument gqlgen cannot decode (path
// below the field's).
//
// A query document that does not parse or validate (a syntax error, an unknown field, an
// argument literal of the wrong type) is VALIDATION too, without a field: it is not input in the
// SPEC's sense and its locations point at the text, but gqlgen's GRAPHQL_PARSE_FAILED and
// GRAPHQL_VALIDATION_FAILED are not codes a client of Herald knows, and VALIDATION is the one
// that says "fix what you sent". The HTTP status (422) and the websocket error message still
// tell such a refusal from a field's error.
func gqlgenError(ctx context.Context, ge *gqlerror.Error) map[string]any {
	ext := maps.Clone(ge.Extensions)
	if ext == nil {
		ext = map[string]any{}
	}
	switch ext["code"] {
	case models.CodeUnauthenticated, models.CodeForbidden, models.CodeNotFound, models.CodeValidation, models.CodeLimitExceeded:
		return ext
	}
	ext["code"] = models.CodeValidation
	if field := inputField(ctx, ge.Path); field != "" {
		ext["field"] = field
	}
	return ext
}

// inputField names the input field an error's path points at, or "" when it points at none.
func inputField(ctx context.Context, path ast.Path) string {
	if len(path) >= 2 && path[0] == ast.PathName("variable") {
		name, _ := path[1].(ast.PathName)
		at := ast.Path{name}
		if graphql.HasOperationContext(ctx) {
			if op := graphql.GetOperationContext(ctx).Operation; op != nil {
				if p, ok := variablePosition(op.SelectionSet, string(name), map[string]bool{}); ok {
					at = p
				}
			}
		}
		return argumentField(append(at, path[2:]...))
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return ""
	}
	if field := fc.Path(); len(path) > len(field) && slices.Equal(path[:len(field)], field) {
		return argumentField(path[len(field):])
	}
	return ""
}

// argumentField writes a path that starts at an argument the way the store names fields: inside
// an `input` argument its fields stand alone (`headers[3].name`), other arguments are named
// (`first`, `apiFilter.resolveWhen.key`).
func argumentField(path ast.Path) string {
	if len(path) > 1 && path[0] == ast.PathName("input") {
		if _, ok := path[1].(ast.PathName); ok {
			path = path[1:]
		}
	}
	return path.String()
}

// variablePosition returns where the first use of the variable sits in the selections: the
// argument's name and the object fields and list indexes down to it. visited keeps each
// fragment from being searched twice.
func variablePosition(set ast.SelectionSet, name string, visited map[string]bool) (ast.Path, bool) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			args := slices.Clone(s.Arguments)
			for _, d := range s.Directives {
				args = append(args, d.Arguments...)
			}
			for _, a := range args {
				if p, ok := valuePosition(a.Value, name); ok {
					return append(ast.Path{ast.PathName(a.Name)}, p...), true
				}
			}
			if p, ok := variablePosition(s.SelectionSet, name, visited); ok {
				return p, true
			}
		case *ast.InlineFragment:
			if p, ok := variablePosition(s.SelectionSet, name, visited); ok {
				return p, true
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || visited[s.Name] {
				continue
			}
			visited[s.Name] = true
			if p, ok := variablePosition(s.Definition.SelectionSet, name, visited); ok {
				return p, true
			}
		}
	}
	return nil, false
}

// valuePosition returns the path from an argument's value down to the variable inside it.
func valuePosition(v *ast.Value, name string) (ast.Path, bool) {
	if v == nil {
		return nil, false
	}
	if v.Kind == ast.Variable {
		return ast.Path{}, v.Raw == name
	}
	for i, c := range v.Children {
		p, ok := valuePosition(c.Value, name)
		if !ok {
			continue
		}
		var step ast.PathElement = ast.PathIndex(i)
		if v.Kind == ast.ObjectValue {
			step = ast.PathName(c.Name)
		}
		return append(ast.Path{step}, p...), true
	}
	return nil, false
}

// recoverPanic logs a resolver panic and answers "internal error".
func recoverPanic(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		logger.ErrorContext(ctx, "resolver panic", "err", fmt.Sprint(v))
		return models.Errorf(models.CodeInternal, "internal error")
	}
}
