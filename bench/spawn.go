package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// heraldProc is a Herald process the tool built and started.
type heraldProc struct {
	cmd     *exec.Cmd
	URL     string
	Token   string
	LogPath string
	DBURL   string // HERALD_DATABASE_URL
	exited  chan error
}

// spawnOptions say how to start Herald.
type spawnOptions struct {
	Source      string // module directory to build (go build .)
	Dir         string // scratch directory for the binary, SQLite file and log
	DatabaseURL string // empty: a fresh SQLite file in Dir
	Concurrency int    // HERALD_WORKER_CONCURRENCY, 0 for Herald's default
	LogLevel    string
	ExtraEnv    []string
}

// spawnHerald builds Herald and starts it on a random loopback port with private targets
// allowed, a generated secret key and admin token, then waits (at most a minute) for its
// "listening on http://ADDR" line.
func spawnHerald(ctx context.Context, o spawnOptions) (*heraldProc, error) {
	bin := filepath.Join(o.Dir, "herald")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = o.Source
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	db := o.DatabaseURL
	if db == "" {
		db = "sqlite:" + filepath.Join(o.Dir, "herald.db")
	}
	p := &heraldProc{Token: randomHex(24), LogPath: filepath.Join(o.Dir, "herald.log"), DBURL: db, exited: make(chan error, 1)}
	logFile, err := os.Create(p.LogPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(withoutHerald(os.Environ()),
		"HERALD_ADDR=127.0.0.1:0",
		"HERALD_DATABASE_URL="+db,
		"HERALD_SECRET_KEY="+randomHex(32),
		"HERALD_ADMIN_TOKEN="+p.Token,
		"HERALD_ALLOW_PRIVATE_TARGETS=true",
		"HERALD_LOG_LEVEL="+o.LogLevel,
	)
	if o.Concurrency > 0 {
		p.cmd.Env = append(p.cmd.Env, "HERALD_WORKER_CONCURRENCY="+strconv.Itoa(o.Concurrency))
	}
	p.cmd.Env = append(p.cmd.Env, o.ExtraEnv...)
	p.cmd.Stderr = logFile
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "listening on http://"); ok && !sent {
				addr <- strings.Fields(rest)[0]
				sent = true
			}
		}
	}()
	go func() { p.exited <- p.cmd.Wait(); logFile.Close() }()
	select {
	case a := <-addr:
		p.URL = "http://" + a
		return p, nil
	case err := <-p.exited:
		return nil, fmt.Errorf("herald exited before listening (%v); see %s", err, p.LogPath)
	case <-time.After(time.Minute):
		p.stop()
		return nil, errors.New("herald did not print its listening line within a minute")
	}
}

// stop sends SIGTERM and waits for Herald to drain, killing it after 30 s.
func (p *heraldProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// withoutHerald drops inherited HERALD_* variables so only the tool's settings apply.
func withoutHerald(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HERALD_") {
			out = append(out, kv)
		}
	}
	return out
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
