package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
)

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	if c.Addr != ":8080" || c.DatabaseURL != "sqlite:herald.db" || c.Role != roleAll || c.WorkerConcurrency != 64 ||
		c.RetryUnit != time.Minute || c.LogRetention != 720*time.Hour || c.BaseURL != "http://localhost:8080" ||
		c.Language != "en" || c.AllowPrivateTargets || c.LogFormat != "text" || c.IngestRate != 50 || c.IngestBurst != 100 ||
		c.WebsocketMaxPerToken != 100 || c.WebsocketMaxConnections != 10000 {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestLoadConfigRefusesBadValues(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env  map[string]string
		name string
	}{
		"addr":               {map[string]string{"HERALD_ADDR": "8080"}, "HERALD_ADDR"},
		"addr port":          {map[string]string{"HERALD_ADDR": ":99999"}, "HERALD_ADDR"},
		"database":           {map[string]string{"HERALD_DATABASE_URL": "mysql://x"}, "HERALD_DATABASE_URL"},
		"postgres needs key": {map[string]string{"HERALD_DATABASE_URL": "postgres://u@h/db"}, "HERALD_SECRET_KEY"},
		"short admin token":  {map[string]string{"HERALD_ADMIN_TOKEN": "short"}, "HERALD_ADMIN_TOKEN"},
		"secret key":         {map[string]string{"HERALD_SECRET_KEY": "not-a-key"}, "HERALD_SECRET_KEY"},
		"base url":           {map[string]string{"HERALD_BASE_URL": "herald.example.com"}, "HERALD_BASE_URL"},
		"role":               {map[string]string{"HERALD_ROLE": "both"}, "HERALD_ROLE"},
		"concurrency":        {map[string]string{"HERALD_WORKER_CONCURRENCY": "0"}, "HERALD_WORKER_CONCURRENCY"},
		"concurrency text":   {map[string]string{"HERALD_WORKER_CONCURRENCY": "many"}, "HERALD_WORKER_CONCURRENCY"},
		"private targets":    {map[string]string{"HERALD_ALLOW_PRIVATE_TARGETS": "sure"}, "HERALD_ALLOW_PRIVATE_TARGETS"},
		"ingest rate":        {map[string]string{"HERALD_INGEST_RATE": "0"}, "HERALD_INGEST_RATE"},
		"ingest rate text":   {map[string]string{"HERALD_INGEST_RATE": "NaN"}, "HERALD_INGEST_RATE"},
		"ingest burst":       {map[string]string{"HERALD_INGEST_BURST": "2.5"}, "HERALD_INGEST_BURST"},
		"ws per token":       {map[string]string{"HERALD_WS_MAX_PER_TOKEN": "0"}, "HERALD_WS_MAX_PER_TOKEN"},
		"ws connections":     {map[string]string{"HERALD_WS_MAX_CONNECTIONS": "many"}, "HERALD_WS_MAX_CONNECTIONS"},
		"smtp url":           {map[string]string{"HERALD_SMTP_URL": "http://mail", "HERALD_SMTP_FROM": "a@b.c"}, "HERALD_SMTP_URL"},
		"smtp from missing":  {map[string]string{"HERALD_SMTP_URL": "smtp://mail:25"}, "HERALD_SMTP_FROM"},
		"smtp from":          {map[string]string{"HERALD_SMTP_FROM": "nobody"}, "HERALD_SMTP_FROM"},
		"language":           {map[string]string{"HERALD_LANGUAGE": "klingon"}, "HERALD_LANGUAGE"},
		"retry unit":         {map[string]string{"HERALD_RETRY_UNIT": "-1s"}, "HERALD_RETRY_UNIT"},
		"retention":          {map[string]string{"HERALD_LOG_RETENTION": "forever"}, "HERALD_LOG_RETENTION"},
		"origins wildcard":   {map[string]string{"HERALD_ALLOWED_ORIGINS": "*"}, "HERALD_ALLOWED_ORIGINS"},
		"origins path":       {map[string]string{"HERALD_ALLOWED_ORIGINS": "https://a.example/x"}, "HERALD_ALLOWED_ORIGINS"},
		"log level":          {map[string]string{"HERALD_LOG_LEVEL": "loud"}, "HERALD_LOG_LEVEL"},
		"log format":         {map[string]string{"HERALD_LOG_FORMAT": "xml"}, "HERALD_LOG_FORMAT"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.name+":") {
				t.Fatalf("want an error naming %s, got %v", tc.name, err)
			}
		})
	}
}

