package models_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
)

// TestHubDropsSlowSubscriber checks that a subscriber that never reads is dropped, and its
// goroutine ends, while a subscriber that keeps up receives every id and Publish never waits.
func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	hub := models.NewHub()

	slow := hub.Subscribe()
	slowDone := make(chan struct{})
	go func() {
		// Like the deliveryLog resolver: wait for an id or the drop, but never get to reading.
		defer close(slowDone)
		defer slow.Close()
		<-slow.Dropped
	}()

	fast := hub.Subscribe()
	var got []string
	read := func(n int) {
		t.Helper()
		for range n {
			select {
			case id := <-fast.C:
				got = append(got, id)
			case <-fast.Dropped:
				t.Fatalf("the fast subscriber was dropped after %d ids", len(got))
			case <-time.After(5 * time.Second):
				t.Fatalf("the fast subscriber got %d ids, then nothing", len(got))
			}
		}
	}
	if n := hub.Len(); n != 2 {
		t.Fatalf("hub.Len() = %d, want 2", n)
	}

	const batches, batch = 10, 100
	for b := range batches {
		start := time.Now()
		for i := range batch {
			hub.Publish(fmt.Sprintf("attempt-%d", b*batch+i))
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Fatalf("publishing %d ids took %v: Publish waited for a subscriber", batch, elapsed)
		}
		read(batch)
	}

	select {
	case <-slowDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow subscriber's goroutine did not end")
	}
	if n := hub.Len(); n != 1 {
		t.Fatalf("hub.Len() = %d after dropping the slow subscriber, want 1", n)
	}
	if len(got) != batches*batch {
		t.Fatalf("the fast subscriber got %d ids, want %d", len(got), batches*batch)
	}
	for i, id := range got {
		if want := fmt.Sprintf("attempt-%d", i); id != want {
			t.Fatalf("id %d is %s, want %s: ids arrive in order", i, id, want)
		}
	}
	select {
	case <-fast.Dropped:
		t.Fatal("the fast subscriber was dropped")
	default:
	}
	fast.Close()
	if n := hub.Len(); n != 0 {
		t.Fatalf("hub.Len() = %d after closing every subscriber, want 0", n)
	}
}
