// Command bench is Herald's load tool: it creates webhooks that point at its own signature-
// checking sink, posts alerts to /v1/process, and reports ingest rate, deliveries per second,
// alert-to-arrival latency, duplicates and losses, beside the raw loopback rate of the sink.
//
//	go run ./bench -spawn -rate 0 -duration 20s
//	go run ./bench -spawn -webhooks 10 -rate 0 -duration 20s   (fan-out: ten webhooks per alert)
//	go run ./bench -herald http://127.0.0.1:8080 -token ADMIN_TOKEN -rate 500 -json
//
// All traffic stays on 127.0.0.1; every loop is bounded in count and time.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// options are the command-line flags.
type options struct {
	Herald       string
	Token        string
	Webhooks     int
	Integrations int
	Rate         float64
	Duration     time.Duration
	Warmup       time.Duration
	Posters      int
	MaxAlerts    int
	Drain        time.Duration
	Ceiling      time.Duration
	CeilingConc  int
	JSON         bool
	CPUProfile   string
	Spawn        bool
	Database     string
	Source       string
	Concurrency  int
	LogLevel     string
	Sample       time.Duration
	Cluster      bool
	Preload      int
}

// parseFlags reads and checks the flags and sizes -integrations from -rate when it is 0.
func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.Herald, "herald", "http://127.0.0.1:8080", "Herald base URL (loopback only; ignored with -spawn)")
	fs.StringVar(&o.Token, "token", "", "GLOBAL_ADMIN API token (ignored with -spawn)")
	fs.IntVar(&o.Webhooks, "webhooks", 1, "webhooks per alert (one alert, one receiver, is the headline case; above 1 a fan-out run): 5 TEAM-scoped, then 5 per service")
	fs.IntVar(&o.Integrations, "integrations", 0, "integrations to post through (each is limited to 50 alerts/s); 0 sizes them from -rate")
	fs.Float64Var(&o.Rate, "rate", 0, "alerts per second; 0 posts as fast as -posters allow")
	fs.DurationVar(&o.Duration, "duration", 20*time.Second, "how long to post alerts")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "alerts posted during this first part of posting are left out of the latency percentiles and reported apart (0: none)")
	fs.IntVar(&o.Posters, "posters", 32, "concurrent alert posters")
	fs.IntVar(&o.MaxAlerts, "max-alerts", 1_000_000, "upper bound on alerts posted")
	fs.DurationVar(&o.Drain, "drain", 60*time.Second, "how long to wait after posting for the last deliveries")
	fs.DurationVar(&o.Ceiling, "ceiling", 3*time.Second, "how long to hammer the sink directly for the loopback ceiling")
	fs.IntVar(&o.CeilingConc, "ceiling-concurrency", 64, "concurrent requests of the loopback ceiling (Herald's default worker concurrency)")
	fs.BoolVar(&o.JSON, "json", false, "also print the report as JSON on stdout")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the tool's own CPU profile to this file")
	fs.BoolVar(&o.Spawn, "spawn", false, "build and start Herald from -source for the run")
	fs.StringVar(&o.Database, "database", "", "with -spawn: postgres:// URL (default: a fresh SQLite file)")
	fs.StringVar(&o.Source, "source", ".", "with -spawn: Herald's module directory")
	fs.IntVar(&o.Concurrency, "worker-concurrency", 0, "with -spawn: HERALD_WORKER_CONCURRENCY (0: Herald's default)")
	fs.StringVar(&o.LogLevel, "log-level", "warn", "with -spawn: HERALD_LOG_LEVEL")
	fs.DurationVar(&o.Sample, "sample", 0, "with -spawn: read Herald's RSS, file descriptors, TCP connections, goroutines and queue this often (0: never)")
	fs.BoolVar(&o.Cluster, "cluster", false, "with -spawn: run Herald on a throwaway PostgreSQL cluster of the tool's own (initdb defaults, autovacuum on), removed at the end")
	fs.IntVar(&o.Preload, "preload", 0, "with -spawn: before posting, fill Herald's tables with this many finished deliveries (and their incidents and attempts) over the last 25 days")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if o.Webhooks < 1 || o.Webhooks > 500 {
		errs = append(errs, errors.New("-webhooks must be 1 to 500"))
	}
	if o.Rate < 0 || o.Posters < 1 || o.Posters > 1024 || o.MaxAlerts < 1 || o.Duration <= 0 || o.Duration > time.Hour {
		errs = append(errs, errors.New("-rate ≥ 0, -posters 1 to 1024, -max-alerts ≥ 1, -duration up to 1h"))
	}
	if o.Warmup < 0 || o.Warmup >= o.Duration {
		errs = append(errs, errors.New("-warmup must be ≥ 0 and shorter than -duration"))
	}
	if o.Sample != 0 && (o.Sample < 100*time.Millisecond || !o.Spawn) {
		errs = append(errs, errors.New("-sample must be 0 or at least 100ms, and needs -spawn"))
	}
	if o.Cluster && o.Database != "" {
		errs = append(errs, errors.New("-cluster and -database are exclusive: -cluster makes its own database"))
	}
	if o.Cluster && !o.Spawn {
		errs = append(errs, errors.New("-cluster needs -spawn"))
	}
	if o.Preload < 0 || o.Preload > 100_000_000 || (o.Preload > 0 && !o.Spawn) {
		errs = append(errs, errors.New("-preload must be 0 to 100,000,000, and needs -spawn"))
	}
	if o.Integrations == 0 {
		o.Integrations = 40 // 2,000 alerts/s of integration rate limits for max rate
		if o.Rate > 0 {
			o.Integrations = int(math.Ceil(o.Rate/40)) + 1
		}
	}
	if !o.Spawn {
		if u, err := url.Parse(o.Herald); err != nil || u.Hostname() != "127.0.0.1" {
			errs = append(errs, errors.New("-herald must be an http://127.0.0.1:PORT URL: traffic stays on loopback"))
		}
		if o.Token == "" {
			errs = append(errs, errors.New("-token is required without -spawn"))
		}
	}
	return o, errors.Join(errs...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run does one whole measurement: spawn (optionally), ceiling, set-up, load, drain, report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var logMu sync.Mutex // the sampler logs while posting
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(stderr, "bench: "+format+"\n", a...)
	}

	t := target{database: "external"}
	if o.Spawn {
		stop, err := t.spawn(ctx, &o, logf)
		defer stop() // Herald first, then the cluster
		if err != nil {
			return err
		}
	}

	s, err := startSink()
	if err != nil {
		return err
	}
	defer s.srv.Close()
	client := newClient(max(o.Posters, o.CeilingConc))
	meter := newCPUMeter(t.pid, t.postmaster, logf)

	logf("measuring the loopback ceiling for %s", o.Ceiling)
	beforeCeiling, cpuOK := meter.read()
	ceiling, err := measureCeiling(ctx, s, client, o.CeilingConc, o.Ceiling)
	if err != nil {
		return err
	}
	afterCeiling, ok := meter.read()
	cpuOK = cpuOK && ok
	ceilingMachineUs := 0.0
	if cpuOK && ceiling > 0 {
		busy := afterCeiling.Machine - beforeCeiling.Machine
		ceilingMachineUs = math.Round(float64(busy.Microseconds())/(ceiling*o.Ceiling.Seconds())*10) / 10
	}

	topo, err := setUpRun(ctx, o, client, s, logf)
	if err != nil {
		return err
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	var samples <-chan []sample
	if o.Sample > 0 {
		samples = startSampling(sampleCtx, client, strings.TrimRight(o.Herald, "/")+"/metrics", meter.proc, t.pid, o.Sample, logf)
	}
	beforeLoad, ok := meter.read()
	cpuOK = cpuOK && ok
	load := postAlerts(ctx, client, strings.TrimRight(o.Herald, "/"), topo, o.Rate, o.Duration, o.Posters, o.MaxAlerts)
	expected := 0
	for _, idx := range load.Accepted {
		expected += len(topo.Integrations[idx].Hooks)
	}
	logf("posted %d alerts (%d failed); waiting up to %s for %d deliveries", len(load.Accepted), load.Failed, o.Drain, expected)
	drainStart := time.Now()
	for s.arrived() < expected && time.Since(drainStart) < o.Drain && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	afterLoad, ok := meter.read()
	cpuOK = cpuOK && ok
	time.Sleep(time.Second) // late duplicates
	stopSampling()
	rep := buildReport(o, t.database, ceiling, topo, load, s, time.Since(drainStart))
	rep.Preloaded, rep.PreloadSeconds = o.Preload, math.Round(t.preloadTime.Seconds()*10)/10
	if cpuOK {
		rep.CPU = perDelivery(beforeLoad, afterLoad, rep.Delivered, ceilingMachineUs)
	}
	if samples != nil {
		rep.Samples = <-samples
		rep.Soak = summariseSoak(rep.Samples, o.Sample, load.End.Sub(load.Start))
	}
	rep.print(stdout)
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}

