package models

import (
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// IntegrationChannel is the PostgreSQL NOTIFY channel that carries the id of each changed or
// revoked integration, so that every process forgets the integrations it remembers.
const IntegrationChannel = "herald_integrations"

// integrationCacheSize bounds the integrations remembered by token.
const integrationCacheSize = 4096

// integrationCache remembers the live integrations found by token hash, so that an alert costs
// no lookup. Any change to an integration empties it. On PostgreSQL it is used only while this
// process listens for IntegrationChannel (another process's change would otherwise go
// unnoticed); on SQLite one process holds the database and it is always used.
type integrationCache struct {
	mu sync.Mutex
	// gen counts the purges: a lookup that started before one does not store what it read.
	gen     uint64
	enabled bool
	byHash  *lru.Cache[string, Integration]
}

func newIntegrationCache(enabled bool) *integrationCache {
	c, err := lru.New[string, Integration](integrationCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &integrationCache{enabled: enabled, byHash: c}
}

// get returns a copy of the integration remembered for hash, and otherwise the generation to
// give put.
func (c *integrationCache) get(hash string) (*Integration, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled {
		return nil, c.gen
	}
	if in, ok := c.byHash.Get(hash); ok {
		return &in, c.gen
	}
	return nil, c.gen
}

// put remembers in for hash unless the cache was purged since get returned gen.
func (c *integrationCache) put(hash string, in Integration, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.enabled && c.gen == gen {
		c.byHash.Add(hash, in)
	}
}

// purge forgets every integration: after a change to one (and on PostgreSQL as the change's
// NOTIFY arrives).
func (c *integrationCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.byHash.Purge()
}

// enable turns the cache on or off, forgetting what it held.
func (c *integrationCache) enable(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.enabled = on
	c.byHash.Purge()
}
