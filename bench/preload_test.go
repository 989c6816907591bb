package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// preloadRows is the size of the preload tests: every 33rd delivery fails, so 3,300 gives 100.
const preloadRows = 3300

// TestPreloadSQLite preloads a spawned Herald's fresh SQLite file and checks the history.
func TestPreloadSQLite(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "herald.db")
	db := spawnAndPreload(t, dir, url)
	var counter int64
	if err := db.QueryRow(`SELECT value FROM counters WHERE name = 'incident'`).Scan(&counter); err != nil {
		t.Fatal(err)
	}
	checkPreloaded(t, db, counter)
}

// TestPreloadPostgres preloads a spawned Herald on a database of its own, created on the
// PostgreSQL at 127.0.0.1:5432 and dropped at the end; skipped when none answers there.
func TestPreloadPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Skipf("no PostgreSQL at 127.0.0.1:5432 (user postgres, database test): %v", err)
	}
	name := "herald_preload_test_" + randomHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { // after Herald's stop, which spawnAndPreload registers later
		if _, err := admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		admin.Close(context.Background())
	})
	db := spawnAndPreload(t, t.TempDir(), "postgres://postgres@127.0.0.1:5432/"+name+"?sslmode=disable")
	var last int64
	if err := db.QueryRow(`SELECT last_value FROM incident_number_seq`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	checkPreloaded(t, db, last)
	var analysed int
	if err := db.QueryRow(`SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('incidents', 'deliveries', 'attempts') AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL`).Scan(&analysed); err != nil {
		t.Fatal(err)
	}
	if analysed != 3 {
		t.Errorf("%d of the 3 tables vacuumed and analysed", analysed)
	}
}

// spawnAndPreload builds and starts Herald on dbURL, creates the preload target through its
// API and preloads preloadRows; it returns the database, Herald is stopped at cleanup.
func spawnAndPreload(t *testing.T, dir, dbURL string) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := spawnHerald(ctx, spawnOptions{Source: "..", Dir: dir, DatabaseURL: dbURL, LogLevel: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	gql := &gqlClient{url: p.URL + "/query", token: p.Token, http: newClient(1)}
	target, err := createPreloadTarget(ctx, gql, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := preload(ctx, p.DBURL, target, preloadRows, time.Now()); err != nil {
		t.Fatal(err)
	}
	var db *sql.DB
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	} else {
		cfg, perr := pgx.ParseConfig(dbURL)
		if perr != nil {
			t.Fatal(perr)
		}
		db = stdlib.OpenDB(*cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// checkPreloaded checks what preload wrote: the counts and shares of statuses, incident
// numbers below the next one Herald hands out (lastNumber), 25 days of history, ids that sort
// as created_at does, and JSON that decodes into Herald's own types.
func checkPreloaded(t *testing.T, db *sql.DB, lastNumber int64) {
	t.Helper()
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM incidents WHERE status = 'RESOLVED' AND id = 'INC-' || number`:                                                 preloadRows,
		`SELECT count(*) FROM deliveries WHERE status = 'SUCCEEDED'`:                                                                         preloadRows - preloadRows/33,
		`SELECT count(*) FROM deliveries WHERE status = 'FAILED' AND last_error IS NOT NULL`:                                                 preloadRows / 33,
		`SELECT count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id AND d.webhook_id = a.webhook_id AND a.outcome = d.status`: preloadRows,
		`SELECT count(DISTINCT incident_id) FROM deliveries`:                                                                                 preloadRows,
	} {
		if got := count(q); got != want {
			t.Errorf("%s: %d, want %d", q, got, want)
		}
	}
	if max := count(`SELECT max(number) FROM incidents`); int64(max) > lastNumber {
		t.Errorf("highest preloaded incident number %d is above the last handed out, %d: new incidents would collide", max, lastNumber)
	}
	// Ids must sort as the creation times do (the newest-first delivery log).
	byID, byTime := ids(t, db, "SELECT id FROM deliveries ORDER BY id"), ids(t, db, "SELECT id FROM deliveries ORDER BY created_at, id")
	if fmt.Sprint(byID) != fmt.Sprint(byTime) {
		t.Error("delivery ids do not sort as created_at")
	}
	var oldest, newest time.Time
	var snap, req, resp string
	if err := db.QueryRow(`SELECT d.snapshot, a.request, a.response FROM deliveries d JOIN attempts a ON a.delivery_id = d.id ORDER BY d.id LIMIT 1`).Scan(&snap, &req, &resp); err != nil {
		t.Fatal(err)
	}
	var s models.Snapshot
	var rq webhook.RequestLog
	var rs models.ResponseLog
	for _, j := range []struct {
		raw string
		v   any
	}{{snap, &s}, {req, &rq}, {resp, &rs}} {
		if err := json.Unmarshal([]byte(j.raw), j.v); err != nil {
			t.Errorf("%s: %v", j.raw, err)
		}
	}
	if s.Status != "RESOLVED" || s.ResolvedAt == nil || rq.Method != "POST" || !strings.HasPrefix(rq.Body, `{"title"`) || rs.Status != 200 || len(req)+len(resp) < 300 {
		t.Errorf("snapshot %s, request %s, response %s", snap, req, resp)
	}
	for _, q := range []struct {
		sql string
		v   *time.Time
	}{{"SELECT min(created_at) FROM deliveries", &oldest}, {"SELECT max(created_at) FROM deliveries", &newest}} {
		var raw any
		if err := db.QueryRow(q.sql).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		switch v := raw.(type) {
		case time.Time:
			*q.v = v
		case string:
			tt, err := time.Parse("2006-01-02 15:04:05.999999999-07:00", v)
			if err != nil {
				t.Fatal(err)
			}
			*q.v = tt
		default:
			t.Fatalf("%s: %T", q.sql, raw)
		}
	}
	if span := newest.Sub(oldest); span < 24*24*time.Hour || span > 25*24*time.Hour+time.Hour || time.Since(newest) < 0 {
		t.Errorf("history from %s to %s", oldest, newest)
	}
}

func ids(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}