// target is the Herald a run measures and the database it runs on.
type target struct {
	database string
	// pid and postmaster are the processes whose CPU the report counts: pid 0 when Herald was
	// not spawned; postmaster 0 for every PostgreSQL process, -1 for none (see readCPU).
	pid, postmaster int
	preloadTime     time.Duration
}

// spawn builds and starts Herald for the run (on a throwaway cluster with -cluster, then
// preloaded with -preload) and points o at it. stop, which the caller defers even after an
// error, stops what was started.
func (t *target) spawn(ctx context.Context, o *options, logf func(string, ...any)) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	dbURL := o.Database
	// On SQLite no PostgreSQL serves Herald: the host's does not count.
	t.database, t.postmaster = "sqlite (fresh file)", -1
	if o.Database != "" {
		t.database, t.postmaster = postgresLabel(ctx, o.Database, ""), 0
	}
	if o.Cluster {
		c, err := startCluster(ctx, logf)
		if err != nil {
			return stop, fmt.Errorf("-cluster: %w", err)
		}
		stops = append(stops, func() { c.stop(logf) })
		dbURL, t.postmaster = c.URL, c.PID
		t.database = postgresLabel(ctx, c.URL, "throwaway cluster")
	}
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return stop, err
	}
	logf("building and starting Herald (scratch %s)", dir)
	p, err := spawnHerald(ctx, spawnOptions{Source: o.Source, Dir: dir, DatabaseURL: dbURL, Concurrency: o.Concurrency, LogLevel: o.LogLevel})
	if err != nil {
		return stop, err
	}
	stops = append(stops, p.stop)
	o.Herald, o.Token, t.pid = p.URL, p.Token, p.cmd.Process.Pid
	logf("herald at %s, log %s", p.URL, p.LogPath)
	if o.Preload > 0 {
		gql := &gqlClient{url: strings.TrimRight(o.Herald, "/") + "/query", token: o.Token, http: newClient(1)}
		pt, err := createPreloadTarget(ctx, gql, time.Now().UTC().Format("20060102T150405.000"))
		if err != nil {
			return stop, fmt.Errorf("preload: %w", err)
		}
		logf("preloading %d finished deliveries (webhook %s)", o.Preload, pt.WebhookID)
		began := time.Now()
		if err := preload(ctx, p.DBURL, pt, o.Preload, began); err != nil {
			return stop, err
		}
		t.preloadTime = time.Since(began)
		logf("preloaded %d deliveries, attempts and incidents in %.1f s", o.Preload, t.preloadTime.Seconds())
	}
	return stop, nil
}

