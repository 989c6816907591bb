package graph

import (
	"context"
	"math"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
)

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
