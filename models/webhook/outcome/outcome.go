// Package outcome is the one policy for what follows an attempt at a delivery (SPEC §4, §6):
// whether the delivery is retried and when, fails for good or is cancelled, whether the
// webhook is deactivated (410 Gone, or MaxConsecutiveFailures failed attempts in a row) and
// which failure e-mail goes out. It is pure: the clock is passed in, and it knows nothing of
// the store, the worker or HTTP clients. The worker asks Decide once an attempt is over; the
// store, which alone knows the webhook's standing under its lock, applies Given and stores
// the result.
package outcome

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxConsecutiveFailures is how many failed attempts in a row (test sends excepted) make a
// webhook INACTIVE (SPEC §4).
const MaxConsecutiveFailures = 6

// MaxRetryAfter bounds how long a Retry-After header may postpone a retry (SPEC §6).
const MaxRetryAfter = time.Hour

// GoneReason is why a webhook whose endpoint answered 410 Gone is deactivated.
const GoneReason = "the endpoint answered 410 Gone"

// Verdict is what becomes of the delivery.
type Verdict int

// Verdicts.
const (
	// Delivered: the attempt succeeded.
	Delivered Verdict = iota + 1
	// Retry: the attempt failed and the delivery is due again at Decision.RetryAt.
	Retry
	// Failed: the attempt failed and the delivery is not tried again.
	Failed
	// Cancelled: a retry was due, but the attempt deactivated the webhook.
	Cancelled
)

// Notice is a failure e-mail to send about the webhook; each kind has its own slot of one
// e-mail per webhook per interval.
type Notice string

// Notices.
const (
	// NoticeNone: no e-mail.
	NoticeNone Notice = ""
	// NoticeFailed: a delivery failed for good.
	NoticeFailed Notice = "failed"
	// NoticeDeactivated: the webhook was deactivated.
	NoticeDeactivated Notice = "deactivated"
)

// Attempt is what an attempt came to, with the delivery's retry budget and the webhook's
// retry settings.
type Attempt struct {
	Succeeded bool
	// StatusCode is the answer's HTTP status; 0 when none came.
	StatusCode int
	// RetryAfter is the delay the answer asked for (RetryAfter), 0 for none.
	RetryAfter time.Duration
	// Try is the attempt's number since the delivery's retry budget began (1 for the first;
	// a redelivery starts a new budget).
	Try int
	// RetryCount and RetryIntervalMinutes are the webhook's settings.
	RetryCount           int
	RetryIntervalMinutes int
}

// Decision is what follows an attempt.
type Decision struct {
	Verdict Verdict
	// RetryAt is when the delivery is due again, for Retry.
	RetryAt time.Time
	// Deactivate is why the attempt makes the webhook INACTIVE; "" when it does not.
	Deactivate string
	// Failures is the webhook's failed attempts in a row after this one (set by Given).
	Failures int
	// Notice is the e-mail to send (set by Given).
	Notice Notice
}

// Policy decides what follows an attempt. RetryUnit is how long one minute of
// retryIntervalMinutes lasts (a minute; tests shorten it).
type Policy struct {
	RetryUnit time.Duration
}

// Decide says what follows attempt a, finished at now, before the webhook's standing is
// known: a success is Delivered; a 410 Gone fails the delivery and deactivates the webhook;
// another failure is retried retryIntervalMinutes later (or when Retry-After asks, if later)
// while the retry budget lasts, and Failed after.
func (p Policy) Decide(a Attempt, now time.Time) Decision {
	switch {
	case a.Succeeded:
		return Decision{Verdict: Delivered}
	case a.StatusCode == http.StatusGone:
		return Decision{Verdict: Failed, Deactivate: GoneReason}
	case a.Try <= a.RetryCount:
		wait := time.Duration(max(a.RetryIntervalMinutes, 1)) * p.RetryUnit
		return Decision{Verdict: Retry, RetryAt: now.Add(max(wait, a.RetryAfter))}
	}
	return Decision{Verdict: Failed}
}

// Given completes d with the webhook's standing when the attempt is recorded: its failed
// attempts in a row before this one and whether it is ACTIVE. A success resets the count; a
// failure adds one, and the MaxConsecutiveFailures-th deactivates an ACTIVE webhook,
// cancelling the retry it was due. Only an ACTIVE webhook is deactivated. The e-mail is the
// deactivation's, else the final failure's.
func (d Decision) Given(failuresBefore int, active bool) Decision {
	if d.Verdict == Delivered {
		d.Failures = 0
		return d
	}
	d.Failures = failuresBefore + 1
	if d.Deactivate == "" && d.Failures >= MaxConsecutiveFailures {
		d.Deactivate = fmt.Sprintf("%d consecutive failed attempts", d.Failures)
	}
	if !active {
		d.Deactivate = ""
	}
	switch {
	case d.Deactivate != "":
		if d.Verdict == Retry {
			d.Verdict, d.RetryAt = Cancelled, time.Time{}
		}
		d.Notice = NoticeDeactivated
	case d.Verdict == Failed:
		d.Notice = NoticeFailed
	}
	return d
}

// RetryAfter reads a Retry-After value (seconds or an HTTP date) relative to now; it returns
// zero when absent or unreadable, and at most MaxRetryAfter.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