// setUpRun creates the run's webhooks (pointing at the sink, which learns their secrets) and
// integrations.
func setUpRun(ctx context.Context, o options, client *http.Client, s *sink, logf func(string, ...any)) (*topology, error) {
	runID := time.Now().UTC().Format("20060102T150405.000")
	gql := &gqlClient{url: strings.TrimRight(o.Herald, "/") + "/query", token: o.Token, http: client}
	topo, err := setUp(ctx, gql, runID, o.Webhooks, o.Integrations, s.URL())
	if err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	for _, h := range topo.Hooks {
		if err := s.addKey(fmt.Sprint(h.Index), h.Secret); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", h.ID, err)
		}
	}
	logf("created %d webhooks, %d integrations; posting for %s", len(topo.Hooks), len(topo.Integrations), o.Duration)
	return topo, nil
}

// cpuMeter reads the CPU of the machine, Herald and PostgreSQL; without /proc it reads
// nothing and the report has no CPU line.
type cpuMeter struct {
	proc            procfs.FS
	err             error
	pid, postmaster int
	logf            func(string, ...any)
}

func newCPUMeter(pid, postmaster int, logf func(string, ...any)) *cpuMeter {
	proc, err := procfs.NewDefaultFS()
	if err != nil {
		logf("no cpu accounting: %v", err)
	}
	return &cpuMeter{proc: proc, err: err, pid: pid, postmaster: postmaster, logf: logf}
}

// read returns a reading and whether there is one.
func (m *cpuMeter) read() (cpuReading, bool) {
	if m.err != nil {
		return cpuReading{}, false
	}
	r, err := readCPU(m.proc, m.pid, m.postmaster)
	if err != nil {
		m.logf("no cpu accounting: %v", err)
	}
	return r, err == nil
}

