// Command herald is a self-hosted outgoing-webhook service for incident management: it tells
// the rest of a team's stack, reliably and verifiably, the moment an incident changes.
//
// This package owns the configuration (loadConfig: every setting read from the environment
// and validated at start), the wiring of the store, the worker, the GraphQL API, the REST
// ingest and the pages, and the process's lifecycle (signals, the HTTP server, draining). It
// must not hold business rules, and no other package reads the environment.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-hq/herald/graph"
	"github.com/herald-hq/herald/graph/gorillaws"
	"github.com/herald-hq/herald/graph/ingest"
	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/web"
	"github.com/herald-hq/herald/worker"
	"github.com/herald-hq/herald/worker/egress"
)

// Roles a Herald process can take.
const (
	roleAll    = "all"
	roleAPI    = "api"
	roleWorker = "worker"
)

// drainGrace is how long a stopping process waits for its attempts in flight, and
// shutdownGrace how long it then waits for the HTTP requests in progress: 30 s in all, an
// orchestrator's usual notice.
const (
	drainGrace    = 25 * time.Second
	shutdownGrace = 5 * time.Second
)

// bodyTimeout bounds reading a request's body (see withBodyDeadline).
const bodyTimeout = 10 * time.Second

// databasePingInterval is how often a process pings its database for herald_database_up, and
// databasePingTimeout how long a ping may take before the database counts as down.
const (
	databasePingInterval = 2 * time.Second
	databasePingTimeout  = 2 * time.Second
)

// config is Herald's configuration, read from the environment once at start (SPEC §2).
type config struct {
	Addr                string
	DatabaseURL         string
	AdminToken          string
	SecretKey           string
	BaseURL             string
	Role                string
	WorkerConcurrency   int
	AllowPrivateTargets bool
	SMTPURL             string
	SMTPFrom            string
	Language            string
	RetryUnit           time.Duration
	LogRetention        time.Duration
	AllowedOrigins      []string
	LogLevel            slog.Level
	LogFormat           string

	// IngestRate and IngestBurst bound the incoming API requests of one integration.
	IngestRate  float64
	IngestBurst int
	// WebsocketMaxPerToken and WebsocketMaxConnections bound the websocket connections open at
	// once with one API token and in the whole process.
	WebsocketMaxPerToken    int
	WebsocketMaxConnections int
}

// loadConfig reads and validates every variable; the error names the variable at fault.
func loadConfig(getenv func(string) string) (config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := config{
		Addr:        get("HERALD_ADDR", ":8080"),
		DatabaseURL: get("HERALD_DATABASE_URL", "sqlite:herald.db"),
		AdminToken:  get("HERALD_ADMIN_TOKEN", ""),
		SecretKey:   get("HERALD_SECRET_KEY", ""),
		BaseURL:     strings.TrimRight(get("HERALD_BASE_URL", "http://localhost:8080"), "/"),
		Role:        get("HERALD_ROLE", roleAll),
		SMTPURL:     get("HERALD_SMTP_URL", ""),
		SMTPFrom:    get("HERALD_SMTP_FROM", ""),
		Language:    get("HERALD_LANGUAGE", "en"),
		LogFormat:   get("HERALD_LOG_FORMAT", "text"),
	}
	var errs configErrors
	errs.checkServer(c)
	errs.readLimits(&c, get)
	errs.checkSMTP(c)
	errs.readRest(&c, getenv, get)
	return c, errors.Join(errs...)
}

// configErrors collects loadConfig's faults in the order the variables are checked.
type configErrors []error

