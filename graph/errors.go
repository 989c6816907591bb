package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/herald-hq/herald/models"
)

// presentError maps errors once for the whole API, so that a client only ever sees the codes of
// SPEC §8 (and INTERNAL): domain errors keep their message and get extensions.code (and
// extensions.field), a database that cannot be reached is UNAVAILABLE (logged at WARN); every
// error of gqlgen itself is VALIDATION (see gqlgenError); anything else, a resolver's error
// that is not a domain error above all (resolverError), is logged and shown as "internal error".
//
// It never changes the error it is given: transports read gqlgen's own code from it after
// presenting it (GRAPHQL_VALIDATION_FAILED and GRAPHQL_PARSE_FAILED answer HTTP 422 and a
// websocket "error" message instead of a result).
func presentError(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		out := *graphql.DefaultErrorPresenter(ctx, err)
		de := models.DomainError(err)
		var ge *gqlerror.Error
		switch {
		case de != nil:
			out.Message = de.Message
			out.Extensions = map[string]any{"code": de.Code}
			if de.Field != "" {
				out.Extensions["field"] = de.Field
			}
			switch de.Code {
			case models.CodeInternal:
				logger.ErrorContext(ctx, "internal error", "err", err, "path", out.Path.String())
				out.Message = "internal error"
			case models.CodeUnavailable:
				logger.WarnContext(ctx, "database unavailable", "err", err, "path", out.Path.String())
			}
		case errors.As(err, &ge) && !resolverError(ctx, ge):
			out.Extensions = gqlgenError(ctx, ge)
			// A variable's error does not say which field it is about; the document validation's
			// messages about a literal name the type and field in their own way and stay as they are.
			if field, ok := out.Extensions["field"].(string); ok && ge.Rule == "" {
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

// resolverError reports whether ge is gqlgen's wrapping of an error a resolver returned: a Go
// error (not one of gqlgen's own) that is not about the input, so that its text (a driver's
// message, say) is logged and never shown. gqlgen wraps every error on its way to the
// presenter; the errors it makes itself carry no other error, or point below the field at the
// argument it could not decode, or at a variable.
func resolverError(ctx context.Context, ge *gqlerror.Error) bool {
	var inner *gqlerror.Error
	if ge.Err == nil || errors.As(ge.Err, &inner) {
		return false
	}
	return inputField(ctx, ge.Path) == ""
}

// gqlgenError returns the extensions of an error made by gqlgen, or by one of our handler
// extensions, which set a SPEC code themselves and keep it. Any other code becomes VALIDATION.
//
// The input a client sends is refused like the store refuses it (SPEC §4): VALIDATION naming
// the field in the store's notation (`headers[3].name`), for a variable that does not fit its
// type (path ["variable", NAME, …]), for an argument gqlgen cannot decode (path below the
// field's) and for an argument written in the query whose literal the document validation
// refuses (literalField).
//
// Any other query document that does not parse or validate (a syntax error, an unknown field or
// argument) is VALIDATION too, without a field: it is not input in the SPEC's sense, but gqlgen's
// GRAPHQL_PARSE_FAILED and GRAPHQL_VALIDATION_FAILED are not codes a client of Herald knows, and
// VALIDATION is the one that says "fix what you sent". The HTTP status (422) and the websocket
// error message still tell a refused document from a field's error.
func gqlgenError(ctx context.Context, ge *gqlerror.Error) map[string]any {
	ext := maps.Clone(ge.Extensions)
	if ext == nil {
		ext = map[string]any{}
	}
	switch ext["code"] {
	case models.CodeUnauthenticated, models.CodeForbidden, models.CodeNotFound, models.CodeValidation, models.CodeLimitExceeded,
		models.CodeUnavailable:
		return ext
	}
	ext["code"] = models.CodeValidation
	field := inputField(ctx, ge.Path)
	if field == "" {
		field = literalField(ctx, ge)
	}
	if field != "" {
		ext["field"] = field
	}
	return ext
}

// The gqlparser validation rules whose errors are about an argument written in the query.
const (
	ruleValuesOfCorrectType       = "ValuesOfCorrectType" // also …WithoutSuggestions
	ruleUniqueInputFieldNames     = "UniqueInputFieldNames"
	ruleProvidedRequiredArguments = "ProvidedRequiredArguments"
)

// The messages of what an argument literal lacks. The rules say what is missing in their
// message only: the error's location is the object (or field) it is missing from.
var (
	missingInputField = regexp.MustCompile(`^Field "[^".]+\.([^".]+)" of required type "[^"]+" was not provided\.$`)
	missingArgument   = regexp.MustCompile(`^Field "[^"]+" argument "([^"]+)" of type "[^"]+" is required, but it was not provided\.$`)
)

// literalField names the input field a document-validation error points at when it is about a
// field's argument written in the query: a value of the wrong type, an unknown or repeated
// input field, a required input field or argument left out. The name is the one a variable's
// error would have (`headers[0].value`, `auth.tokn`, `first`): the error's location is matched
// against the positions of the operation's argument literals, and what is left out is appended
// to where it is missing from. Literals elsewhere (variable defaults, directive arguments) are
// not the API's input and get no field.
func literalField(ctx context.Context, ge *gqlerror.Error) string {
	var missing *regexp.Regexp
	switch {
	case strings.HasPrefix(ge.Rule, ruleValuesOfCorrectType):
		missing = missingInputField
	case ge.Rule == ruleUniqueInputFieldNames:
	case ge.Rule == ruleProvidedRequiredArguments:
		missing = missingArgument
	default:
		return ""
	}
	if len(ge.Locations) != 1 || !graphql.HasOperationContext(ctx) {
		return ""
	}
	path, ok := literalSpotsOf(ctx)[ge.Locations[0]]
	if !ok {
		return ""
	}
	if missing != nil {
		if m := missing.FindStringSubmatch(ge.Message); m != nil {
			path = append(slices.Clip(path), ast.PathName(m[1]))
		}
	}
	if len(path) == 0 {
		return ""
	}
	return argumentField(path)
}

// literalSpots maps where each field, argument value and input object field of doc's
// selections starts to its input path: from the argument's name for a value or input object
// field, empty for a field.
func literalSpots(doc *ast.QueryDocument) map[gqlerror.Location]ast.Path {
	spots := map[gqlerror.Location]ast.Path{}
	at := func(pos *ast.Position, path ast.Path) {
		if pos != nil {
			spots[gqlerror.Location{Line: pos.Line, Column: pos.Column}] = path
		}
	}
	var value func(v *ast.Value, path ast.Path)
	value = func(v *ast.Value, path ast.Path) {
		if v == nil {
			return
		}
		at(v.Position, path)
		for i, c := range v.Children {
			var step ast.PathElement = ast.PathIndex(i)
			if v.Kind == ast.ObjectValue {
				step = ast.PathName(c.Name)
			}
			child := append(slices.Clip(path), step)
			if v.Kind == ast.ObjectValue {
				at(c.Position, child)
			}
			value(c.Value, child)
		}
	}
	var selections func(set ast.SelectionSet)
	selections = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				at(s.Position, ast.Path{})
				for _, a := range s.Arguments {
					value(a.Value, ast.Path{ast.PathName(a.Name)})
				}
				selections(s.SelectionSet)
			case *ast.InlineFragment:
				selections(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		selections(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		selections(f.SelectionSet)
	}
	return spots
}

// literalMemoKey keys a request's *literalMemo in its context.
type literalMemoKey struct{}

// literalMemo keeps the literal spots of the last operation whose errors were presented in a
// request (or websocket connection), so that a document with many mistakes is parsed once
// rather than once per mistake.
type literalMemo struct {
	mu    sync.Mutex
	oc    *graphql.OperationContext
	spots map[gqlerror.Location]ast.Path
}

// withLiteralMemo gives every request a literalMemo.
func withLiteralMemo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), literalMemoKey{}, &literalMemo{})))
	})
}

// literalSpotsOf returns the literal spots of the operation in ctx. A document that failed
// validation is not kept by gqlgen, so its text is parsed again (it parsed before).
func literalSpotsOf(ctx context.Context) map[gqlerror.Location]ast.Path {
	oc := graphql.GetOperationContext(ctx)
	spots := func() map[gqlerror.Location]ast.Path {
		doc := oc.Doc
		if doc == nil {
			var err error
			if doc, err = parser.ParseQuery(&ast.Source{Input: oc.RawQuery}); err != nil {
				return nil
			}
		}
		return literalSpots(doc)
	}
	m, _ := ctx.Value(literalMemoKey{}).(*literalMemo)
	if m == nil {
		return spots()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.oc != oc {
		m.oc, m.spots = oc, spots()
	}
	return m.spots
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
