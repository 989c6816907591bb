package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/procfs"
)

// TestCluster starts a throwaway cluster (a few seconds), checks that it runs with autovacuum
// on, that the report's PostgreSQL CPU is that cluster's (a query burning CPU in it shows),
// and that stop leaves neither the server nor its directory behind.
func TestCluster(t *testing.T) {
	if _, err := postgresBindir(); err != nil {
		t.Skipf("no PostgreSQL binaries here: %v", err)
	}
	if os.Geteuid() == 0 {
		if _, err := os.Stat("/usr/sbin/runuser"); err != nil {
			t.Skip("running as root without runuser: initdb cannot run")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := startCluster(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			c.stop(t.Logf)
		}
	})
	if !strings.HasPrefix(c.URL, "postgres://postgres@127.0.0.1:") {
		t.Errorf("URL %s is not on 127.0.0.1", c.URL)
	}
	if got := postgresLabel(ctx, c.URL, "throwaway cluster"); got != "postgres (throwaway cluster, autovacuum on)" {
		t.Errorf("label %q", got)
	}

	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	mid, err := readCPU(fs, 0, c.PID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM generate_series(1, 1000000) g WHERE md5(g::text) LIKE 'a%'"); err != nil {
		t.Fatal(err)
	}
	end, err := readCPU(fs, 0, c.PID)
	if err != nil {
		t.Fatal(err)
	}
	if got := end.Postgres - mid.Postgres; got < 200*time.Millisecond {
		t.Errorf("the cluster's CPU grew %s over a query that takes most of a second of it", got)
	}
	conn.Close(ctx)

	c.stop(t.Logf)
	stopped = true
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after stop (%v)", c.Dir, err)
	}
	if syscall.Kill(c.PID, 0) == nil {
		t.Errorf("postmaster %d still runs after stop", c.PID)
	}
}

// TestClusterFlags checks that -cluster and -database exclude each other and that -cluster
// and -preload need -spawn.
func TestClusterFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-spawn", "-cluster", "-database", "postgres://postgres@127.0.0.1:5432/x"},
		{"-cluster", "-token", "x"},
		{"-preload", "10", "-token", "x"},
		{"-spawn", "-preload", "-1"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	o, err := parseFlags([]string{"-spawn", "-cluster", "-preload", "1000"})
	if err != nil || !o.Cluster || o.Preload != 1000 {
		t.Errorf("-spawn -cluster -preload 1000: %+v, %v", o, err)
	}
}
