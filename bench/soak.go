package main

import (
	"bufio"
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
func startSampling(ctx context.Context, client *http.Client, metricsURL string, pid int, interval time.Duration, logf func(string, ...any)) <-chan []sample {
	out := make(chan []sample, 1)
	start := time.Now()
	go func() {
		var samples []sample
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			elapsed := time.Since(start).Round(time.Millisecond)
			sm, err := readSample(ctx, client, metricsURL, pid)
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
func readSample(ctx context.Context, client *http.Client, metricsURL string, pid int) (sample, error) {
	var sm sample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return sm, err
	}
	if sm.RSSMiB, err = vmRSSMiB(string(status)); err != nil {
		return sm, err
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return sm, err
	}
	sm.FDs = len(fds)
	sockets := map[string]bool{} // socket inode numbers, decimal
	for _, fd := range fds {
		target, err := os.Readlink(fdDir + "/" + fd.Name())
		if err != nil {
			continue // closed since ReadDir
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			sockets[strings.TrimSuffix(inode, "]")] = true
		}
	}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return sm, err
		}
		n, err := countEstablished(f, sockets)
		f.Close()
		if err != nil {
			return sm, fmt.Errorf("%s: %w", table, err)
		}
		sm.TCP += n
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

// vmRSSMiB finds the "VmRSS: N kB" line of /proc/PID/status and returns N in MiB, rounded to 0.01.
func vmRSSMiB(status string) (float64, error) {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", strings.TrimSpace(line))
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			return math.Round(kb/1024*100) / 100, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// countEstablished counts the rows of a /proc/net/tcp or tcp6 table in state 01 (ESTABLISHED)
// whose inode is in inodes.
func countEstablished(table io.Reader, inodes map[string]bool) (int, error) {
	n := 0
	sc := bufio.NewScanner(table)
	sc.Scan() // header
	for sc.Scan() {
		// sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
		f := strings.Fields(sc.Text())
		if len(f) >= 10 && f[3] == "01" && inodes[f[9]] {
			n++
		}
	}
	return n, sc.Err()
}

// metricValues reads a Prometheus text exposition and returns the values of the unlabelled
// samples named names; a name that does not appear is an error.
func metricValues(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, name := range names {
		want[name] = true
	}
	v := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		x, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f[0], err)
		}
		v[f[0]] = x
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, ok := v[name]; !ok {
			return nil, fmt.Errorf("no %s sample", name)
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
