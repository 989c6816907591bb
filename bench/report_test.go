package main

import (
	"slices"
	"testing"
	"time"
)

func TestSplitWarmup(t *testing.T) {
	t.Parallel()
	start := time.Now()
	arrivals := []arrival{
		{Sent: start.Add(100 * time.Millisecond), Latency: 900 * time.Millisecond},
		{Sent: start.Add(1999 * time.Millisecond), Latency: 500 * time.Millisecond},
		{Sent: start.Add(2 * time.Second), Latency: 5 * time.Millisecond},
		{Sent: start.Add(5 * time.Second), Latency: 7 * time.Millisecond},
	}
	// Sent times come from the title, so they carry no monotonic reading.
	for i := range arrivals {
		arrivals[i].Sent = time.Unix(0, arrivals[i].Sent.UnixNano())
	}
	tests := map[string]struct {
		warmup         time.Duration
		warm, measured []time.Duration
	}{
		"2s":  {2 * time.Second, []time.Duration{900 * time.Millisecond, 500 * time.Millisecond}, []time.Duration{5 * time.Millisecond, 7 * time.Millisecond}},
		"off": {0, nil, []time.Duration{900 * time.Millisecond, 500 * time.Millisecond, 5 * time.Millisecond, 7 * time.Millisecond}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			warm, measured := splitWarmup(arrivals, start, tc.warmup)
			if !slices.Equal(warm, tc.warm) || !slices.Equal(measured, tc.measured) {
				t.Errorf("splitWarmup(%s) = %v, %v; want %v, %v", tc.warmup, warm, measured, tc.warm, tc.measured)
			}
		})
	}
}

func TestLatencyPercentiles(t *testing.T) {
	t.Parallel()
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	if got, want := latencyPercentiles(lat), (percentiles{P50: 50, P90: 90, P99: 99, Max: 100}); got != want {
		t.Errorf("latencyPercentiles = %+v, want %+v", got, want)
	}
	if got := latencyPercentiles(nil); got != (percentiles{}) {
		t.Errorf("latencyPercentiles(nil) = %+v, want zeros", got)
	}
}

func TestParseFlagsWarmupAndSample(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		ok   bool
	}{
		"defaults":             {[]string{"-spawn"}, true},
		"warm-up off":          {[]string{"-spawn", "-warmup", "0"}, true},
		"negative warm-up":     {[]string{"-spawn", "-warmup", "-1s"}, false},
		"warm-up as long":      {[]string{"-spawn", "-duration", "10s", "-warmup", "10s"}, false},
		"sample with spawn":    {[]string{"-spawn", "-sample", "15s"}, true},
		"sample without spawn": {[]string{"-token", "t", "-herald", "http://127.0.0.1:8080", "-sample", "15s"}, false},
		"sample far too often": {[]string{"-spawn", "-sample", "1ms"}, false},
		"negative sample":      {[]string{"-spawn", "-sample", "-1s"}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := parseFlags(tc.args); (err == nil) != tc.ok {
				t.Errorf("parseFlags(%q) error %v, want ok %v", tc.args, err, tc.ok)
			}
		})
	}
}
