package worker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/worker"
)

// TestTestChoosesURL: a test send goes to the URL asked for, which must be one of the
// webhook's, or to the first one when none is asked for.
func TestTestChoosesURL(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	first, second := newReceiver(t, nil), newReceiver(t, nil)
	hook := newHook(t, s, first.URL, func(h *models.Webhook) {
		h.URLs = models.NewJSON([]string{first.URL + "/one", second.URL + "/two"})
	})
	w, err := worker.New(worker.Config{Store: s, Logger: testLogger(t), AllowPrivateTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	a, err := w.TestURL(ctx, hook, nil, webhook.EventCreated, second.URL+"/two")
	if err != nil {
		t.Fatal(err)
	}
	if a.Outcome != models.AttemptSucceeded || a.Request.V.URL != second.URL+"/two" || first.count() != 0 || second.count() != 1 {
		t.Errorf("test of the second URL: attempt to %s (%s), requests %d and %d", a.Request.V.URL, a.Outcome, first.count(), second.count())
	}

	if _, err := w.TestURL(ctx, hook, nil, webhook.EventCreated, ""); err != nil {
		t.Fatal(err)
	}
	if first.count() != 1 || second.count() != 1 {
		t.Errorf("test without a URL: requests %d and %d, want the first URL's", first.count(), second.count())
	}

	var before int64
	s.DB().Model(&models.Attempt{}).Count(&before)
	for _, target := range []string{second.URL + "/other", second.URL + "/two/", "nope"} {
		_, err := w.TestURL(ctx, hook, nil, webhook.EventCreated, target)
		var de *models.Error
		if !errors.As(err, &de) || de.Code != models.CodeValidation || de.Field != "url" {
			t.Errorf("test of %q, not a URL of the webhook: %v, want VALIDATION on url", target, err)
		}
	}
	var after int64
	s.DB().Model(&models.Attempt{}).Count(&after)
	if after != before || first.count() != 1 || second.count() != 1 {
		t.Errorf("a refused test sent or stored something: %d attempts after %d, requests %d and %d", after, before, first.count(), second.count())
	}
}