// bad adds a fault of the variable name.
func (errs *configErrors) bad(name, format string, args ...any) {
	*errs = append(*errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// checkServer checks the address, the database URL with its secret key, the admin token, the
// base URL and the role.
func (errs *configErrors) checkServer(c config) {
	bad := errs.bad
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("HERALD_ADDR", "%q is not host:port", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("HERALD_ADDR", "port %q is not a number from 0 to 65535", port)
	}
	// The store's own reading of the URL, so that the two cannot disagree.
	if dialect, err := models.DatabaseDialect(c.DatabaseURL); err != nil {
		*errs = append(*errs, err)
	} else if dialect == models.DialectPostgres && c.SecretKey == "" {
		bad("HERALD_SECRET_KEY", "required with PostgreSQL (32 bytes, hex or base64)")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		bad("HERALD_ADMIN_TOKEN", "must be at least 16 characters")
	}
	if c.SecretKey != "" {
		if _, err := models.ParseKey(c.SecretKey); err != nil {
			bad("HERALD_SECRET_KEY", "%v", err)
		}
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("HERALD_BASE_URL", "%q is not an absolute http(s) URL", c.BaseURL)
	}
	if c.Role != roleAll && c.Role != roleAPI && c.Role != roleWorker {
		bad("HERALD_ROLE", "%q is not all, api or worker", c.Role)
	}
}

// readLimits reads the worker's concurrency, whether private targets are allowed, and the
// ingest and websocket limits.
func (errs *configErrors) readLimits(c *config, get func(name, def string) string) {
	bad := errs.bad
	c.WorkerConcurrency = 64
	if v := get("HERALD_WORKER_CONCURRENCY", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 4096 {
			bad("HERALD_WORKER_CONCURRENCY", "%q is not a whole number from 1 to 4096", v)
		}
		c.WorkerConcurrency = n
	}
	if v := get("HERALD_ALLOW_PRIVATE_TARGETS", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("HERALD_ALLOW_PRIVATE_TARGETS", "%q is not true or false", v)
		}
		c.AllowPrivateTargets = b
	}
	c.IngestRate = ingest.DefaultRate
	if v := get("HERALD_INGEST_RATE", ""); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1e6) {
			bad("HERALD_INGEST_RATE", "%q is not a number of requests a second above 0 and at most 1000000", v)
		}
		c.IngestRate = f
	}
	c.IngestBurst = ingest.DefaultBurst
	if v := get("HERALD_INGEST_BURST", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1e6 {
			bad("HERALD_INGEST_BURST", "%q is not a whole number from 1 to 1000000", v)
		}
		c.IngestBurst = n
	}
	c.WebsocketMaxPerToken = graph.DefaultWebsocketMaxPerToken
	if v := get("HERALD_WS_MAX_PER_TOKEN", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1e6 {
			bad("HERALD_WS_MAX_PER_TOKEN", "%q is not a whole number from 1 to 1000000", v)
		}
		c.WebsocketMaxPerToken = n
	}
	c.WebsocketMaxConnections = graph.DefaultWebsocketMaxConnections
	if v := get("HERALD_WS_MAX_CONNECTIONS", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1e7 {
			bad("HERALD_WS_MAX_CONNECTIONS", "%q is not a whole number from 1 to 10000000", v)
		}
		c.WebsocketMaxConnections = n
	}
}

// checkSMTP checks the failure e-mails' server URL and sender, which go together.
func (errs *configErrors) checkSMTP(c config) {
	bad := errs.bad
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			bad("HERALD_SMTP_URL", "not an smtp://user:pass@host:port URL")
		}
		if c.SMTPFrom == "" {
			bad("HERALD_SMTP_FROM", "required with HERALD_SMTP_URL")
		}
	}
	if c.SMTPFrom != "" {
		if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
			bad("HERALD_SMTP_FROM", "%q is not an e-mail address", c.SMTPFrom)
		}
		if c.SMTPURL == "" {
			bad("HERALD_SMTP_FROM", "set without HERALD_SMTP_URL (set both to send failure e-mails, or neither)")
		}
	}
}

// readRest reads the language, the retry unit and log retention, the allowed origins and the
// log's level and format.
func (errs *configErrors) readRest(c *config, getenv func(string) string, get func(name, def string) string) {
	bad := errs.bad
	if !payload.ValidLanguage(c.Language) {
		bad("HERALD_LANGUAGE", "%q is not one of %s", c.Language, strings.Join(payload.Languages(), ", "))
	}
	c.RetryUnit = parseDuration(get("HERALD_RETRY_UNIT", "1m"), "HERALD_RETRY_UNIT", bad)
	c.LogRetention = parseDuration(get("HERALD_LOG_RETENTION", "720h"), "HERALD_LOG_RETENTION", bad)
	if v := get("HERALD_ALLOWED_ORIGINS", ""); v != "" {
		for _, o := range strings.Split(v, ",") {
			c.AllowedOrigins = append(c.AllowedOrigins, strings.TrimSpace(o))
		}
		if err := gorillaws.ValidateOrigins(c.AllowedOrigins); err != nil {
			bad("HERALD_ALLOWED_ORIGINS", "%v (write origins like https://ops.example.com, no wildcards)", err)
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("HERALD_LOG_LEVEL", "info"))); err != nil {
		bad("HERALD_LOG_LEVEL", "%q is not debug, info, warn or error", getenv("HERALD_LOG_LEVEL"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("HERALD_LOG_FORMAT", "%q is not text or json", c.LogFormat)
	}
}

func parseDuration(v, name string, bad func(string, string, ...any)) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		bad(name, "%q is not a positive duration such as 1m or 720h", v)
	}
	return d
}

