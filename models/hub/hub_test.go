package hub_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/hub"
)

// TestHubDropsSlowSubscriber checks that a subscriber that never reads is dropped, with an
// error from Next and a last notification, while a subscriber that keeps up, reading on
// another goroutine whenever notified, receives every id in order and Publish never waits.
func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	hub := hub.New()

	var slowNotified atomic.Int64
	slow := hub.Subscribe(func() { slowNotified.Add(1) })

	wake := make(chan struct{}, 1)
	fast := hub.Subscribe(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	got := make(chan string, 1024)
	readerDone := make(chan error, 1)
	go func() {
		// Like the deliveryLog resolver's fill: read everything announced, then wait.
		for range wake {
			for {
				id, err := fast.Next()
				if err != nil {
					readerDone <- err
					return
				}
				if id == "" {
					break
				}
				got <- id
			}
		}
		readerDone <- nil
	}()
	if n := hub.Len(); n != 2 {
		t.Fatalf("hub.Len() = %d, want 2", n)
	}

	const batches, batch = 10, 200 // a batch is about one NOTIFY payload
	var received []string
	for b := range batches {
		ids := make([]string, batch)
		for i := range ids {
			ids[i] = fmt.Sprintf("attempt-%d", b*batch+i)
		}
		start := time.Now()
		hub.Publish(ids...)
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Fatalf("publishing %d ids took %v: Publish waited for a subscriber", batch, elapsed)
		}
		for len(received) < (b+1)*batch {
			select {
			case id := <-got:
				received = append(received, id)
			case err := <-readerDone:
				t.Fatalf("the fast subscriber stopped after %d ids: %v", len(received), err)
			case <-time.After(5 * time.Second):
				t.Fatalf("the fast subscriber got %d ids, then nothing", len(received))
			}
		}
	}

	if _, err := slow.Next(); models.ErrorCode(err) != models.CodeLimitExceeded {
		t.Fatalf("the slow subscriber's Next: %v, want LIMIT_EXCEEDED", err)
	}
	notified := slowNotified.Load()
	hub.Publish("after-the-drop")
	if n := slowNotified.Load(); n != notified {
		t.Errorf("the dropped subscriber was notified again")
	}
	if n := hub.Len(); n != 1 {
		t.Fatalf("hub.Len() = %d after dropping the slow subscriber, want 1", n)
	}
	for i, id := range received {
		if want := fmt.Sprintf("attempt-%d", i); id != want {
			t.Fatalf("id %d is %s, want %s: ids arrive in order", i, id, want)
		}
	}
	fast.Close()
	close(wake)
	if err := <-readerDone; err != nil {
		t.Fatalf("the fast subscriber was dropped: %v", err)
	}
	if n := hub.Len(); n != 0 {
		t.Fatalf("hub.Len() = %d after closing every subscriber, want 0", n)
	}
}

// TestHubSubscriberReadsLaterIDsOnly checks that a subscriber starts at the ids published
// after it subscribed, and that Next says when it has read them all.
func TestHubSubscriberReadsLaterIDsOnly(t *testing.T) {
	t.Parallel()
	hub := hub.New()
	hub.Publish("before")
	s := hub.Subscribe(func() {})
	defer s.Close()
	if id, err := s.Next(); id != "" || err != nil {
		t.Fatalf("Next() = %q, %v before any publish, want nothing", id, err)
	}
	hub.Publish("a", "b")
	for _, want := range []string{"a", "b", ""} {
		if id, err := s.Next(); id != want || err != nil {
			t.Fatalf("Next() = %q, %v, want %q", id, err, want)
		}
	}
}
