package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a throwaway PostgreSQL cluster the tool made for one run (-cluster): initdb's
// default settings (autovacuum on), listening on a free loopback port, with its socket in its
// own directory.
type cluster struct {
	Dir    string // temp dir: data/ and the socket
	Port   int
	PID    int    // the postmaster's
	URL    string // the bench database's
	bindir string
	asUser string // "postgres" when the tool runs as root (initdb refuses root), else ""
}

// clusterDatabase is the database created in the cluster for Herald.
const clusterDatabase = "herald_bench"

// postgresBindir finds initdb and pg_ctl: pg_config --bindir when it answers, else
// /usr/lib/postgresql/15/bin, else the PATH.
func postgresBindir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); fileExists(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	if dir := "/usr/lib/postgresql/15/bin"; fileExists(filepath.Join(dir, "initdb")) {
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("-cluster: no initdb found (pg_config --bindir, /usr/lib/postgresql/15/bin, PATH)")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startCluster runs initdb into a fresh temp dir, starts the server on a free 127.0.0.1 port
// and creates clusterDatabase. As root, initdb and pg_ctl run as the OS user postgres
// (runuser -u postgres --) and the dir is handed to that user. On error nothing is left behind.
func startCluster(ctx context.Context, logf func(string, ...any)) (c *cluster, err error) {
	bindir, err := postgresBindir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "herald-bench-pg-")
	if err != nil {
		return nil, err
	}
	c = &cluster{Dir: dir, bindir: bindir}
	defer func() {
		if err != nil {
			c.stop(logf)
		}
	}()
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		u, err := user.Lookup(c.asUser)
		if err != nil {
			return c, fmt.Errorf("-cluster as root needs the OS user postgres: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return c, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.command(ctx, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions").CombinedOutput(); err != nil {
		return c, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if c.Port, err = freePort(); err != nil {
		return c, err
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s", c.Port, dir)
	if out, err := c.command(ctx, "pg_ctl", "start", "-D", data, "-w", "-t", "60", "-l", filepath.Join(dir, "postgres.log"), "-o", opts).CombinedOutput(); err != nil {
		return c, fmt.Errorf("pg_ctl start: %w\n%s(log: %s)", err, out, filepath.Join(dir, "postgres.log"))
	}
	pidLine, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return c, err
	}
	if c.PID, err = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidLine), "\n", 2)[0])); err != nil {
		return c, fmt.Errorf("postmaster.pid: %w", err)
	}
	base := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/", c.Port)
	conn, err := pgx.Connect(ctx, base+"postgres?sslmode=disable")
	if err != nil {
		return c, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+clusterDatabase); err != nil {
		return c, err
	}
	c.URL = base + clusterDatabase + "?sslmode=disable"
	logf("throwaway PostgreSQL cluster in %s on 127.0.0.1:%d (postmaster %d)", dir, c.Port, c.PID)
	return c, nil
}

// command runs bindir/name as c.asUser when set.
func (c *cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	bin := filepath.Join(c.bindir, name)
	if c.asUser == "" {
		return exec.CommandContext(ctx, bin, args...)
	}
	return exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", bin}, args...)...)
}

// stop shuts the server down (pg_ctl stop -m fast) when it was started and removes the dir.
// It runs with a context of its own, so an interrupted run still cleans up.
func (c *cluster) stop(logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := filepath.Join(c.Dir, "data")
	if fileExists(filepath.Join(data, "postmaster.pid")) {
		if out, err := c.command(ctx, "pg_ctl", "stop", "-D", data, "-m", "fast", "-w").CombinedOutput(); err != nil {
			logf("pg_ctl stop: %v: %s", err, out)
		}
	}
	// An interrupt reaches the postmaster too, which then shuts down on its own: wait for it
	// to be gone before its files are.
	for deadline := time.Now().Add(30 * time.Second); c.PID > 0 && syscall.Kill(c.PID, 0) == nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		logf("remove %s: %v", c.Dir, err)
	}
}

// freePort asks the kernel for a free loopback port; the cluster binds it right after.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// postgresLabel names a PostgreSQL database for the report by its kind ("" or "throwaway
// cluster") and the server's autovacuum setting, asked with SHOW autovacuum: e.g.
// "postgres (autovacuum off)", "postgres (throwaway cluster, autovacuum on)".
func postgresLabel(ctx context.Context, url, kind string) string {
	parts := []string{}
	if kind != "" {
		parts = append(parts, kind)
	}
	if conn, err := pgx.Connect(ctx, url); err == nil {
		defer conn.Close(context.Background())
		var v string
		if err := conn.QueryRow(ctx, "SHOW autovacuum").Scan(&v); err == nil {
			parts = append(parts, "autovacuum "+v)
		}
	}
	if len(parts) == 0 {
		return "postgres"
	}
	return "postgres (" + strings.Join(parts, ", ") + ")"
}
