package graph

import (
	"github.com/herald-hq/herald/models"
)

// optional returns nil for "" and a pointer to s otherwise.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// valueOr returns *p, or def when p is nil.
func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// pageLimit is the page size to ask the store for: first, or the store's default (0) when it is
// omitted. An empty page (first: 0, which Relay allows) asks for one item, so that the answer
// can still say whether there is a next page; the caller drops it (emptyPage). Because the
// API's first counts from 0 and the store's from 1 (its 0 is "the default"), first is checked
// here, so that the message states the API's range: VALIDATION on first.
func pageLimit(first *int) (int, error) {
	switch {
	case first == nil:
		return 0, nil
	case *first < 0 || *first > models.MaxPageSize:
		return 0, models.Invalid("first", "first must be between 0 and %d", models.MaxPageSize)
	case *first == 0:
		return 1, nil
	}
	return *first, nil
}

// emptyPage reports whether first asks for no items.
func emptyPage(first *int) bool { return first != nil && *first == 0 }