// newLogger builds the process's logger. Durations are written as Go writes them ("25s",
// "1.5ms") in both formats: the JSON handler would otherwise write a count of nanoseconds.
func newLogger(c config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel, ReplaceAttr: readableDuration}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// readableDuration is a slog ReplaceAttr that writes a duration as its String().
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

// run starts Herald and blocks until ctx is cancelled and the process has drained.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The worker's metrics come before the store, which counts its cancellations into them.
	metrics, err := worker.NewMetrics(reg)
	if err != nil {
		return err
	}
	store, err := models.Open(ctx, models.Options{
		DatabaseURL: cfg.DatabaseURL,
		SecretKey:   cfg.SecretKey,
		BaseURL:     cfg.BaseURL,
		Language:    cfg.Language,
		Logger:      logger,
		OnCancelled: metrics.CountCancelled,

		CheckTargetHost: targetHostCheck(cfg.AllowPrivateTargets),
	})
	if err != nil {
		return err
	}
	defer store.Close()

	if cfg.Role != roleWorker {
		token, err := store.EnsureAdmin(ctx, cfg.AdminToken)
		if err != nil {
			return err
		}
		if token != "" {
			fmt.Fprintf(stdout, "admin token (shown once, keep it): %s\n", token)
		}
	}

	listenCtx, stopListen := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListen()
	go store.Listen(listenCtx)

	wrk, sender, err := newSender(cfg, store, metrics, logger)
	if err != nil {
		return err
	}
	dbUp := registerStoreGauges(reg, store)
	go watchDatabase(listenCtx, store, dbUp, logger)

	// draining is set at SIGTERM: /readyz then answers 503 while /healthz and the rest go on
	// answering until the worker has drained.
	var draining atomic.Bool
	mux := newMux(store, reg, dbUp, &draining, logger)
	var gql *graph.Handler
	if cfg.Role != roleWorker {
		gql = mountAPI(mux, cfg, store, sender, reg, logger)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("HERALD_ADDR: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "herald listening on http://%s (role %s, database %s)\n", ln.Addr(), cfg.Role, store.Dialect())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	workerDone := make(chan error, 1)
	if cfg.Role != roleAPI {
		go func() { workerDone <- wrk.Run(ctx) }()
	} else {
		workerDone <- nil
	}
	return drain(ctx, serveErr, workerDone, srv, gql, &draining, logger)
}

// newSender builds what sends webhooks in this process: the worker, and its Sender for the
// API's test sends; a process that serves only the API builds no worker, only a Sender.
func newSender(cfg config, store *models.Store, metrics *worker.Metrics, logger *slog.Logger) (*worker.Worker, *worker.Sender, error) {
	wcfg := worker.Config{
		Store:               store,
		Logger:              logger.With("component", "worker"),
		Concurrency:         cfg.WorkerConcurrency,
		RetryUnit:           cfg.RetryUnit,
		LogRetention:        cfg.LogRetention,
		AllowPrivateTargets: cfg.AllowPrivateTargets,
		SMTPURL:             cfg.SMTPURL,
		SMTPFrom:            cfg.SMTPFrom,
		BaseURL:             cfg.BaseURL,
		Metrics:             metrics,
		Grace:               drainGrace,
	}
	if cfg.Role == roleAPI {
		sender, err := worker.NewSender(wcfg)
		return nil, sender, err
	}
	wrk, err := worker.New(wcfg)
	if err != nil {
		return nil, nil, err
	}
	return wrk, wrk.Sender, nil
}

// targetHostCheck is the store's check of the hosts of webhook URLs being saved: the egress
// guard's, unless private targets are allowed.
func targetHostCheck(allowPrivate bool) func(host string) error {
	if allowPrivate {
		return nil
	}
	return egress.CheckTargetHost
}

// registerStoreGauges registers herald_live_subscriptions and herald_database_up on reg and
// returns the latter, at 1.
func registerStoreGauges(reg prometheus.Registerer, store *models.Store) prometheus.Gauge {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_live_subscriptions",
		Help: "deliveryLog subscriptions open on this process.",
	}, func() float64 { return float64(store.Hub().Len()) }))
	dbUp := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_database_up",
		Help: "1 while the database answers this process's pings (every 2 s, and each /readyz), 0 while it does not.",
	})
	dbUp.Set(1) // Open has just reached it
	reg.MustRegister(dbUp)
	return dbUp
}

