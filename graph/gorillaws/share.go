package gorillaws

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"sync"

	"github.com/99designs/gqlgen/graphql"
)

// sharedResults keeps the encoded results that subscriptions share (see Stream.Share) for the
// sharedResultsSize most recent pairs of operation and key: a subscription that reaches a pair
// after it has gone executes the operation itself, which is slower but as correct.
type sharedResults struct {
	mu      sync.Mutex
	entries map[sharedKey]*sharedResult
	ring    []sharedKey // the keys of entries in the order they came, from next once full
	next    int
}

// sharedResultsSize bounds the results a Transport keeps: enough for a burst of a few hundred
// values that every subscription receives, and few enough that results of tens of KiB cost
// no more than a few MiB.
const sharedResultsSize = 256

// sharedKey names a result: the operation (operationIdentity) and the key its stream gave.
type sharedKey struct {
	op  [sha256.Size]byte
	key string
}

// sharedResult is the result of one operation for one key. The first subscription to ask
// executes the operation; the others wait for it, as they would for any slow step of their
// own, instead of executing it too.
type sharedResult struct {
	once    sync.Once
	payload []byte // the encoded result, nil when it is not shared
}

// get returns the result named k, new when k is not among the recent ones.
func (r *sharedResults) get(k sharedKey) *sharedResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[k]; ok {
		return e
	}
	if r.entries == nil {
		r.entries = map[sharedKey]*sharedResult{}
		r.ring = make([]sharedKey, sharedResultsSize)
	}
	if len(r.entries) == sharedResultsSize {
		delete(r.entries, r.ring[r.next])
	}
	e := &sharedResult{}
	r.entries[k] = e
	r.ring[r.next] = k
	r.next = (r.next + 1) % sharedResultsSize
	return e
}

// operationIdentity returns what makes two subscriptions the same operation for Share: a
// digest of the query text, the operation name and the variables, each preceded by its length
// so that no two different triples run together. It reports false when the variables do not
// encode, and the operation's results are then not shared.
func operationIdentity(oc *graphql.OperationContext) ([sha256.Size]byte, bool) {
	var id [sha256.Size]byte
	vars, err := json.Marshal(oc.Variables) // maps encode with sorted keys
	if err != nil {
		return id, false
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(oc.RawQuery), []byte(oc.OperationName), vars} {
		h.Write(binary.AppendUvarint(nil, uint64(len(part))))
		h.Write(part)
	}
	h.Sum(id[:0])
	return id, true
}
