package worker

import (
	"slices"
	"testing"
	"time"
)

// TestLeaseKeeperTokens: which tokens are due for extension, and which are forgotten: a
// token is due a quarter lease after it was issued or extended, never after maxHold, and
// forgotten once it extends nothing for a lease or is past maxHold.
func TestLeaseKeeperTokens(t *testing.T) {
	t.Parallel()
	const lease = 10 * time.Second
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	k := newLeaseKeeper(t0)
	k.add("fresh", t0.Add(9*time.Second))
	k.add("old", t0)
	k.add("held-long", t0.Add(-maxHold))
	now := t0.Add(10 * time.Second)
	if got := slices.Sorted(slices.Values(k.due(now, lease))); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("due %v, want [old]: fresh is a second old, held-long past maxHold", got)
	}
	k.extended(now, lease, []string{"old"}, []string{"old"})
	if got := k.due(now.Add(2*time.Second), lease); slices.Contains(got, "old") {
		t.Fatalf("due %v two seconds after old's extension, want it not there", got)
	}
	later := now.Add(3 * time.Second)
	if got := slices.Sorted(slices.Values(k.due(later, lease))); !slices.Equal(got, []string{"fresh", "old"}) {
		t.Fatalf("due %v, want [fresh old]", got)
	}
	// fresh extends nothing: its deliveries are done; it goes once a lease has passed.
	k.extended(later, lease, []string{"fresh", "old"}, []string{"old"})
	if _, ok := k.tokens["fresh"]; !ok {
		t.Fatal("fresh forgotten before a lease passed")
	}
	end := t0.Add(9*time.Second + lease + time.Second)
	k.extended(end, lease, []string{"fresh"}, nil)
	if _, ok := k.tokens["fresh"]; ok {
		t.Error("fresh kept though it extended nothing for a lease")
	}
	if _, ok := k.tokens["held-long"]; ok {
		t.Error("held-long kept past maxHold and a lease")
	}
	if k.behind(end.Add(lease/2), lease) || !k.behind(end.Add(lease/2+time.Second), lease) {
		t.Error("behind should trip only once half a lease passed without an extension")
	}
}
