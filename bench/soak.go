package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"
)

// sample is one reading of the spawned Herald's resources. Queued is the
// herald_delivery_queue_depth gauge, read from the database when scraped (at most every 5 s).
type sample struct {
	Seconds    float64 `json:"seconds"` // since posting began
	RSSMiB     float64 `json:"rssMiB"`
	FDs        int     `json:"fds"`
	TCP        int     `json:"tcp"` // ESTABLISHED TCP sockets held by the process
	Goroutines int     `json:"goroutines"`
	Queued     int     `json:"queued"`
}

// startSampling reads process pid's resources and Herald's metricsURL at once and then every
// interval until ctx is done, logging each sample; the channel then yields them all. A
// reading that fails is logged and skipped.
func startSampling(ctx context.Context, client *http.Client, metricsURL string, fs procfs.FS, pid int, interval time.Duration, logf func(string, ...any)) <-chan []sample {
	out := make(chan []sample, 1)
	start := time.Now()
	go func() {
		var samples []sample
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			elapsed := time.Since(start).Round(time.Millisecond)
			sm, err := readSample(ctx, client, metricsURL, fs, pid)
			switch {
			case err == nil:
				sm.Seconds = elapsed.Seconds()
				samples = append(samples, sm)
				logf("sample t=%s rss=%.1f MiB fds=%d tcp=%d goroutines=%d queued=%d",
					elapsed.Round(100*time.Millisecond), sm.RSSMiB, sm.FDs, sm.TCP, sm.Goroutines, sm.Queued)
			case ctx.Err() == nil:
				logf("sample t=%s: %v", elapsed.Round(100*time.Millisecond), err)
			}
			select {
			case <-ctx.Done():
				out <- samples
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// readSample reads pid's RSS, file descriptors and ESTABLISHED TCP sockets from /proc, and
// the goroutine count and delivery queue depth from Herald's /metrics.
func readSample(ctx context.Context, client *http.Client, metricsURL string, fs procfs.FS, pid int) (sample, error) {
	var sm sample
	p, err := fs.Proc(pid)
	if err != nil {
		return sm, err
	}
	st, err := p.NewStatus()
	if err != nil {
		return sm, err
	}
	sm.RSSMiB = math.Round(float64(st.VmRSS)/(1<<20)*100) / 100
	targets, err := p.FileDescriptorTargets()
	if err != nil {
		return sm, err
	}
	sm.FDs = len(targets)
	sockets := map[uint64]bool{}
	for _, t := range targets {
		if inode, ok := strings.CutPrefix(t, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(inode, "]"), 10, 64); err == nil {
				sockets[n] = true
			}
		}
	}
	for _, table := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		lines, err := table()
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return sm, err
		}
		sm.TCP += established(lines, sockets)
	}

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return sm, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return sm, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sm, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	v, err := metricValues(io.LimitReader(resp.Body, 4<<20), "go_goroutines", "herald_delivery_queue_depth")
	if err != nil {
		return sm, fmt.Errorf("GET /metrics: %w", err)
	}
	sm.Goroutines, sm.Queued = int(v["go_goroutines"]), int(v["herald_delivery_queue_depth"])
	return sm, nil
}

// tcpEstablished is the state of an ESTABLISHED socket in /proc/net/tcp.
const tcpEstablished = 1

// established counts the sockets of a TCP table in state ESTABLISHED whose inode is in inodes.
func established(table procfs.NetTCP, inodes map[uint64]bool) int {
	n := 0
	for _, s := range table {
		if s.St == tcpEstablished && inodes[s.Inode] {
			n++
		}
	}
	return n
}

// metricValues reads a Prometheus text exposition and returns the values of the unlabelled
// samples named names; a name that does not appear is an error.
func metricValues(r io.Reader, names ...string) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	v := map[string]float64{}
	for _, name := range names {
		f := families[name]
		if f == nil || len(f.GetMetric()) == 0 {
			return nil, fmt.Errorf("no %s sample", name)
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			v[name] = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			v[name] = m.GetCounter().GetValue()
		default:
			v[name] = m.GetUntyped().GetValue()
		}
	}
	return v, nil
}

// growthRatio is the soak verdict's relative threshold: a series grew when the mean of the
// last third of the samples taken while posting is more than growthRatio times the mean of
// the middle third and more than the series' floor above it. The first third is left out
// because it holds the warm-up (pools filling, the heap growing to its working size); the
// floor keeps small absolute wobbles, such as a few goroutines, from counting as growth.
const growthRatio = 1.2

