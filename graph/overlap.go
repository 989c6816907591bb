package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/herald-hq/herald/models"
)

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
