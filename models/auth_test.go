package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// newToken gives a new user of the store an API token and returns the token and its id.
func newToken(t *testing.T, s *models.Store) (token, id string) {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, storetest.Name("user"), nil, models.RoleMember, nil)
	if err != nil {
		t.Fatal(err)
	}
	token, err = s.CreateAPIToken(ctx, u.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if p.TokenID == "" {
		t.Fatal("Authenticate gave a principal without its token id")
	}
	return token, p.TokenID
}

// revocations counts the calls of a watch's revoked and signals each on a channel.
type revocations chan struct{}

func (r revocations) revoked() { r <- struct{}{} }

// wait fails the test unless revoked is called within ten seconds.
func (r revocations) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-r:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the watch was not told", what)
	}
}

// none fails the test if revoked has been called.
func (r revocations) none(t *testing.T, what string) {
	t.Helper()
	select {
	case <-r:
		t.Fatalf("%s: the watch was told", what)
	default:
	}
}

// TestWatchAPIToken checks that revoking a token ends its watches, before DeleteAPIToken
// returns, and only its own; that a watch started on a token revoked already ends at once,
// with UNAUTHENTICATED; and that a stopped watch is not told.
func TestWatchAPIToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		_, revokedID := newToken(t, s)
		_, keptID := newToken(t, s)
		_, stoppedID := newToken(t, s)
		revoked, twice, kept, stopped := make(revocations, 2), make(revocations, 2), make(revocations, 1), make(revocations, 1)
		for id, r := range map[string]revocations{revokedID: revoked, keptID: kept} {
			if _, err := s.WatchAPIToken(ctx, id, r.revoked); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.WatchAPIToken(ctx, revokedID, twice.revoked); err != nil {
			t.Fatal(err)
		}
		w, err := s.WatchAPIToken(ctx, stoppedID, stopped.revoked)
		if err != nil {
			t.Fatal(err)
		}
		w.Stop()

		if err := s.DeleteAPIToken(ctx, revokedID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAPIToken(ctx, stoppedID); err != nil {
			t.Fatal(err)
		}
		if len(revoked) != 1 || len(twice) != 1 {
			t.Fatalf("the revoked token's watches were told %d and %d times when DeleteAPIToken returned, want once each", len(revoked), len(twice))
		}
		kept.none(t, "another token")
		stopped.none(t, "a stopped watch")

		late := make(revocations, 2)
		if _, err := s.WatchAPIToken(ctx, revokedID, late.revoked); models.ErrorCode(err) != models.CodeUnauthenticated {
			t.Fatalf("watching a revoked token: %v, want UNAUTHENTICATED", err)
		}
		if len(late) != 1 {
			t.Fatalf("a watch on a revoked token was told %d times, want once", len(late))
		}
	})
}

// TestWatchAPITokenAcrossProcesses checks, on two stores sharing a PostgreSQL database, that
// a token revoked through one ends the watches of the other: through its LISTEN loop, and,
// for a revocation made while that loop was not listening, when it connects. A watch is told
// once, though its own store hears of the revocation twice (at once, and notified).
func TestWatchAPITokenAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := storetest.URL(t, models.DialectPostgres)
	open := func() *models.Store { return storetest.OpenURL(t, dbURL) }
	api, other := open(), open()
	_, missedID := newToken(t, api)
	_, notifiedID := newToken(t, api)
	_, keptID := newToken(t, api)
	_, localID := newToken(t, api)
	missed, notified, kept, local := make(revocations, 1), make(revocations, 1), make(revocations, 1), make(revocations, 2)
	for id, r := range map[string]revocations{missedID: missed, notifiedID: notified, keptID: kept, localID: local} {
		if _, err := other.WatchAPIToken(ctx, id, r.revoked); err != nil {
			t.Fatal(err)
		}
	}

	// Revoked while the other store does not listen: found when it starts to.
	if err := api.DeleteAPIToken(ctx, missedID); err != nil {
		t.Fatal(err)
	}
	missed.none(t, "a revocation in another process, not listening")
	listenCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go other.Listen(listenCtx)
	missed.wait(t, "a revocation made before the LISTEN loop connected")

	heardAll := listenerCaughtUp(t, api, other)
	heardAll()
	if err := api.DeleteAPIToken(ctx, notifiedID); err != nil {
		t.Fatal(err)
	}
	notified.wait(t, "a revocation notified by another process")

	if err := other.DeleteAPIToken(ctx, localID); err != nil {
		t.Fatal(err)
	}
	if len(local) != 1 {
		t.Fatal("a watch was not told before its own store's DeleteAPIToken returned")
	}
	heardAll()
	if len(local) != 1 {
		t.Fatalf("a watch was told %d times of one revocation, want once", len(local))
	}
	kept.none(t, "another token")
}

// listenerCaughtUp returns a function that returns once listener's LISTEN loop has handled
// what was notified before it was called: PostgreSQL delivers notifications in commit order,
// and an attempt announcement that sender makes then reaches listener's hub after them.
func listenerCaughtUp(t *testing.T, sender, listener *models.Store) func() {
	heard := make(chan struct{}, 1)
	sub := listener.Hub().Subscribe(func() {
		select {
		case heard <- struct{}{}:
		default:
		}
	})
	t.Cleanup(sub.Close)
	return func() {
		t.Helper()
		select {
		case <-heard:
		default:
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(heard) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the other store's LISTEN loop heard nothing")
			}
			if err := sender.DB().Exec("SELECT pg_notify(?, 'probe')", models.AttemptChannel).Error; err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
