package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
)

// The gqlgen guards, all in one place: what bounds an operation before anything of it runs
// (overlapGuard before parsing, introspectionDepthRule among the validation rules, then
// depthLimit, introspectionLimit and costLimit on the validated operation) and the one error
// presenter of the GraphQL edge (presentError, recoverPanic). NewHandler wires them. None of
// them authorises or reads the store: they look at the document alone.

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

// Bounds of a document before it is validated. gqlparser's OverlappingFieldsCanBeMerged rule
// compares every pair of fields that answer under the same name, and their sub-selections pair
// by pair again: `{ me { id id … } }` with 4,000 ids kept a core busy for 9 s, 20,000 for
// minutes, before any limit that runs after validation could refuse it. MaxOverlapPairs bounds
// the pairs that rule would compare (overlapPairs), MaxParserTokens the tokens parsed; both are
// far above what the pages and GraphiQL send (TestCostOfRealClients).
const (
	MaxOverlapPairs = 50000
	MaxParserTokens = 100000
)

// overlapGuard refuses with LIMIT_EXCEEDED, before gqlgen parses and validates it, a document
// whose same-named fields would take gqlparser's field-merging rule more than maxPairs
// comparisons. A document that does not parse (more than maxTokens tokens among others) is left
// to gqlgen, which says why.
type overlapGuard struct{ maxPairs, maxTokens int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = overlapGuard{}

// ExtensionName implements graphql.HandlerExtension.
func (overlapGuard) ExtensionName() string { return "OverlapGuard" }

// Validate implements graphql.HandlerExtension.
func (overlapGuard) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters implements graphql.OperationParameterMutator.
func (g overlapGuard) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, g.maxTokens)
	if err != nil {
		return nil
	}
	e := overlapPairs{fragments: map[string]*ast.FragmentDefinition{}, max: g.maxPairs}
	for _, f := range doc.Fragments {
		e.fragments[f.Name] = f
	}
	for _, op := range doc.Operations {
		e.merge([]ast.SelectionSet{op.SelectionSet}, 0)
	}
	for _, f := range doc.Fragments {
		e.merge([]ast.SelectionSet{f.SelectionSet}, 0)
	}
	if e.pairs > e.max {
		err := gqlerror.Errorf("document repeats fields under the same name too often (more than %d pairs to compare): select each field once", g.maxPairs)
		err.Extensions = map[string]any{"code": models.CodeLimitExceeded}
		return err
	}
	return nil
}

// overlapPairs counts, bounded, what OverlappingFieldsCanBeMerged compares: in each selection
// set (inline fragments and fragment spreads flattened into it), each pair of fields with the
// same response name, then their sub-selections merged, and each pair of distinct fragments
// spread into it directly (each fragment collected once per set, as the rule does). Fields merged by
// name are counted as one set, which is what the rule's pairwise recursion adds up to; a field
// or fragment that stands alone costs nothing here.
type overlapPairs struct {
	fragments  map[string]*ast.FragmentDefinition
	pairs, max int
}

// merge counts the selection sets that answer together (the sub-selections of same-named
// fields) as one.
func (e *overlapPairs) merge(sets []ast.SelectionSet, depth int) {
	groups := map[string][]ast.SelectionSet{}
	var order []string
	spread := map[string]bool{}
	direct := 0
	var collect func(set ast.SelectionSet, inFragment bool)
	collect = func(set ast.SelectionSet, inFragment bool) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				name := s.Alias
				if name == "" {
					name = s.Name
				}
				if _, ok := groups[name]; !ok {
					order = append(order, name)
				}
				groups[name] = append(groups[name], s.SelectionSet)
			case *ast.InlineFragment:
				collect(s.SelectionSet, inFragment)
			case *ast.FragmentSpread:
				if f := e.fragments[s.Name]; f != nil && !spread[s.Name] {
					spread[s.Name] = true
					if !inFragment {
						direct++
					}
					collect(f.SelectionSet, true)
				}
			}
		}
	}
	for _, set := range sets {
		collect(set, false)
	}
	if direct > 1 {
		e.pairs += direct * direct
	}
	for _, name := range order {
		if e.pairs > e.max {
			return
		}
		children := groups[name]
		if n := len(children); n > 1 {
			e.pairs += n * n
		}
		if depth < MaxDepth {
			e.merge(children, depth+1)
		}
	}
}

