package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

func TestJudgeGrowth(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		v     []float64
		floor float64
		want  string
	}{
		"steady":                 {v: []float64{20, 30, 31, 30, 31, 30}, floor: 4, want: "flat"},
		"warm-up climb ignored":  {v: []float64{5, 10, 30, 30, 30, 30}, floor: 4, want: "flat"},
		"grows":                  {v: []float64{20, 30, 30, 30, 40, 45}, floor: 4, want: "grew"},
		"relative but not floor": {v: []float64{0, 10, 10, 10, 15, 15}, floor: 20, want: "flat"},
		"floor but not relative": {v: []float64{0, 200, 200, 200, 230, 230}, floor: 20, want: "flat"},
		"from nothing":           {v: []float64{0, 0, 0, 0, 5000, 6000}, floor: 1000, want: "grew"},
		"shrinks":                {v: []float64{100, 100, 100, 100, 50, 10}, floor: 1, want: "flat"},
		"too few":                {v: []float64{1, 100}, floor: 1, want: "too few samples"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, _, got := judgeGrowth(tc.v, tc.floor); got != tc.want {
				t.Errorf("judgeGrowth(%v, %v) = %q, want %q", tc.v, tc.floor, got, tc.want)
			}
		})
	}
}

func TestSummariseSoakJudgesOnlyPostingSamples(t *testing.T) {
	t.Parallel()
	var samples []sample
	for i := range 9 {
		// goroutines climb while posting (t ≤ 12 s) and fall back in the drain
		g := 50 + 20*i
		if i >= 7 {
			g = 15
		}
		samples = append(samples, sample{Seconds: float64(2 * i), RSSMiB: 30, FDs: 40, TCP: 20, Goroutines: g})
	}
	sum := summariseSoak(samples, 2*time.Second, 12*time.Second)
	if sum.Samples != 9 || sum.Judged != 7 {
		t.Fatalf("samples %d, judged %d; want 9, 7", sum.Samples, sum.Judged)
	}
	for _, ss := range sum.Series {
		want := "flat"
		if ss.Name == "goroutines" {
			want = "grew"
			if ss.First != 50 || ss.Last != 15 || ss.Min != 15 || ss.Max != 170 {
				t.Errorf("goroutines first/last/min/max = %v/%v/%v/%v", ss.First, ss.Last, ss.Min, ss.Max)
			}
		}
		if ss.Verdict != want {
			t.Errorf("%s: verdict %q, want %q", ss.Name, ss.Verdict, want)
		}
	}
}

// TestReadSample reads this very process from the real /proc while it holds a TCP connection
// of its own, and a /metrics page from a real HTTP server.
func TestReadSample(t *testing.T) {
	t.Parallel()
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "go_goroutines 81\nherald_delivery_queue_depth 7\n")
	}))
	defer srv.Close()
	// The server's end of a connection is a descriptor of this process only once Accept has
	// returned it, so the test holds both ends itself before reading /proc.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	serverConn, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer serverConn.Close()
	sm, err := readSample(context.Background(), srv.Client(), srv.URL, fs, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The dialled connection and the server's end of it are both this process's.
	if sm.RSSMiB < 1 || sm.FDs < 3 || sm.TCP < 2 || sm.Goroutines != 81 || sm.Queued != 7 {
		t.Errorf("readSample = %+v", sm)
	}
}

func TestMetricValues(t *testing.T) {
	t.Parallel()
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 81
go_goroutines_extra 3
herald_delivery_attempts_total{outcome="SUCCEEDED"} 12
herald_delivery_queue_depth 1.07e+05
`
	v, err := metricValues(strings.NewReader(text), "go_goroutines", "herald_delivery_queue_depth")
	if err != nil || v["go_goroutines"] != 81 || v["herald_delivery_queue_depth"] != 107000 {
		t.Errorf("metricValues = %v, %v", v, err)
	}
	if _, err := metricValues(strings.NewReader(text), "herald_missing"); err == nil {
		t.Error("metricValues found a metric that is not there")
	}
}
