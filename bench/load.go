package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// newClient returns the keep-alive HTTP client used both for the loopback ceiling and for
// posting alerts, sized for conns concurrent requests to one host.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// measureCeiling hammers the sink's /h/ceiling with signed requests of the size Herald sends,
// from conc goroutines for d, and returns requests per second: the loopback ceiling.
func measureCeiling(ctx context.Context, s *sink, client *http.Client, conc int, d time.Duration) (float64, error) {
	key := []byte("herald-bench-loopback-ceiling-32")
	if err := s.addKey("ceiling", "whsec_"+base64.StdEncoding.EncodeToString(key)); err != nil {
		return 0, err
	}
	url := s.URL() + "/h/ceiling"
	body := []byte(`{"title":"bench - herald-bench#123456:1764115200000000000","incident":"INC-123456","event":"incident.created"}`)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for g := range conc {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("msg_ceiling_%d_%d", g, i)
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", ts)
				req.Header.Set("webhook-signature", sign(key, id, ts, body))
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						once.Do(func() { firstErr = err })
					}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("loopback ceiling: %w", firstErr)
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// loadResult is what the posters did.
type loadResult struct {
	Start     time.Time
	End       time.Time
	Accepted  map[int64]int // alert sequence number → integration index
	Throttled int64         // 429 answers (each retried)
	Failed    int64         // alerts given up on (error, non-2xx, or too many 429s)
	MaxLag    time.Duration // worst delay of a paced post behind its schedule
	FirstErr  string
}

// maxThrottleRetries bounds how often one alert is posted again after 429.
const maxThrottleRetries = 20

// postAlerts sends alerts to /v1/process for d: at rate per second (0: as fast as posters
// goroutines can), at most maxAlerts in all, integration seq%len(integrations) for alert seq.
func postAlerts(ctx context.Context, client *http.Client, heraldURL string, topo *topology, rate float64, d time.Duration, posters, maxAlerts int) *loadResult {
	res := &loadResult{Accepted: map[int64]int{}, Start: time.Now()}
	deadline := res.Start.Add(d)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var mu sync.Mutex
	var throttled, failed atomic.Int64
	var maxLag atomic.Int64
	jobs := make(chan int64, posters)
	var next atomic.Int64
	if rate > 0 {
		go func() {
			defer close(jobs)
			interval := time.Duration(float64(time.Second) / rate)
			for i := int64(0); i < int64(maxAlerts); i++ {
				due := res.Start.Add(time.Duration(i) * interval)
				if !due.Before(deadline) {
					return
				}
				if wait := time.Until(due); wait > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				}
				select {
				case <-ctx.Done():
					return
				case jobs <- i:
				}
				if lag := time.Since(due); int64(lag) > maxLag.Load() {
					maxLag.Store(int64(lag))
				}
			}
		}()
	}
	take := func() (int64, bool) {
		if rate > 0 {
			seq, ok := <-jobs
			return seq, ok
		}
		seq := next.Add(1) - 1
		return seq, seq < int64(maxAlerts) && ctx.Err() == nil
	}
	var wg sync.WaitGroup
	for range posters {
		wg.Go(func() {
			for {
				seq, ok := take()
				if !ok {
					return
				}
				idx := int(seq % int64(len(topo.Integrations)))
				err := postOne(context.WithoutCancel(ctx), client, heraldURL, topo.Integrations[idx].Token, seq, &throttled)
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
				} else {
					res.Accepted[seq] = idx
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.End = time.Now()
	res.Throttled, res.Failed, res.MaxLag = throttled.Load(), failed.Load(), time.Duration(maxLag.Load())
	return res
}

// postOne posts alert seq, again after a short pause on 429, with the send time in its title.
func postOne(ctx context.Context, client *http.Client, heraldURL, token string, seq int64, throttled *atomic.Int64) error {
	url := heraldURL + "/v1/process?from=bench"
	for range maxThrottleRetries {
		body := fmt.Appendf(nil, `{"title":"%s%d:%d"}`, titleMarker, seq, time.Now().UnixNano())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusCreated:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests:
			throttled.Add(1)
			time.Sleep(20 * time.Millisecond)
		default:
			return fmt.Errorf("POST /v1/process: %d %s", resp.StatusCode, bytes.TrimSpace(msg))
		}
	}
	return fmt.Errorf("POST /v1/process: still 429 after %d tries", maxThrottleRetries)
}