// fieldCosts weighs each paginated field by the items it may return: a field costs 1 plus its
// selections once per item of a full page (first, else the store's default page; at most
// MaxPageSize, beyond which the store refuses). Every other field costs 1 plus its selections.
// Introspection (__schema) costs nothing here: its size is the schema's, not the data's, and
// introspectionLimit bounds it.
func fieldCosts() ComplexityRoot {
	var c ComplexityRoot
	c.Query.Deliveries = func(child int, _ *string, _ *model.DeliveryStatus, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Query.Incidents = func(child int, _ *model.IncidentStatus, _ *string, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Query.Requests = func(child int, _ *string, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Webhook.Deliveries = func(child int, _ *model.DeliveryStatus, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Incident.Deliveries = func(child int, _ *model.DeliveryStatus, first *int, _ *string) int {
		return pageCost(child, first)
	}
	// webhooks has no page size: weighed as webhookListWeight of them, so that a delivery page
	// under every webhook is not costed as one page.
	c.Query.Webhooks = func(child int, _ *model.WebhookScope, _ *string, _ *string, _ *model.WebhookStatus) int {
		n := webhookListWeight
		return pageCost(child, &n)
	}
	return c
}

// webhookListWeight is how many webhooks a webhooks query is costed as returning.
const webhookListWeight = 20

// pageCost is 1 plus child once per item of the page first asks for, saturating instead of
// overflowing. A page size the store refuses (below 0) costs a default page.
func pageCost(child int, first *int) int {
	n := models.DefaultPageSize
	if first != nil && *first > 0 {
		n = min(*first, models.MaxPageSize)
	}
	if child > (math.MaxInt-1)/n {
		return math.MaxInt
	}
	return 1 + child*n
}

// costLimit refuses operations whose cost (fieldCosts) is above max with LIMIT_EXCEEDED,
// before anything runs. An operation that selects more than max fields, fragments expanded, is
// refused before it is costed: costing follows every spread of every fragment again, so that
// fragments each spreading the next one twice, 25 deep in 1 KB, would take seconds, 30 deep
// minutes. Its cost would be above max anyway, as every field costs at least 1, unless it
// spreads fragments by the thousand.
type costLimit struct {
	max int
	es  graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &costLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (*costLimit) ExtensionName() string { return "CostLimit" }

// Validate implements graphql.HandlerExtension.
func (c *costLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator.
func (c *costLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if n := expandedSelections(oc.Operation.SelectionSet, c.max, map[string]int{}); n > c.max {
		err := gqlerror.Errorf("operation selects more than %d fields and fragments once its fragments are expanded, the limit: select fewer fields, or split it", c.max)
		err.Extensions = map[string]any{"code": models.CodeLimitExceeded}
		return err
	}
	if cost := complexity.Calculate(ctx, c.es, oc.Operation, oc.Variables); cost > c.max {
		err := gqlerror.Errorf("operation costs %d, more than the limit of %d: ask for smaller pages (first) or fewer fields, or split it", cost, c.max)
		err.Extensions = map[string]any{"code": models.CodeLimitExceeded}
		return err
	}
	return nil
}

// expandedSelections counts the fields, inline fragments and fragment spreads of set as
// complexity.Calculate walks them: each fragment's selections once for each time it is
// spread, __schema's left out. It stops counting past max. sizes holds each fragment's count,
// worked out once.
func expandedSelections(set ast.SelectionSet, max int, sizes map[string]int) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name != "__schema" {
				n += 1 + expandedSelections(s.SelectionSet, max, sizes)
			}
		case *ast.InlineFragment:
			n += 1 + expandedSelections(s.SelectionSet, max, sizes)
		case *ast.FragmentSpread:
			size, ok := sizes[s.Name]
			if !ok && s.Definition != nil {
				sizes[s.Name] = max + 1 // a cycle, which validation refuses, ends here
				size = expandedSelections(s.Definition.SelectionSet, max, sizes)
				sizes[s.Name] = size
			}
			n += 1 + size
		}
		if n > max {
			return max + 1
		}
	}
	return n
}

// introspectionLimit refuses with LIMIT_EXCEEDED, before anything runs, an operation that
// selects __schema or __type more than maxSelections times, or whose introspection would answer
// more than maxValues values. The cost and depth limits leave introspection out, and
// gqlparser's MaxIntrospectionDepth bounds how deep it nests but not how wide: aliases and
// fragments repeat it at will, each time answering up to the whole schema again. Every alias
// and every use of a fragment counts. __typename is no introspection here: one value anywhere.
type introspectionLimit struct {
	maxSelections, maxValues int
	schema                   *ast.Schema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &introspectionLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (*introspectionLimit) ExtensionName() string { return "IntrospectionLimit" }

// Validate implements graphql.HandlerExtension.
func (l *introspectionLimit) Validate(es graphql.ExecutableSchema) error {
	l.schema = es.Schema()
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator.
func (l *introspectionLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	roots := introspectionRoots(oc.Operation.SelectionSet, nil, l.maxSelections, map[string]bool{})
	if len(roots) > l.maxSelections {
		err := gqlerror.Errorf("operation selects __schema or __type more than %d times, the limit: select the schema once, with __type for a few types at most (each alias and each use of a fragment counts)", l.maxSelections)
		err.Extensions = map[string]any{"code": models.CodeLimitExceeded}
		return err
	}
	w := introspectionWalk{schema: l.schema, max: l.maxValues}
	for _, root := range roots {
		if !w.root(root, oc.Variables) {
			err := gqlerror.Errorf("operation's introspection would answer more than %d values, the limit: select fewer fields of the schema (each alias and each use of a fragment counts), or split it", l.maxValues)
			err.Extensions = map[string]any{"code": models.CodeLimitExceeded}
			return err
		}
	}
	return nil
}

// introspectionRoots appends to roots the __schema and __type fields that set selects, once
// for each time it selects them (through aliases, fragments and inline fragments), stopping
// once there are more than max. none holds the fragments found to select neither, which are
// not searched again, so that fragments spread many times cost their size once.
func introspectionRoots(set ast.SelectionSet, roots []*ast.Field, max int, none map[string]bool) []*ast.Field {
	for _, sel := range set {
		if len(roots) > max {
			break
		}
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				roots = append(roots, s)
			} else {
				roots = introspectionRoots(s.SelectionSet, roots, max, none)
			}
		case *ast.InlineFragment:
			roots = introspectionRoots(s.SelectionSet, roots, max, none)
		case *ast.FragmentSpread:
			if s.Definition == nil || none[s.Name] {
				continue
			}
			n := len(roots)
			if roots = introspectionRoots(s.Definition.SelectionSet, roots, max, none); len(roots) == n {
				none[s.Name] = true
			}
		}
	}
	return roots
}

// introspectionWalk counts what introspection selections would answer by walking them over
// the schema, as gqlgen's introspection resolves them: one for each selection (field, inline
// fragment or fragment spread) on each object, and one for each item of a list. It stops once
// the count is past max, so that walking costs no more than max steps whatever the operation.
// Arguments (includeDeprecated) and @skip/@include are left out: the count is an upper bound.
type introspectionWalk struct {
	schema *ast.Schema
	n, max int
}

// inputValue is an __InputValue: an argument or an input object's field.
type inputValue struct{ typ *ast.Type }

// root counts a __schema or __type field, and reports whether the count is within max.
func (w *introspectionWalk) root(f *ast.Field, vars map[string]any) bool {
	if w.n++; w.n > w.max {
		return false
	}
	if f.Name == "__schema" {
		return w.selections(f.SelectionSet, w.schema)
	}
	name, _ := f.ArgumentMap(vars)["name"].(string)
	if _, ok := w.schema.Types[name]; !ok {
		return true // null
	}
	return w.selections(f.SelectionSet, &ast.Type{NamedType: name})
}

// selections counts set selected on v, an introspection object: *ast.Schema (__Schema),
// *ast.Type (__Type: a named type, or a list or non-null wrapper), *ast.FieldDefinition
// (__Field), inputValue (__InputValue), *ast.EnumValueDefinition (__EnumValue) or
// *ast.DirectiveDefinition (__Directive). It reports whether the count is within max.
func (w *introspectionWalk) selections(set ast.SelectionSet, v any) bool {
	for _, sel := range set {
		if w.n++; w.n > w.max {
			return false
		}
		ok := true
		switch s := sel.(type) {
		case *ast.Field:
			items, scalars := w.children(s.Name, v)
			w.n += scalars
			ok = w.n <= w.max
			for _, item := range items {
				if !ok {
					break
				}
				w.n++
				ok = w.selections(s.SelectionSet, item)
			}
		case *ast.InlineFragment:
			ok = w.selections(s.SelectionSet, v)
		case *ast.FragmentSpread:
			ok = s.Definition == nil || w.selections(s.Definition.SelectionSet, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// children returns the objects that field of v holds (none for a scalar or null) and how many
// items a list of scalars holds.
func (w *introspectionWalk) children(field string, v any) (items []any, scalars int) {
	switch v := v.(type) {
	case *ast.Schema:
		switch field {
		case "types":
			for name := range v.Types {
				items = append(items, &ast.Type{NamedType: name})
			}
		case "queryType", "mutationType", "subscriptionType":
			def := v.Query
			switch field {
			case "mutationType":
				def = v.Mutation
			case "subscriptionType":
				def = v.Subscription
			}
			if def != nil {
				items = append(items, &ast.Type{NamedType: def.Name})
			}
		case "directives":
			for _, d := range v.Directives {
				items = append(items, d)
			}
		}
	case *ast.Type:
		return w.typeChildren(field, v), 0
	case *ast.FieldDefinition:
		switch field {
		case "args":
			items = appendInputValues(items, v.Arguments)
		case "type":
			items = append(items, v.Type)
		}
	case inputValue:
		if field == "type" {
			items = append(items, v.typ)
		}
	case *ast.DirectiveDefinition:
		switch field {
		case "args":
			items = appendInputValues(items, v.Arguments)
		case "locations":
			scalars = len(v.Locations)
		}
	}
	return items, scalars
}

// typeChildren returns the objects that field of the __Type t holds.
func (w *introspectionWalk) typeChildren(field string, t *ast.Type) []any {
	switch {
	case t.NonNull:
		if field == "ofType" {
			return []any{&ast.Type{NamedType: t.NamedType, Elem: t.Elem}}
		}
		return nil
	case t.Elem != nil:
		if field == "ofType" {
			return []any{t.Elem}
		}
		return nil
	}
	def := w.schema.Types[t.NamedType]
	if def == nil {
		return nil
	}
	var items []any
	switch field {
	case "fields":
		if def.Kind == ast.Object || def.Kind == ast.Interface {
			for _, f := range def.Fields {
				items = append(items, f)
			}
		}
	case "inputFields":
		if def.Kind == ast.InputObject {
			for _, f := range def.Fields {
				items = append(items, inputValue{f.Type})
			}
		}
	case "interfaces":
		for _, name := range def.Interfaces {
			items = append(items, &ast.Type{NamedType: name})
		}
	case "possibleTypes":
		if def.Kind == ast.Interface || def.Kind == ast.Union {
			for _, p := range w.schema.GetPossibleTypes(def) {
				items = append(items, &ast.Type{NamedType: p.Name})
			}
		}
	case "enumValues":
		for _, e := range def.EnumValues {
			items = append(items, e)
		}
	}
	return items
}

// appendInputValues appends an __InputValue for each argument.
func appendInputValues(items []any, args ast.ArgumentDefinitionList) []any {
	for _, a := range args {
		items = append(items, inputValue{a.Type})
	}
	return items
}

// validationRules are gqlparser's, with MaxIntrospectionDepth replaced by
// introspectionDepthRule.
func validationRules() *rules.Rules {
	r := rules.NewDefaultRules()
	r.RemoveRule(rules.MaxIntrospectionDepth.Name)
	r.AddRule(introspectionDepthRule.Name, introspectionDepthRule.RuleFunc)
	return r
}

// introspectionDepthRule is gqlparser's MaxIntrospectionDepth: a __schema or __type selection
// nests fields, interfaces, possibleTypes and inputFields less than 3 deep. It works out each
// fragment's depth once, where gqlparser's follows every spread of every fragment again:
// fragments that each spread the next one twice, 25 deep in 1 KB under __schema, kept it busy
// for seconds, 30 deep for minutes, before any limit of ours could run.
var introspectionDepthRule = core.Rule{
	Name: rules.MaxIntrospectionDepth.Name,
	RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
		depths := map[string]int{}
		observers.OnField(func(_ *core.Walker, field *ast.Field) {
			if (field.Name == "__schema" || field.Name == "__type") && introspectionListDepth(field.SelectionSet, depths) >= 3 {
				addError(core.Message("Maximum introspection depth exceeded"), core.At(field.Position))
			}
		})
	},
}

// introspectionListDepth returns how deep set nests the introspection lists that
// MaxIntrospectionDepth bounds. depths holds each fragment's, worked out once.
func introspectionListDepth(set ast.SelectionSet, depths map[string]int) int {
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			d = introspectionListDepth(s.SelectionSet, depths)
			switch s.Name {
			case "fields", "interfaces", "possibleTypes", "inputFields":
				d++
			}
		case *ast.InlineFragment:
			d = introspectionListDepth(s.SelectionSet, depths)
		case *ast.FragmentSpread:
			d = oncePerFragment(s, depths, func(set ast.SelectionSet) int { return introspectionListDepth(set, depths) })
		}
		deepest = max(deepest, d)
	}
	return deepest
}

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
