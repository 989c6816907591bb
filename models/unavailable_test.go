package models_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// TestStoreUnavailableWhileDatabaseCut: with the connection to PostgreSQL cut (the pooled
// connections closed, new ones refused), reads and writes fail UNAVAILABLE, with the driver's
// error kept for the log but not in the message; once it is back the same store works again.
func TestStoreUnavailableWhileDatabaseCut(t *testing.T) {
	t.Parallel()
	proxy, via := storetest.NewProxy(t, storetest.URL(t, models.DialectPostgres))
	s := storetest.OpenURL(t, via)
	ctx := context.Background()
	if _, err := s.CreateTeam(ctx, storetest.Name("before")); err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	// The first calls meet the pooled connections the cut closed, the later ones a refused
	// connection: all are UNAVAILABLE.
	for i := range 5 {
		_, err := s.FindIntegrationByToken(ctx, "no-such-token")
		checkUnavailable(t, "find integration", err)
		_, err = s.CreateTeam(ctx, storetest.Name("during"))
		checkUnavailable(t, "create team", err)
		if i == 0 {
			t.Logf("driver error: %v", errors.Unwrap(models.DomainError(err)))
		}
	}
	checkUnavailable(t, "ping", s.Ping(ctx))

	proxy.Restore()
	if _, err := s.FindIntegrationByToken(ctx, "no-such-token"); models.ErrorCode(err) != models.CodeUnauthenticated {
		t.Fatalf("after restore: %v, want UNAUTHENTICATED", err)
	}
	if _, err := s.CreateTeam(ctx, storetest.Name("after")); err != nil {
		t.Fatalf("after restore: %v", err)
	}
}

// TestStoreUnavailableWhenPoolExhausted: a call that waits past its deadline for a pooled
// connection, every one being taken, is UNAVAILABLE; on both databases.
func TestStoreUnavailableWhenPoolExhausted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		sqlDB, err := s.DB().DB()
		if err != nil {
			t.Fatal(err)
		}
		for range sqlDB.Stats().MaxOpenConnections {
			c, err := sqlDB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = s.FindIntegrationByToken(wctx, "no-such-token")
		checkUnavailable(t, "find integration", err)
	})
}

// TestSQLiteBusyIsUnavailable: SQLite's SQLITE_BUSY, which the store meets when the write lock
// is still taken once its busy timeout is over, is UNAVAILABLE. The lock is held here by
// another connection and the writer waits 0 ms instead of the store's 10 s.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec("INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	writer, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	_, err = writer.Exec("INSERT INTO t VALUES (2)")
	checkUnavailable(t, "insert while locked", err)
}

// TestErrorsThatAreNotUnavailability: a mistaken statement, a caller who went away and a
// domain error keep their meaning; on both databases.
func TestErrorsThatAreNotUnavailability(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		if err := s.DB().WithContext(ctx).Exec("SELEC 1").Error; err == nil || models.ErrorCode(err) != models.CodeInternal {
			t.Errorf("syntax error: %v is %s, want INTERNAL", err, models.ErrorCode(err))
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.FindIntegrationByToken(cctx, "no-such-token"); models.ErrorCode(err) != models.CodeInternal {
			t.Errorf("cancelled: %v is %s, want INTERNAL", err, models.ErrorCode(err))
		}
		if _, err := s.FindIntegrationByToken(ctx, "no-such-token"); models.ErrorCode(err) != models.CodeUnauthenticated {
			t.Errorf("unknown token: %v, want UNAUTHENTICATED", err)
		}
	})
}

func checkUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	de := models.DomainError(err)
	if de == nil || de.Code != models.CodeUnavailable {
		t.Fatalf("%s: %v, want UNAVAILABLE", what, err)
	}
	if strings.Contains(de.Error(), err.Error()) || errors.Unwrap(de) == nil {
		t.Errorf("%s: message %q shows the driver's error, or does not keep it", what, de.Error())
	}
}
