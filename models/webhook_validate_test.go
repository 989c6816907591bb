package models_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models/webhook"
)

// TestValidateWebhookAccepts lists forms that work when sent and must stay accepted next to
// the refusals of TestCreateWebhookValidation.
func TestValidateWebhookAccepts(t *testing.T) {
	t.Parallel()
	wantValid(t, map[string]func(w *webhook.Spec){
		"url IPv6 literal":    func(w *webhook.Spec) { w.URLs = []string{"http://[::1]:8080/hook"} },
		"url IDN host":        func(w *webhook.Spec) { w.URLs = []string{"https://bücher.example/hook"} },
		"url punycode host":   func(w *webhook.Spec) { w.URLs = []string{"https://xn--bcher-kva.example/hook"} },
		"url query":           func(w *webhook.Spec) { w.URLs = []string{"https://e.com/hook?a=1&b=x%20y&c=ü"} },
		"url encoded space":   func(w *webhook.Spec) { w.URLs = []string{"https://e.com/a%20b"} },
		"url non-ASCII path":  func(w *webhook.Spec) { w.URLs = []string{"https://e.com/grüße"} },
		"url empty port":      func(w *webhook.Spec) { w.URLs = []string{"http://e.com:/hook"} },
		"url ports 1, 65535":  func(w *webhook.Spec) { w.URLs = []string{"http://e.com:1/", "https://e.com:65535/"} },
		"url port zero-led":   func(w *webhook.Spec) { w.URLs = []string{"http://e.com:0080/"} },
		"url uppercase":       func(w *webhook.Spec) { w.URLs = []string{"HTTPS://E.COM/Hook"} },
		"header value spaces": func(w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "X-A", Value: "a b\tc"}} },
		"header value UTF-8":  func(w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "X-A", Value: "Grüße"}} },
		"header value empty":  func(w *webhook.Spec) { w.Headers = []webhook.KV{{Name: "X-A", Value: ""}} },
		"header content-type": func(w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "Content-Type", Value: "application/cloudevents+json"}}
		},
		"header authorization without auth": func(w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "Authorization", Value: "Token abc"}}
		},
		"header like a reserved one": func(w *webhook.Spec) {
			w.Headers = []webhook.KV{{Name: "X-User-Agent", Value: "a"}, {Name: "X-Forwarded-Host", Value: "b"}}
		},
		"api key in authorization": func(w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "Authorization", Value: "Token abc", Placement: webhook.PlacementHeader}
		},
		"api key value with space": func(w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "X-Key", Value: "k ey", Placement: webhook.PlacementHeader}
		},
		"api key user-agent in query": func(w *webhook.Spec) {
			w.Auth = webhook.Auth{Type: webhook.AuthAPIKey, Key: "User-Agent", Value: "v", Placement: webhook.PlacementQuery}
		},
		"hmac512 own header": func(w *webhook.Spec) {
			w.Signing = webhook.Signing{Scheme: "HMAC_SHA512", HeaderName: "X-Herald-Signature"}
		},
	})
}

// wantValid checks that each change to a valid webhook input leaves it valid.
func wantValid(t *testing.T, tests map[string]func(w *webhook.Spec)) {
	t.Helper()
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec := validWebhookSpec("team")
			change(&spec)
			if err := webhook.Validate(&spec); err != nil {
				t.Fatalf("webhook.Validate = %v, want nil", err)
			}
		})
	}
}

// TestValidateWebhookHeaderValueAsNetHTTP checks every byte in a header value against what
// net/http itself accepts: a value is refused exactly when the client would refuse to send it.
func TestValidateWebhookHeaderValueAsNetHTTP(t *testing.T) {
	t.Parallel()
	errDial := errors.New("dial reached")
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errDial },
	}}
	for b := range 256 {
		value := "a" + string([]byte{byte(b)}) + "b"
		spec := validWebhookSpec("team")
		spec.Headers = []webhook.KV{{Name: "X-A", Value: value}}
		accepted := webhook.Validate(&spec) == nil

		req, err := http.NewRequest(http.MethodPost, "http://e.com/", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-A", value)
		_, err = client.Do(req)
		if sent := errors.Is(err, errDial); accepted != sent {
			t.Errorf("byte %#x: accepted %v, net/http sends %v (%v)", b, accepted, sent, err)
		}
	}
}
