package graph

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/storetest"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/herald-hq/herald/worker"
)

// TestTruncatedThroughGraphQL: incidents made through the API are delivered by a running
// worker; the attempt of a body cut at 20,000 characters shows truncated: true in the
// delivery log, the others false.
func TestTruncatedThroughGraphQL(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer receiver.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	wrk, err := worker.New(worker.Config{Store: s, Logger: logger, AllowPrivateTargets: true, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wrk.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	w := setupWebhookWorld(t, s)
	w.c = client.New(NewHandler(&Resolver{Store: s, Sender: wrk.Sender, Logger: logger}, nil))

	in := w.webhookInput(webhook.ScopeService)
	in["urls"] = []string{receiver.URL}
	in["signing"] = map[string]any{"scheme": "NONE"}
	in["bodyTemplate"] = `{"d":"{{incident.description}}"}`
	data, errs := w.do(t, "managerA", `mutation($input: WebhookInput!) { createWebhook(input: $input) { webhook { id } } }`, map[string]any{"input": in})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var created struct {
		CreateWebhook struct{ Webhook struct{ ID string } } `json:"createWebhook"`
	}
	_ = json.Unmarshal(data, &created)

	for description, want := range map[string]bool{strings.Repeat("x", 25000): true, "short": false} {
		data, errs := w.do(t, "managerA", `mutation($s: ID!, $d: String!) { createIncident(input: {serviceId: $s, title: "Disk full", description: $d}) { id } }`,
			map[string]any{"s": w.service.ID, "d": description})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var inc struct {
			CreateIncident struct{ ID string } `json:"createIncident"`
		}
		_ = json.Unmarshal(data, &inc)
		var attempts []struct{ Truncated bool }
		waitFor(t, func() bool {
			data, errs := w.do(t, "managerA", `query($w: ID!) { deliveries(webhookId: $w) { edges { node { incident { id } status attempts { truncated } } } } }`,
				map[string]any{"w": created.CreateWebhook.Webhook.ID})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var got struct {
				Deliveries struct {
					Edges []struct {
						Node struct {
							Incident struct{ ID string }
							Status   string
							Attempts []struct{ Truncated bool }
						}
					}
				}
			}
			_ = json.Unmarshal(data, &got)
			for _, e := range got.Deliveries.Edges {
				if n := e.Node; n.Incident.ID == inc.CreateIncident.ID && n.Status == models.DeliverySucceeded {
					attempts = n.Attempts
					return true
				}
			}
			return false
		})
		if len(attempts) != 1 || attempts[0].Truncated != want {
			t.Errorf("description of %d characters: attempts %+v, want truncated %v", len(description), attempts, want)
		}
	}
}

// TestResponseTruncatedThroughGraphQL: testWebhook against a real receiver answering more than
// 16 KiB shows response.truncated: true with the first 16 KiB of the body.
func TestResponseTruncatedThroughGraphQL(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, models.DialectSQLite)
	receiver := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(rw, strings.Repeat("a", 20000))
	}))
	defer receiver.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	wrk, err := worker.New(worker.Config{Store: s, Logger: logger, AllowPrivateTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	w := setupWebhookWorld(t, s)
	w.c = client.New(NewHandler(&Resolver{Store: s, Sender: wrk.Sender, Logger: logger}, nil))
	in := w.webhookInput(webhook.ScopeService)
	in["urls"] = []string{receiver.URL}
	data, errs := w.do(t, "managerA", `mutation($input: WebhookInput!) { testWebhook(input: $input) { response { body truncated } } }`, map[string]any{"input": in})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got struct {
		TestWebhook struct {
			Response struct {
				Body      string
				Truncated bool
			}
		}
	}
	_ = json.Unmarshal(data, &got)
	if r := got.TestWebhook.Response; len(r.Body) != 16<<10 || !r.Truncated {
		t.Errorf("response body %d bytes, truncated %v; want 16 KiB, true", len(r.Body), r.Truncated)
	}
}