// TestLoadConfigRefusesHalfSMTP: HERALD_SMTP_URL and HERALD_SMTP_FROM go together; either one
// alone would send no e-mail, so it is refused, naming both.
func TestLoadConfigRefusesHalfSMTP(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"HERALD_SMTP_URL": "smtp://mail:25"},
		{"HERALD_SMTP_FROM": "herald@example.com"},
	} {
		_, err := loadConfig(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), "HERALD_SMTP_URL") || !strings.Contains(err.Error(), "HERALD_SMTP_FROM") {
			t.Errorf("%v: want an error naming HERALD_SMTP_URL and HERALD_SMTP_FROM, got %v", env, err)
		}
	}
}

func TestLoadConfigAcceptsGoodValues(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HERALD_ADDR": "127.0.0.1:0", "HERALD_DATABASE_URL": "postgres://postgres@127.0.0.1/herald",
		"HERALD_SECRET_KEY": storetest.Key, "HERALD_ROLE": "worker", "HERALD_WORKER_CONCURRENCY": "8",
		"HERALD_ALLOW_PRIVATE_TARGETS": "true", "HERALD_SMTP_URL": "smtp://u:p@mail:587", "HERALD_SMTP_FROM": "herald@example.com",
		"HERALD_LANGUAGE": "de", "HERALD_RETRY_UNIT": "50ms", "HERALD_ALLOWED_ORIGINS": "https://ops.example.com, http://localhost:3000",
		"HERALD_LOG_LEVEL": "debug", "HERALD_LOG_FORMAT": "json", "HERALD_INGEST_RATE": "2.5", "HERALD_INGEST_BURST": "7",
		"HERALD_WS_MAX_PER_TOKEN": "3", "HERALD_WS_MAX_CONNECTIONS": "9",
	}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerConcurrency != 8 || !c.AllowPrivateTargets || c.RetryUnit != 50*time.Millisecond ||
		len(c.AllowedOrigins) != 2 || c.AllowedOrigins[1] != "http://localhost:3000" || c.IngestRate != 2.5 || c.IngestBurst != 7 ||
		c.WebsocketMaxPerToken != 3 || c.WebsocketMaxConnections != 9 {
		t.Errorf("unexpected config: %+v", c)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// heraldBinary builds the real program once per test run.
func heraldBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "herald")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build herald: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// process is a running Herald binary.
type process struct {
	cmd    *exec.Cmd
	base   string
	token  string
	stderr *bytes.Buffer
}

// startHerald runs the binary with the environment and waits until it says where it listens.
func startHerald(t *testing.T, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(heraldBinary(t))
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "HERALD_ADDR=127.0.0.1:0"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	listen := regexp.MustCompile(`listening on (http://\S+)`)
	tokenRe := regexp.MustCompile(`admin token \(shown once, keep it\): (\S+)`)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for p.base == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("herald exited before listening; stderr:\n%s", p.stderr)
			}
			if m := tokenRe.FindStringSubmatch(line); m != nil {
				p.token = m[1]
			}
			if m := listen.FindStringSubmatch(line); m != nil {
				p.base = m[1]
			}
		case <-deadline:
			t.Fatalf("herald did not say where it listens; stderr:\n%s", p.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// gql posts one GraphQL operation and decodes the answer.
func (p *process) gql(t *testing.T, token, query string, vars map[string]any) (data map[string]any, errs []map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, p.base+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer is not JSON (%d): %s", resp.StatusCode, raw)
	}
	return out.Data, out.Errors
}

func errorCode(errs []map[string]any) string {
	if len(errs) == 0 {
		return ""
	}
	ext, _ := errs[0]["extensions"].(map[string]any)
	code, _ := ext["code"].(string)
	return code
}

