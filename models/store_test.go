package models_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestOpenConcurrentlyOnFreshDatabase: replicas started together on an empty PostgreSQL
// database all migrate it and start (without a lock around the migration, all but one would
// fail creating the same tables at once); a store opened later on the migrated database opens
// too.
func TestOpenConcurrentlyOnFreshDatabase(t *testing.T) {
	t.Parallel()
	dbURL := storetest.URL(t, models.DialectPostgres)
	const processes = 6
	open := func() (*models.Store, error) {
		return models.Open(context.Background(), models.Options{
			DatabaseURL: dbURL,
			SecretKey:   storetest.Key,
			BaseURL:     "http://herald.test",
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, processes)
	start := make(chan struct{})
	for i := range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := open()
			if err == nil {
				t.Cleanup(func() { _ = s.Close() })
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
	s, err := open()
	if err != nil {
		t.Fatalf("a store opened after the others: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	team, err := s.CreateTeam(ctx, storetest.Name("t"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateService(ctx, team.ID, "api"); err != nil {
		t.Fatal(err)
	}
}
