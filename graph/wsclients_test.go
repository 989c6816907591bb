package graph

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

// wsClientsDir holds the npm clients (graphql-ws, subscriptions-transport-ws) the tests run;
// `npm ci` there installs the versions pinned in its package-lock.json.
const wsClientsDir = "testdata/wsclients"

// requireNodeClients skips the test unless node and the installed npm clients are present.
func requireNodeClients(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the npm websocket client tests")
	}
	if _, err := os.Stat(filepath.Join(wsClientsDir, "node_modules")); err != nil {
		t.Skipf("%s/node_modules is missing: run `npm ci` in graph/%s to test with the npm clients", wsClientsDir, wsClientsDir)
	}
	return node
}

// countingServer serves NewHandler on s, counting websocket upgrade requests.
func countingServer(t *testing.T, s *models.Store) (url string, upgrades *atomic.Int32) {
	t.Helper()
	upgrades = &atomic.Int32{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := NewHandler(&Resolver{Store: s, Logger: logger}, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			upgrades.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), upgrades
}

// nodeClient is a running client.mjs whose stdout lines arrive on lines; done closes once it
// has exited, with its exit error in err.
type nodeClient struct {
	lines chan string
	done  chan struct{}
	err   error
}

// startNodeClient runs client.mjs against url and returns once the process has started; it is
// killed after 30 seconds at the latest.
func startNodeClient(t *testing.T, node, url, token, protocol string, count int) *nodeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, "client.mjs", url, token, protocol, strconv.Itoa(count))
	cmd.Dir = wsClientsDir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	c := &nodeClient{lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
		if t.Failed() {
			t.Logf("%s client stderr:\n%s", protocol, stderr.String())
		}
	})
	return c
}

// TestNPMClientsReceiveDeliveryLog runs the real graphql-ws and subscriptions-transport-ws
// packages against the GraphQL endpoint: both receive attempts as they are stored, and both
// stop at once, with 4403, when the token is refused.
func TestNPMClientsReceiveDeliveryLog(t *testing.T) {
	node := requireNodeClients(t)
	t.Parallel()
	for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			w := setupLogWorld(t, storetest.Open(t, models.DialectSQLite))
			url, upgrades := countingServer(t, w.store)

			c := startNodeClient(t, node, url, w.admin, protocol, 2)
			waitFor(t, func() bool { return w.store.Hub().Len() == 1 })
			want := []string{w.attempt(t, w.hookA), w.attempt(t, w.hookGlobal)}
			var got []string
			for line := range c.lines {
				var a struct {
					ID      string `json:"id"`
					Test    bool   `json:"test"`
					Outcome string `json:"outcome"`
					Webhook struct{ ID, Status string }
				}
				if err := json.Unmarshal([]byte(line), &a); err != nil || a.ID == "" {
					t.Fatalf("unexpected client output %q", line)
				}
				if !a.Test || a.Outcome == "" || a.Webhook.ID == "" || a.Webhook.Status == "" {
					t.Errorf("incomplete attempt %s", line)
				}
				got = append(got, a.ID)
			}
			if <-c.done; c.err != nil {
				t.Fatalf("client exited with %v after %v", c.err, got)
			}
			if !equalSet(got, want...) {
				t.Fatalf("client got %v, want %v", got, want)
			}
			if n := upgrades.Load(); n != 1 {
				t.Errorf("%d websocket connections for one client, want 1", n)
			}

			upgrades.Store(0)
			start := time.Now()
			bad := startNodeClient(t, node, url, "hrd_not-a-token", protocol, 1)
			var out []string
			for line := range bad.lines {
				out = append(out, line)
			}
			<-bad.done
			var exit *exec.ExitError
			if !errors.As(bad.err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("refused client: want exit status 1, got %v (output %v)", bad.err, out)
			}
			if len(out) != 1 || out[0] != `{"closed":4403}` {
				t.Errorf("refused client printed %v, want {\"closed\":4403}", out)
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("refused client took %v to stop", elapsed)
			}
			time.Sleep(200 * time.Millisecond) // a reconnecting client would dial again by now
			if n := upgrades.Load(); n != 1 {
				t.Errorf("refused client opened %d websocket connections, want 1", n)
			}
		})
	}
}