func TestBinaryServesAPIAndDrains(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"HERALD_DATABASE_URL": storetest.URL(t, dialect)}
			if dialect == models.DialectPostgres {
				env["HERALD_SECRET_KEY"] = storetest.Key
			}
			p := startHerald(t, env)
			if p.token == "" {
				t.Fatal("no admin token printed on first start")
			}
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				resp, err := http.Get(p.base + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: %d", path, resp.StatusCode)
				}
			}
			if _, errs := p.gql(t, "", `{ me { id } }`, nil); errorCode(errs) != models.CodeUnauthenticated {
				t.Errorf("no token: want UNAUTHENTICATED, got %v", errs)
			}
			if _, errs := p.gql(t, "hrd_wrong", `{ me { id } }`, nil); errorCode(errs) != models.CodeUnauthenticated {
				t.Errorf("wrong token: want UNAUTHENTICATED, got %v", errs)
			}
			data, errs := p.gql(t, p.token, `{ me { name role } }`, nil)
			if len(errs) > 0 {
				t.Fatalf("me: %v", errs)
			}
			if me := data["me"].(map[string]any); me["role"] != "GLOBAL_ADMIN" {
				t.Errorf("bootstrap user is %v", me)
			}
			data, errs = p.gql(t, p.token, `mutation { createTeam(name: "Payments") { id name } }`, nil)
			if len(errs) > 0 {
				t.Fatalf("createTeam: %v", errs)
			}
			teamID := data["createTeam"].(map[string]any)["id"].(string)
			data, errs = p.gql(t, p.token, `mutation($t: ID!) { createService(teamId: $t, name: "checkout") { id team { name } } }`, map[string]any{"t": teamID})
			if len(errs) > 0 {
				t.Fatalf("createService: %v", errs)
			}
			if got := data["createService"].(map[string]any)["team"].(map[string]any)["name"]; got != "Payments" {
				t.Errorf("service team = %v", got)
			}
			if dialect == models.DialectSQLite {
				dbPath := strings.TrimPrefix(env["HERALD_DATABASE_URL"], "sqlite:")
				fi, err := os.Stat(dbPath + ".key")
				if err != nil {
					t.Fatalf("key file: %v", err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
				}
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := p.cmd.Wait(); err != nil {
				t.Fatalf("after SIGTERM: %v; stderr:\n%s", err, p.stderr)
			}
			if strings.Contains(p.stderr.String(), p.token) {
				t.Error("the admin token appears in the logs")
			}
		})
	}
}

// TestBinaryBoundsBodyReads: a client that sends a request's headers and then withholds the
// body is cut off after bodyTimeout instead of holding the connection; an honest request on
// the same server is unaffected.
func TestBinaryBoundsBodyReads(t *testing.T) {
	t.Parallel()
	p := startHerald(t, map[string]string{"HERALD_DATABASE_URL": storetest.URL(t, models.DialectSQLite)})
	addr := strings.TrimPrefix(p.base, "http://")
	for _, path := range []string{"/query", "/v1/process"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{\"", path, addr, p.token)
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(bodyTimeout + 10*time.Second))
			_, err = io.ReadAll(conn)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the connection was still open %s after the headers", time.Since(start).Round(time.Second))
			}
			if waited := time.Since(start); waited < bodyTimeout-time.Second {
				t.Errorf("answered after %s, before the body could have timed out", waited)
			}
		})
	}
	if _, errs := p.gql(t, p.token, `{ me { name } }`, nil); len(errs) > 0 {
		t.Errorf("an honest request: %v", errs)
	}
}

func TestBinaryRefusesBadConfig(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(heraldBinary(t))
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"HERALD_ROLE=both", "HERALD_RETRY_UNIT=soon"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("want a non-zero exit, got %v", err)
	}
	for _, name := range []string{"HERALD_ROLE", "HERALD_RETRY_UNIT"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("message does not name %s:\n%s", name, out)
		}
	}
}

