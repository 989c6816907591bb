package models

import (
	"strings"
	"testing"
)

func TestJoinPayloads(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("a", 36)
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = id
	}
	payloads := joinPayloads(ids, maxNotifyPayload)
	var got []string
	for _, p := range payloads {
		if len(p) > maxNotifyPayload {
			t.Fatalf("payload of %d bytes, limit %d", len(p), maxNotifyPayload)
		}
		got = append(got, strings.Split(p, ",")...)
	}
	if len(got) != len(ids) || len(payloads) != 3 {
		t.Fatalf("%d ids in %d payloads, want %d in 3", len(got), len(payloads), len(ids))
	}
	if joinPayloads(nil, maxNotifyPayload) != nil {
		t.Fatal("payloads without ids")
	}
}
