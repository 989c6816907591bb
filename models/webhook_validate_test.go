package models_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models"
)

// TestValidateWebhookAccepts lists forms that work when sent and must stay accepted next to
// the refusals of TestCreateWebhookValidation.
func TestValidateWebhookAccepts(t *testing.T) {
	t.Parallel()
	wantValid(t, map[string]func(w *models.WebhookSpec){
		"url IPv6 literal":    func(w *models.WebhookSpec) { w.URLs = []string{"http://[::1]:8080/hook"} },
		"url IDN host":        func(w *models.WebhookSpec) { w.URLs = []string{"https://bücher.example/hook"} },
		"url punycode host":   func(w *models.WebhookSpec) { w.URLs = []string{"https://xn--bcher-kva.example/hook"} },
		"url query":           func(w *models.WebhookSpec) { w.URLs = []string{"https://e.com/hook?a=1&b=x%20y&c=ü"} },
		"url encoded space":   func(w *models.WebhookSpec) { w.URLs = []string{"https://e.com/a%20b"} },
		"url non-ASCII path":  func(w *models.WebhookSpec) { w.URLs = []string{"https://e.com/grüße"} },
		"url empty port":      func(w *models.WebhookSpec) { w.URLs = []string{"http://e.com:/hook"} },
		"url ports 1, 65535":  func(w *models.WebhookSpec) { w.URLs = []string{"http://e.com:1/", "https://e.com:65535/"} },
		"url port zero-led":   func(w *models.WebhookSpec) { w.URLs = []string{"http://e.com:0080/"} },
		"url uppercase":       func(w *models.WebhookSpec) { w.URLs = []string{"HTTPS://E.COM/Hook"} },
		"header value spaces": func(w *models.WebhookSpec) { w.Headers = []models.KV{{Name: "X-A", Value: "a b\tc"}} },
		"header value UTF-8":  func(w *models.WebhookSpec) { w.Headers = []models.KV{{Name: "X-A", Value: "Grüße"}} },
		"header value empty":  func(w *models.WebhookSpec) { w.Headers = []models.KV{{Name: "X-A", Value: ""}} },
		"header content-type": func(w *models.WebhookSpec) {
			w.Headers = []models.KV{{Name: "Content-Type", Value: "application/cloudevents+json"}}
		},
		"header authorization without auth": func(w *models.WebhookSpec) {
			w.Headers = []models.KV{{Name: "Authorization", Value: "Token abc"}}
		},
		"header like a reserved one": func(w *models.WebhookSpec) {
			w.Headers = []models.KV{{Name: "X-User-Agent", Value: "a"}, {Name: "X-Forwarded-Host", Value: "b"}}
		},
		"api key in authorization": func(w *models.WebhookSpec) {
			w.Auth = models.AuthSpec{Type: models.AuthAPIKey, Key: "Authorization", Value: "Token abc", Placement: models.PlacementHeader}
		},
		"api key value with space": func(w *models.WebhookSpec) {
			w.Auth = models.AuthSpec{Type: models.AuthAPIKey, Key: "X-Key", Value: "k ey", Placement: models.PlacementHeader}
		},
		"api key user-agent in query": func(w *models.WebhookSpec) {
			w.Auth = models.AuthSpec{Type: models.AuthAPIKey, Key: "User-Agent", Value: "v", Placement: models.PlacementQuery}
		},
		"hmac512 own header": func(w *models.WebhookSpec) {
			w.Signing = models.SigningSpec{Scheme: "HMAC_SHA512", HeaderName: "X-Herald-Signature"}
		},
	})
}

// wantValid checks that each change to a valid webhook input leaves it valid.
func wantValid(t *testing.T, tests map[string]func(w *models.WebhookSpec)) {
	t.Helper()
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec := validWebhookSpec("team")
			change(&spec)
			if err := models.ValidateWebhook(&spec); err != nil {
				t.Fatalf("ValidateWebhook = %v, want nil", err)
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
		spec.Headers = []models.KV{{Name: "X-A", Value: value}}
		accepted := models.ValidateWebhook(&spec) == nil

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