// TestLoadConfigHidesDatabasePassword: a HERALD_DATABASE_URL that is not a URL is refused
// without echoing it, since it may hold a password.
func TestLoadConfigHidesDatabasePassword(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"postgres://herald:hunter2@db:abc/herald", "postgres://herald:hunter2@db/herald%zz"} {
		env := map[string]string{"HERALD_DATABASE_URL": raw, "HERALD_SECRET_KEY": storetest.Key}
		_, err := loadConfig(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), "HERALD_DATABASE_URL:") {
			t.Fatalf("%s: want an error naming HERALD_DATABASE_URL, got %v", raw, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the message shows the password: %v", err)
		}
	}
}

// TestBinaryNamesTheVariableOnOpenFailure: a database or key file that cannot be opened stops
// Herald with exit status 1 and a message naming the variable at fault, never showing the
// database password.
func TestBinaryNamesTheVariableOnOpenFailure(t *testing.T) {
	t.Parallel()
	garbageKey := filepath.Join(t.TempDir(), "herald.db")
	if err := os.WriteFile(garbageKey+".key", []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		env      map[string]string
		postgres bool
		name     string
	}{
		"sqlite directory missing": {
			env:  map[string]string{"HERALD_DATABASE_URL": "sqlite:/nonexistent/dir/x.db"},
			name: "HERALD_DATABASE_URL",
		},
		"sqlite directory missing, key set": {
			env:  map[string]string{"HERALD_DATABASE_URL": "sqlite:/nonexistent/dir/x.db", "HERALD_SECRET_KEY": storetest.Key},
			name: "HERALD_DATABASE_URL",
		},
		"sqlite key file unreadable": {
			env:  map[string]string{"HERALD_DATABASE_URL": "sqlite:" + garbageKey},
			name: "HERALD_SECRET_KEY",
		},
		"postgres bad port": {
			env:  map[string]string{"HERALD_DATABASE_URL": "postgres://postgres:hunter2@127.0.0.1:abc/herald", "HERALD_SECRET_KEY": storetest.Key},
			name: "HERALD_DATABASE_URL",
		},
		"postgres bad sslmode": {
			env:  map[string]string{"HERALD_DATABASE_URL": "postgres://postgres:hunter2@127.0.0.1/herald?sslmode=bogus", "HERALD_SECRET_KEY": storetest.Key},
			name: "HERALD_DATABASE_URL",
		},
		"postgres database missing": {
			postgres: true,
			name:     "HERALD_DATABASE_URL",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := tc.env
			if tc.postgres {
				// A database of the test's own, dropped at once: the server is there, the
				// database is not.
				dbURL := storetest.URL(t, models.DialectPostgres)
				storetest.DropDatabase(t, dbURL)
				u, err := url.Parse(dbURL)
				if err != nil {
					t.Fatal(err)
				}
				u.User = url.UserPassword(u.User.Username(), "hunter2")
				env = map[string]string{"HERALD_DATABASE_URL": u.String(), "HERALD_SECRET_KEY": storetest.Key}
			}
			cmd := exec.Command(heraldBinary(t))
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"HERALD_ADDR=127.0.0.1:0"}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("want exit status 1, got %v:\n%s", err, out)
			}
			if !strings.Contains(string(out), "herald: "+tc.name+":") {
				t.Errorf("message does not start with %s:\n%s", tc.name, out)
			}
			if strings.Contains(string(out), "hunter2") {
				t.Errorf("message shows the password:\n%s", out)
			}
		})
	}
}

// TestNewLoggerWritesReadableDurations: a duration is written as Go writes it ("25s") in both
// formats, not as a count of nanoseconds, also inside a group.
func TestNewLoggerWritesReadableDurations(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		format string
		want   []string
	}{
		"text": {"text", []string{"grace=25s", "attempt.duration=1.5ms"}},
		"json": {"json", []string{`"grace":"25s"`, `"attempt":{"duration":"1.5ms"}`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger := newLogger(config{LogLevel: slog.LevelInfo, LogFormat: tc.format}, &buf)
			logger.Info("draining", "grace", 25*time.Second, slog.Group("attempt", "duration", 1500*time.Microsecond))
			for _, want := range tc.want {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("want %s in %s", want, buf.String())
				}
			}
		})
	}
}
