// Package storetest gives each test its own Herald store: a fresh SQLite file in t.TempDir()
// or a fresh PostgreSQL database that is dropped when the test ends (skipped, naming the URL,
// when HERALD_TEST_POSTGRES_URL's server is unreachable), fixtures (Webhook, Deliveries) and
// a Proxy that cuts the database away. Only tests may import it.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-hq/herald/models"
)

// Key is the fixed secret key tests use.
const Key = "0000000000000000000000000000000000000000000000000000000000000001"

// AdminURL returns the PostgreSQL server tests use: HERALD_TEST_POSTGRES_URL or the local one.
func AdminURL() string {
	if u := os.Getenv("HERALD_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Dialects lists the databases a store suite runs on.
var Dialects = []string{models.DialectSQLite, models.DialectPostgres}

// URL returns a database URL of its own for the test: a SQLite file, or a new PostgreSQL
// database dropped in t.Cleanup. Without a reachable PostgreSQL the test is skipped, naming
// the URL it tried.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == models.DialectSQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "herald.db")
	}
	admin := AdminURL()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Skipf("PostgreSQL not reachable at %s (%v): skipping the PostgreSQL run", admin, err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "herald_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(admin, name); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return u.String()
}

// DropDatabase drops the PostgreSQL database of a URL made by URL now, closing the
// connections to it, for tests of a database that goes away.
func DropDatabase(t testing.TB, dbURL string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parse %s: %v", dbURL, err)
	}
	if err := dropDatabase(AdminURL(), strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Fatal(err)
	}
}

func dropDatabase(admin, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// Open returns a migrated store on a database of the test's own, its options changed by edits.
func Open(t testing.TB, dialect string, edits ...func(*models.Options)) *models.Store {
	t.Helper()
	return OpenURL(t, URL(t, dialect), edits...)
}

// OpenURL returns a store on the database at dbURL (another process's view of a test's
// database), its options changed by edits, closed when the test ends.
func OpenURL(t testing.TB, dbURL string, edits ...func(*models.Options)) *models.Store {
	t.Helper()
	opts := models.Options{
		DatabaseURL: dbURL,
		SecretKey:   Key,
		BaseURL:     "http://herald.test",
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, edit := range edits {
		edit(&opts)
	}
	s, err := models.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Each runs f as a subtest on every dialect, each with its own store.
func Each(t *testing.T, f func(t *testing.T, s *models.Store)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, Open(t, d))
		})
	}
}

// EachAt is Each with each store on a Clock of its own, set to start, that f moves.
func EachAt(t *testing.T, start time.Time, f func(t *testing.T, s *models.Store, clock *Clock)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(start)
			f(t, Open(t, d, clock.Use), clock)
		})
	}
}

// EachPair runs f as a subtest on every dialect with two stores on one database of its own, as
// two Herald processes would share it.
func EachPair(t *testing.T, f func(t *testing.T, s1, s2 *models.Store)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			dbURL := URL(t, d)
			f(t, OpenURL(t, dbURL), OpenURL(t, dbURL))
		})
	}
}

// Name returns a unique name with the prefix, for objects whose names must not collide.
func Name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%s", strings.ToLower(prefix), hex.EncodeToString(b))
}

// Clock is a clock a test sets by hand, for a store's Options.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Use makes the clock the store's: an edit for Open.
func (c *Clock) Use(o *models.Options) { o.Now = c.Now }
