package main

import (
	"strings"
	"testing"
	"time"
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

func TestCountEstablished(t *testing.T) {
	t.Parallel()
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D2A6 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D2A8 0100007F:1F90 06 00000000:00000000 03:00000F3E 00000000     0        0 0 3 0000000000000000
`
	n, err := countEstablished(strings.NewReader(table), map[string]bool{"111": true, "222": true, "444": true})
	if err != nil || n != 1 {
		t.Errorf("countEstablished = %d, %v; want 1 (inode 222 only: 111 is listening, 333 is not Herald's)", n, err)
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

func TestVmRSSMiB(t *testing.T) {
	t.Parallel()
	got, err := vmRSSMiB("Name:\therald\nVmPeak:\t  900000 kB\nVmRSS:\t   25600 kB\nRssAnon:\t 1 kB\n")
	if err != nil || got != 25 {
		t.Errorf("vmRSSMiB = %v, %v; want 25", got, err)
	}
}
