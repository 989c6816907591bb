package render

import (
	"container/list"
	"slices"
	"sync"
)

// Cache keeps parsed templates so that each revision of a webhook is parsed once. It is safe for
// concurrent use and holds at most max entries, dropping the least recently used.
type Cache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *cacheEntry, most recently used first
	entries map[string]*list.Element
}

type cacheEntry struct {
	key, src string
	t        *Template
	errs     []Error
}

// NewCache returns a cache of at most size templates (at least one).
func NewCache(size int) *Cache {
	return &Cache{max: max(size, 1), order: list.New(), entries: make(map[string]*list.Element)}
}

// Get returns the template for key, parsing src when key is new or was last seen with another
// source. Keys name a template revision, e.g. "webhookID:revision:body". Errors are cached
// too; the returned slice is the caller's.
func (c *Cache) Get(key, src string) (*Template, []Error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*cacheEntry)
		if e.src == src {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			return e.t, slices.Clone(e.errs)
		}
	}
	c.mu.Unlock()

	t, errs := Parse(src)

	c.mu.Lock()
	defer c.mu.Unlock()
	e := &cacheEntry{key: key, src: src, t: t, errs: errs}
	if el, ok := c.entries[key]; ok {
		el.Value = e
		c.order.MoveToFront(el)
	} else {
		c.entries[key] = c.order.PushFront(e)
	}
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
	return t, slices.Clone(errs)
}

// Len returns the number of cached templates.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