// report is the run's outcome; its JSON form is the -json output.
type report struct {
	Herald       string  `json:"herald"`
	Database     string  `json:"database"`
	Webhooks     int     `json:"webhooks"`
	Integrations int     `json:"integrations"`
	Rate         float64 `json:"targetAlertsPerSecond"`
	Duration     string  `json:"duration"`
	Warmup       string  `json:"warmup"`
	Posters      int     `json:"posters"`
	// Preloaded is the number of finished deliveries (each with its incident and attempt)
	// written before posting; PreloadSeconds how long that took, ANALYZE and VACUUM included.
	Preloaded      int     `json:"preloaded"`
	PreloadSeconds float64 `json:"preloadSeconds"`

	LoopbackPerSecond float64 `json:"loopbackPerSecond"`

	AlertsAccepted  int     `json:"alertsAccepted"`
	AlertsFailed    int64   `json:"alertsFailed"`
	AlertsThrottled int64   `json:"alertsThrottled"`
	FirstError      string  `json:"firstError,omitempty"`
	IngestPerSecond float64 `json:"ingestPerSecond"`
	MaxPacingLagMs  float64 `json:"maxPacingLagMs"`

	Expected          int     `json:"expectedDeliveries"`
	Delivered         int     `json:"delivered"`
	DeliveriesPerSec  float64 `json:"deliveriesPerSecond"`
	RatioToLoopback   float64 `json:"ratioToLoopback"`
	Duplicates        int     `json:"duplicates"`
	Losses            int     `json:"losses"`
	Unexpected        int     `json:"unexpected"`
	BadSignatures     int     `json:"badSignatures"`
	DrainSeconds      float64 `json:"drainSeconds"`
	LatencyP50Ms      float64 `json:"latencyP50Ms"`
	LatencyP90Ms      float64 `json:"latencyP90Ms"`
	LatencyP99Ms      float64 `json:"latencyP99Ms"`
	LatencyMaxMs      float64 `json:"latencyMaxMs"`
	DeliveryWindowSec float64 `json:"deliveryWindowSeconds"`

	WarmupDeliveries   int     `json:"warmupDeliveries"`
	WarmupLatencyP50Ms float64 `json:"warmupLatencyP50Ms"`
	WarmupLatencyP99Ms float64 `json:"warmupLatencyP99Ms"`
	WarmupLatencyMaxMs float64 `json:"warmupLatencyMaxMs"`

	// CPU is what each party spent per delivery from the first post to the last arrival.
	CPU *cpuCost `json:"cpuPerDelivery,omitempty"`

	Samples []sample     `json:"samples,omitempty"`
	Soak    *soakSummary `json:"soak,omitempty"`

	warmup time.Duration // Warmup, for print
}

// buildReport compares what the sink received with what the accepted alerts should cause.
func buildReport(o options, database string, ceiling float64, topo *topology, load *loadResult, s *sink, drain time.Duration) *report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &report{
		Herald: o.Herald, Database: database, Webhooks: len(topo.Hooks), Integrations: len(topo.Integrations),
		Rate: o.Rate, Duration: o.Duration.String(), Warmup: o.Warmup.String(), warmup: o.Warmup,
		Posters: o.Posters, LoopbackPerSecond: ceiling,
		AlertsAccepted: len(load.Accepted), AlertsFailed: load.Failed, AlertsThrottled: load.Throttled, FirstError: load.FirstErr,
		IngestPerSecond: float64(len(load.Accepted)) / load.End.Sub(load.Start).Seconds(),
		MaxPacingLagMs:  ms(load.MaxLag), BadSignatures: s.badSig, DrainSeconds: drain.Seconds(),
	}
	for seq, idx := range load.Accepted {
		for _, h := range topo.Integrations[idx].Hooks {
			r.Expected++
			if s.first[arrivalKey{Seq: seq, Hook: h}] {
				r.Delivered++
			} else {
				r.Losses++
			}
		}
	}
	r.Unexpected = len(s.first) - r.Delivered + s.badBody
	for _, n := range s.byID {
		r.Duplicates += n - 1
	}
	if !s.last.IsZero() {
		r.DeliveryWindowSec = s.last.Sub(load.Start).Seconds()
		r.DeliveriesPerSec = float64(r.Delivered) / r.DeliveryWindowSec
	}
	if ceiling > 0 {
		r.RatioToLoopback = r.DeliveriesPerSec / ceiling
	}
	warm, measured := splitWarmup(s.arrivals, load.Start, o.Warmup)
	m, w := latencyPercentiles(measured), latencyPercentiles(warm)
	r.LatencyP50Ms, r.LatencyP90Ms, r.LatencyP99Ms, r.LatencyMaxMs = m.P50, m.P90, m.P99, m.Max
	r.WarmupDeliveries = len(warm)
	r.WarmupLatencyP50Ms, r.WarmupLatencyP99Ms, r.WarmupLatencyMaxMs = w.P50, w.P99, w.Max
	return r
}

