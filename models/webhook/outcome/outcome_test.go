package outcome_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/herald-hq/herald/models/webhook/outcome"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestPolicy(t *testing.T) {
	t.Parallel()
	policy := outcome.Policy{RetryUnit: time.Minute}
	failed := func(status, try int) outcome.Attempt {
		return outcome.Attempt{StatusCode: status, Try: try, RetryCount: 3, RetryIntervalMinutes: 2}
	}
	tests := map[string]struct {
		attempt        outcome.Attempt
		failuresBefore int
		inactive       bool
		want           outcome.Decision
	}{
		"success": {outcome.Attempt{Succeeded: true, StatusCode: 200, Try: 1, RetryCount: 3, RetryIntervalMinutes: 2}, 4, false,
			outcome.Decision{Verdict: outcome.Delivered}},
		"first failure retries after the interval": {failed(500, 1), 0, false,
			outcome.Decision{Verdict: outcome.Retry, RetryAt: now.Add(2 * time.Minute), Failures: 1}},
		"no answer retries too": {failed(0, 1), 0, false,
			outcome.Decision{Verdict: outcome.Retry, RetryAt: now.Add(2 * time.Minute), Failures: 1}},
		"a longer Retry-After postpones the retry": {outcome.Attempt{StatusCode: 429, RetryAfter: 5 * time.Minute, Try: 1, RetryCount: 3, RetryIntervalMinutes: 2}, 0, false,
			outcome.Decision{Verdict: outcome.Retry, RetryAt: now.Add(5 * time.Minute), Failures: 1}},
		"a shorter Retry-After does not hasten it": {outcome.Attempt{StatusCode: 503, RetryAfter: 10 * time.Second, Try: 1, RetryCount: 3, RetryIntervalMinutes: 2}, 0, false,
			outcome.Decision{Verdict: outcome.Retry, RetryAt: now.Add(2 * time.Minute), Failures: 1}},
		"an interval below one counts as one": {outcome.Attempt{StatusCode: 500, Try: 1, RetryCount: 1}, 0, false,
			outcome.Decision{Verdict: outcome.Retry, RetryAt: now.Add(time.Minute), Failures: 1}},
		"the last retry": {failed(500, 3), 2, false,
			outcome.Decision{Verdict: outcome.Retry, RetryAt: now.Add(2 * time.Minute), Failures: 3}},
		"budget spent fails and mails": {failed(500, 4), 3, false,
			outcome.Decision{Verdict: outcome.Failed, Failures: 4, Notice: outcome.NoticeFailed}},
		"no retries": {outcome.Attempt{StatusCode: 500, Try: 1, RetryIntervalMinutes: 1}, 0, false,
			outcome.Decision{Verdict: outcome.Failed, Failures: 1, Notice: outcome.NoticeFailed}},
		"410 deactivates at once": {failed(http.StatusGone, 1), 0, false,
			outcome.Decision{Verdict: outcome.Failed, Deactivate: outcome.GoneReason, Failures: 1, Notice: outcome.NoticeDeactivated}},
		"410 on an inactive webhook only fails": {failed(http.StatusGone, 1), 0, true,
			outcome.Decision{Verdict: outcome.Failed, Failures: 1, Notice: outcome.NoticeFailed}},
		"fifth failure in a row": {failed(500, 1), 4, false,
			outcome.Decision{Verdict: outcome.Retry, RetryAt: now.Add(2 * time.Minute), Failures: 5}},
		"sixth failure cancels its retry and deactivates": {failed(500, 1), 5, false,
			outcome.Decision{Verdict: outcome.Cancelled, Deactivate: "6 consecutive failed attempts", Failures: 6, Notice: outcome.NoticeDeactivated}},
		"sixth failure that was final deactivates": {failed(500, 4), 5, false,
			outcome.Decision{Verdict: outcome.Failed, Deactivate: "6 consecutive failed attempts", Failures: 6, Notice: outcome.NoticeDeactivated}},
		"an inactive webhook counts on without deactivating": {failed(500, 1), 6, true,
			outcome.Decision{Verdict: outcome.Retry, RetryAt: now.Add(2 * time.Minute), Failures: 7}},
		"a success resets the count": {outcome.Attempt{Succeeded: true, Try: 2, RetryCount: 3}, 5, false,
			outcome.Decision{Verdict: outcome.Delivered}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := policy.Decide(tc.attempt, now).Given(tc.failuresBefore, !tc.inactive)
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestPolicyRetryUnit: the unit scales the interval (tests run minutes as milliseconds).
func TestPolicyRetryUnit(t *testing.T) {
	t.Parallel()
	d := outcome.Policy{RetryUnit: 50 * time.Millisecond}.Decide(outcome.Attempt{StatusCode: 500, Try: 1, RetryCount: 1, RetryIntervalMinutes: 3}, now)
	if d.Verdict != outcome.Retry || !d.RetryAt.Equal(now.Add(150*time.Millisecond)) {
		t.Errorf("decision %+v, want a retry 150ms on", d)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		header string
		want   time.Duration
	}{
		"absent":       {"", 0},
		"seconds":      {"120", 2 * time.Minute},
		"spaces":       {" 7 ", 7 * time.Second},
		"zero":         {"0", 0},
		"negative":     {"-5", 0},
		"capped":       {"86400", outcome.MaxRetryAfter},
		"date":         {now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		"past date":    {now.Add(-time.Hour).Format(http.TimeFormat), 0},
		"far date":     {now.Add(48 * time.Hour).Format(http.TimeFormat), outcome.MaxRetryAfter},
		"unreadable":   {"soon", 0},
		"huge seconds": {"99999999999999999999", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := outcome.RetryAfter(tc.header, now); got != tc.want {
				t.Errorf("RetryAfter(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}