// soakSeries are the sampled series, their floors and how to read them from a sample.
var soakSeries = []struct {
	name  string
	floor float64
	value func(sample) float64
}{
	{"rssMiB", 4, func(s sample) float64 { return s.RSSMiB }},
	{"fds", 8, func(s sample) float64 { return float64(s.FDs) }},
	{"tcp", 8, func(s sample) float64 { return float64(s.TCP) }},
	{"goroutines", 20, func(s sample) float64 { return float64(s.Goroutines) }},
	{"queued", 1000, func(s sample) float64 { return float64(s.Queued) }},
}

// soakSummary condenses the samples of a run.
type soakSummary struct {
	Interval string          `json:"interval"`
	Samples  int             `json:"samples"`
	Judged   int             `json:"judgedSamples"` // taken while posting
	Rule     string          `json:"rule"`
	Series   []seriesSummary `json:"series"`
}

// seriesSummary is one series over all samples (first, last, min, max) and its verdict over
// the samples taken while posting.
type seriesSummary struct {
	Name       string  `json:"name"`
	First      float64 `json:"first"`
	Last       float64 `json:"last"`
	Min        float64 `json:"min"`
	Max        float64 `json:"max"`
	MiddleMean float64 `json:"middleThirdMean"`
	LastMean   float64 `json:"lastThirdMean"`
	Floor      float64 `json:"floor"`
	Verdict    string  `json:"verdict"` // flat, grew, or too few samples (fewer than 3 while posting)
}

// summariseSoak summarises samples taken every interval; those taken within posting of its
// start are judged.
func summariseSoak(samples []sample, interval, posting time.Duration) *soakSummary {
	sum := &soakSummary{
		Interval: interval.String(), Samples: len(samples),
		Rule: fmt.Sprintf("grew: the mean of the last third of the samples taken while posting is more than %.1f times the mean of the middle third and more than the floor above it", growthRatio),
	}
	for _, s := range samples {
		if s.Seconds <= posting.Seconds() {
			sum.Judged++
		}
	}
	for _, series := range soakSeries {
		v := make([]float64, len(samples))
		for i, s := range samples {
			v[i] = series.value(s)
		}
		ss := seriesSummary{Name: series.name, Floor: series.floor}
		if len(v) > 0 {
			ss.First, ss.Last = v[0], v[len(v)-1]
			ss.Min, ss.Max = v[0], v[0]
			for _, x := range v {
				ss.Min, ss.Max = min(ss.Min, x), max(ss.Max, x)
			}
		}
		ss.MiddleMean, ss.LastMean, ss.Verdict = judgeGrowth(v[:sum.Judged], series.floor)
		sum.Series = append(sum.Series, ss)
	}
	return sum
}

// judgeGrowth applies the growthRatio rule to v, samples in time order.
func judgeGrowth(v []float64, floor float64) (middleMean, lastMean float64, verdict string) {
	n := len(v)
	if n < 3 {
		return 0, 0, "too few samples"
	}
	middleMean, lastMean = mean(v[n/3:2*n/3]), mean(v[2*n/3:])
	if lastMean > growthRatio*middleMean && lastMean-middleMean > floor {
		return middleMean, lastMean, "grew"
	}
	return middleMean, lastMean, "flat"
}

// mean is the arithmetic mean of v, rounded to 0.01; v is not empty.
func mean(v []float64) float64 {
	total := 0.0
	for _, x := range v {
		total += x
	}
	return math.Round(total/float64(len(v))*100) / 100
}

// print writes the soak lines of the human-readable summary.
func (s *soakSummary) print(w io.Writer) {
	fmt.Fprintf(w, "  soak: %d samples every %s; verdict from the %d taken while posting (last third vs middle third)\n",
		s.Samples, s.Interval, s.Judged)
	fmt.Fprintf(w, "    %-11s %9s %9s %9s %9s %11s %11s  %s\n", "series", "first", "last", "min", "max", "mid mean", "last mean", "verdict")
	for _, ss := range s.Series {
		fmt.Fprintf(w, "    %-11s %9.7g %9.7g %9.7g %9.7g %11.7g %11.7g  %s\n",
			ss.Name, ss.First, ss.Last, ss.Min, ss.Max, ss.MiddleMean, ss.LastMean, ss.Verdict)
	}
}