// newMux returns the process's mux with its probes and metrics: /healthz, /readyz (503 once
// draining is set or while the database does not answer, which dbUp follows) and /metrics.
func newMux(store *models.Store, reg *prometheus.Registry, dbUp prometheus.Gauge, draining *atomic.Bool, logger *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		pctx, cancel := context.WithTimeout(r.Context(), databasePingTimeout)
		defer cancel()
		if err := store.Ping(pctx); err != nil {
			if r.Context().Err() == nil {
				dbUp.Set(0)
			}
			logger.WarnContext(r.Context(), "database not reachable", "err", err)
			http.Error(w, "database not reachable", http.StatusServiceUnavailable)
			return
		}
		dbUp.Set(1)
		_, _ = io.WriteString(w, "ready\n")
	})
	// A metric that cannot be read (the queue gauges while the database is down) is left out;
	// the rest of the scrape still answers, which is when it is needed most.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(logger.With("component", "metrics").Handler(), slog.LevelWarn),
	}))
	return mux
}

// mountAPI adds the API to mux: GraphQL at /query, the REST ingest and the web pages. It
// returns the GraphQL handler, whose subscribers are told to go away at shutdown.
func mountAPI(mux *http.ServeMux, cfg config, store *models.Store, sender *worker.Sender, reg prometheus.Registerer, logger *slog.Logger) *graph.Handler {
	res := &graph.Resolver{
		Store: store, Sender: sender, Logger: logger.With("component", "graphql"),
		WebsocketMaxPerToken: cfg.WebsocketMaxPerToken, WebsocketMaxConnections: cfg.WebsocketMaxConnections,
	}
	gql := graph.NewHandler(res, cfg.AllowedOrigins)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_websocket_connections",
		Help: "GraphQL websocket connections open on this process.",
	}, func() float64 { return float64(gql.WebsocketConnections()) }))
	mux.Handle("/query", withBodyDeadline(gql))
	rest := ingest.NewHandler(store, res.Logger, cfg.IngestRate, cfg.IngestBurst)
	mux.Handle(ingest.ProcessPath, withBodyDeadline(rest))
	mux.Handle(ingest.RequestPath, withBodyDeadline(rest))
	pages := web.Handler()
	mux.Handle("GET /{$}", pages) // GraphiQL
	mux.Handle("GET /dashboard", pages)
	mux.Handle("GET /incidents/{id}", pages) // {{incident.url}}
	mux.Handle("GET /static/", pages)
	return gql
}

// drain waits until ctx is done (or the server fails), then stops the process: the worker
// drains first, then the server shuts down. gql is nil in a worker-only process.
func drain(ctx context.Context, serveErr, workerDone <-chan error, srv *http.Server, gql *graph.Handler, draining *atomic.Bool, logger *slog.Logger) error {
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// The worker drains first, with the server still answering: the probes say "up, not
	// ready", and an alert posted meanwhile is still accepted (its deliveries wait, committed,
	// for the next worker) rather than refused.
	draining.Store(true)
	logger.Info("draining", "grace", drainGrace)
	if err := <-workerDone; err != nil {
		logger.Warn("worker stopped", "err", err)
	}
	// Subscribers are told to reconnect elsewhere; Shutdown leaves upgraded connections alone.
	if gql != nil {
		gql.GoingAway()
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// watchDatabase pings the database every databasePingInterval until ctx is done, keeping up at
// 1 while it answers and 0 while it does not, and logs each change.
func watchDatabase(ctx context.Context, store *models.Store, up prometheus.Gauge, logger *slog.Logger) {
	ticker := time.NewTicker(databasePingInterval)
	defer ticker.Stop()
	wasUp := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		pctx, cancel := context.WithTimeout(ctx, databasePingTimeout)
		err := store.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		isUp := err == nil
		if isUp {
			up.Set(1)
		} else {
			up.Set(0)
		}
		switch {
		case wasUp && !isUp:
			logger.Warn("database not reachable", "err", err)
		case !wasUp && isUp:
			logger.Info("database reachable again")
		}
		wasUp = isUp
	}
}

// withBodyDeadline gives a request with a body bodyTimeout to deliver it: a client that sends
// its headers and then trickles or withholds the body would otherwise keep a connection and a
// goroutine for as long as it likes. GET (websocket upgrades included) is left alone.
func withBodyDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
		}
		h.ServeHTTP(w, r)
	})
}