// splitWarmup separates the latencies of alerts sent in the first warmup of posting (from
// start) from the rest; with warmup 0 every latency is measured.
func splitWarmup(arrivals []arrival, start time.Time, warmup time.Duration) (warm, measured []time.Duration) {
	cutoff := start.Add(warmup)
	for _, a := range arrivals {
		if warmup > 0 && a.Sent.Before(cutoff) {
			warm = append(warm, a.Latency)
		} else {
			measured = append(measured, a.Latency)
		}
	}
	return warm, measured
}

// percentiles are latency figures in milliseconds.
type percentiles struct{ P50, P90, P99, Max float64 }

// latencyPercentiles sorts lat and returns its nearest-rank percentiles; all 0 when it is empty.
func latencyPercentiles(lat []time.Duration) percentiles {
	slices.Sort(lat)
	n := len(lat)
	if n == 0 {
		return percentiles{}
	}
	pct := func(p float64) float64 { return ms(lat[min(n-1, int(math.Ceil(p*float64(n)))-1)]) }
	return percentiles{P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: ms(lat[n-1])}
}

// ms converts d to milliseconds rounded to 0.01.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// print writes the human-readable summary.
func (r *report) print(w io.Writer) {
	rate := "max"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%.0f/s", r.Rate)
	}
	shape := "one webhook per alert"
	if r.Webhooks > 1 {
		shape = fmt.Sprintf("FAN-OUT: %d webhooks per alert", r.Webhooks)
	}
	fmt.Fprintf(w, "Herald %s (%s): %s, %d integrations, rate %s for %s, %d posters\n",
		r.Herald, r.Database, shape, r.Integrations, rate, r.Duration, r.Posters)
	if r.Preloaded > 0 {
		fmt.Fprintf(w, "  preloaded %d finished deliveries with their attempts and incidents (%.1f s)\n", r.Preloaded, r.PreloadSeconds)
	}
	fmt.Fprintf(w, "  loopback ceiling   %10.0f req/s (sink hammered directly)\n", r.LoopbackPerSecond)
	fmt.Fprintf(w, "  alerts accepted    %10d  (%.0f/s; failed %d, 429s %d, max pacing lag %.1f ms)\n",
		r.AlertsAccepted, r.IngestPerSecond, r.AlertsFailed, r.AlertsThrottled, r.MaxPacingLagMs)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first post error   %s\n", r.FirstError)
	}
	fmt.Fprintf(w, "  deliveries         %10d of %d  (%.0f/s over %.1f s; %.2f of loopback)\n",
		r.Delivered, r.Expected, r.DeliveriesPerSec, r.DeliveryWindowSec, r.RatioToLoopback)
	if r.warmup == 0 {
		fmt.Fprintf(w, "  latency ms         p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", r.LatencyP50Ms, r.LatencyP90Ms, r.LatencyP99Ms, r.LatencyMaxMs)
	} else {
		secs := strconv.FormatFloat(r.warmup.Seconds(), 'f', -1, 64)
		fmt.Fprintf(w, "  latency ms         p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (after %s s warm-up)\n",
			r.LatencyP50Ms, r.LatencyP90Ms, r.LatencyP99Ms, r.LatencyMaxMs, secs)
		fmt.Fprintf(w, "  warm-up latency ms p50 %.1f  p99 %.1f  max %.1f  (%d deliveries of alerts posted in the first %s s)\n",
			r.WarmupLatencyP50Ms, r.WarmupLatencyP99Ms, r.WarmupLatencyMaxMs, r.WarmupDeliveries, secs)
	}
	fmt.Fprintf(w, "  duplicates %d  losses %d  unexpected %d  bad signatures %d  (drain %.1f s)\n",
		r.Duplicates, r.Losses, r.Unexpected, r.BadSignatures, r.DrainSeconds)
	if r.CPU != nil {
		r.CPU.print(w)
	}
	if r.Soak != nil {
		r.Soak.print(w)
	}
}
