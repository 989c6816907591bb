package sign_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-hq/herald/models/webhook/sign"
)

// Fixed inputs. The expected values in TestSignKnownAnswers were computed
// outside Go (Python's hmac module) from these.
const (
	fixedHMACSecret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	fixedSWSecret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	fixedSWPrevious = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	fixedID         = "0192f1c2-7d3e-7c4a-9b1e-3f2a1d0c9b8a"
	fixedUnix       = 1764000000
	fixedBody       = `{"event":"incident.created","incident":{"id":"INC-42","title":"Disk \"full\""}}`
	callgooseHeader = "X-Callgoose-Signature"
)

var fixedTime = time.Unix(fixedUnix, 0)

// The receivers below are written from the vendor documents in
// shared/seeds and the Standard Webhooks specification, without the
// package under test.

// callgooseReceiver follows Callgoose: split the header at the comma into
// timestamp and signature, compute hex HMAC-SHA512(key, timestamp + "." +
// body), compare, and check the timestamp is recent.
func callgooseReceiver(secret, headerName string, h http.Header, body []byte, now time.Time, tolerance time.Duration) bool {
	parts := strings.Split(h.Get(headerName), ",")
	if len(parts) != 2 {
		return false
	}
	mac := hmac.New(sha512.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + string(body)))
	if !hmac.Equal([]byte(parts[1]), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return false
	}
	sec, err := strconv.ParseInt(parts[0], 10, 64)
	return err == nil && now.Sub(time.Unix(sec, 0)).Abs() <= tolerance
}

// zendutyReceiver follows Zenduty: base64(HMAC-SHA256(key, body)) in
// X-SIGNATURE.
func zendutyReceiver(secret string, h http.Header, body []byte) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal([]byte(h.Get("X-SIGNATURE")), []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))))
}

// standardReceiver follows the Standard Webhooks specification: key is the
// base64 after "whsec_", content is "id.timestamp.body", any of the
// space-separated "v1,sig" entries may match.
func standardReceiver(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > tolerance {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(h.Get("webhook-signature"), " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

func toHTTP(hs []sign.Header) http.Header {
	h := http.Header{}
	for _, x := range hs {
		h.Add(x.Name, x.Value)
	}
	return h
}

func TestSignKnownAnswers(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		scheme  string
		secrets []string
		id      string
		body    string
		ts      time.Time
		want    []sign.Header
	}{
		"hmac sha512": {
			scheme: sign.HMACSHA512, secrets: []string{fixedHMACSecret}, id: fixedID, body: fixedBody, ts: fixedTime,
			want: []sign.Header{
				{Name: "webhook-id", Value: fixedID},
				{Name: callgooseHeader, Value: "1764000000,90a00c4fe77e04d30f2d42691c89f673d691bdf7ea81a41ae93cbe2e1b451c696b054a09059db4b3698a1e59efb8a34fedc8d480cb2042f0f87492b676360c46"},
			},
		},
		"hmac sha512 uses the current secret only": {
			scheme: sign.HMACSHA512, secrets: []string{fixedHMACSecret, "0000000000000000000000000000000000"}, id: fixedID, body: fixedBody, ts: fixedTime,
			want: []sign.Header{
				{Name: "webhook-id", Value: fixedID},
				{Name: callgooseHeader, Value: "1764000000,90a00c4fe77e04d30f2d42691c89f673d691bdf7ea81a41ae93cbe2e1b451c696b054a09059db4b3698a1e59efb8a34fedc8d480cb2042f0f87492b676360c46"},
			},
		},
		"hmac sha256": {
			scheme: sign.HMACSHA256, secrets: []string{fixedHMACSecret}, id: fixedID, body: fixedBody, ts: fixedTime,
			want: []sign.Header{
				{Name: "webhook-id", Value: fixedID},
				{Name: "X-SIGNATURE", Value: "QbK/60fhpdWAIUndf1Uf337v8ilZD4wplvZRSW2T5W4="},
			},
		},
		"standard webhooks specification vector": {
			scheme: sign.StandardWebhooks, secrets: []string{fixedSWSecret}, id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
			body: `{"test": 2432232314}`, ts: time.Unix(1614265330, 0),
			want: []sign.Header{
				{Name: "webhook-id", Value: "msg_p5jXN8AQM9LWM0D4loKWxJek"},
				{Name: "webhook-timestamp", Value: "1614265330"},
				{Name: "webhook-signature", Value: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
			},
		},
		"standard webhooks after rotation": {
			scheme: sign.StandardWebhooks, secrets: []string{fixedSWSecret, fixedSWPrevious}, id: fixedID, body: fixedBody, ts: fixedTime,
			want: []sign.Header{
				{Name: "webhook-id", Value: fixedID},
				{Name: "webhook-timestamp", Value: "1764000000"},
				{Name: "webhook-signature", Value: "v1,KGmx2HiJt+kZt/F4CPftH31jECdbb3+2CpYZy0gTJY4= v1,6evu198+EAK7EjAMg0geifRooMdhcZ3yUmAvbpLoR2s="},
			},
		},
		"none sends the id only": {
			scheme: sign.None, id: fixedID, body: fixedBody, ts: fixedTime,
			want: []sign.Header{{Name: "webhook-id", Value: fixedID}},
		},
		"no id, no id header": {
			scheme: sign.HMACSHA256, secrets: []string{fixedHMACSecret}, body: fixedBody, ts: fixedTime,
			want: []sign.Header{{Name: "X-SIGNATURE", Value: "QbK/60fhpdWAIUndf1Uf337v8ilZD4wplvZRSW2T5W4="}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := sign.Sign(tc.scheme, callgooseHeader, tc.secrets, tc.id, tc.ts, []byte(tc.body))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Sign = %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("header %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestSignVerifiedByIndependentReceivers(t *testing.T) {
	t.Parallel()
	bodies := map[string][]byte{
		"empty":  nil,
		"json":   []byte(fixedBody),
		"binary": {0, 1, 2, 0xff, '\n', '.', ','},
		"large":  bytes.Repeat([]byte("x"), 20000),
	}
	tests := map[string]struct {
		scheme  string
		receive func(secret string, h http.Header, body []byte, now time.Time) bool
	}{
		"hmac sha512": {sign.HMACSHA512, func(secret string, h http.Header, body []byte, now time.Time) bool {
			return callgooseReceiver(secret, callgooseHeader, h, body, now, 5*time.Minute)
		}},
		"hmac sha256": {sign.HMACSHA256, func(secret string, h http.Header, body []byte, _ time.Time) bool {
			return zendutyReceiver(secret, h, body)
		}},
		"standard webhooks": {sign.StandardWebhooks, func(secret string, h http.Header, body []byte, now time.Time) bool {
			return standardReceiver(secret, h, body, now, 5*time.Minute)
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			secret, err := sign.GenerateSecret(tc.scheme)
			if err != nil {
				t.Fatal(err)
			}
			for bodyName, body := range bodies {
				hs, err := sign.Sign(tc.scheme, callgooseHeader, []string{secret}, fixedID, fixedTime, body)
				if err != nil {
					t.Fatalf("%s: Sign: %v", bodyName, err)
				}
				h := toHTTP(hs)
				if !tc.receive(secret, h, body, fixedTime.Add(time.Minute)) {
					t.Errorf("%s: receiver rejected %v", bodyName, h)
				}
				if err := sign.Verify(tc.scheme, callgooseHeader, secret, h, body, fixedTime.Add(time.Minute), 5*time.Minute); err != nil {
					t.Errorf("%s: Verify: %v", bodyName, err)
				}
				if got := h.Get("webhook-id"); got != fixedID {
					t.Errorf("%s: webhook-id = %q, want %q", bodyName, got, fixedID)
				}
			}
		})
	}
}

func TestStandardWebhooksOfficialLibrary(t *testing.T) {
	t.Parallel()
	current, err := sign.GenerateSecret(sign.StandardWebhooks)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(fixedBody)
	now := time.Now()
	hs, err := sign.Sign(sign.StandardWebhooks, "", []string{current, fixedSWPrevious}, fixedID, now, body)
	if err != nil {
		t.Fatal(err)
	}
	h := toHTTP(hs)
	tests := map[string]struct {
		secret string
		valid  bool
	}{
		"current secret":  {current, true},
		"previous secret": {fixedSWPrevious, true},
		"other secret":    {"whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wh, err := standardwebhooks.NewWebhook(tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(body, h); (err == nil) != tc.valid {
				t.Errorf("official Verify = %v, want valid %v", err, tc.valid)
			}
			if err := wh.Verify([]byte(fixedBody+" "), h); err == nil {
				t.Error("official Verify accepted a changed body")
			}
			single, err := sign.Sign(sign.StandardWebhooks, "", []string{tc.secret}, fixedID, now, body)
			if err != nil {
				t.Fatal(err)
			}
			want, err := wh.Sign(fixedID, now, body)
			if err != nil {
				t.Fatal(err)
			}
			if got := toHTTP(single).Get("webhook-signature"); got != want {
				t.Errorf("webhook-signature = %q, official library signs %q", got, want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		scheme        string
		current, prev string
		prevValid     bool
	}{
		"standard webhooks signs with both": {sign.StandardWebhooks, fixedSWSecret, fixedSWPrevious, true},
		"hmac sha512 has room for one":      {sign.HMACSHA512, fixedHMACSecret, strings.Repeat("p", 32), false},
		"hmac sha256 has room for one":      {sign.HMACSHA256, fixedHMACSecret, strings.Repeat("p", 32), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := []byte(fixedBody)
			hs, err := sign.Sign(tc.scheme, callgooseHeader, []string{tc.current, tc.prev}, fixedID, fixedTime, body)
			if err != nil {
				t.Fatal(err)
			}
			h := toHTTP(hs)
			if err := sign.Verify(tc.scheme, callgooseHeader, tc.current, h, body, fixedTime, time.Minute); err != nil {
				t.Errorf("current secret: %v", err)
			}
			err = sign.Verify(tc.scheme, callgooseHeader, tc.prev, h, body, fixedTime, time.Minute)
			if (err == nil) != tc.prevValid {
				t.Errorf("previous secret: Verify = %v, want valid %v", err, tc.prevValid)
			}
			if tc.scheme == sign.StandardWebhooks && !standardReceiver(tc.prev, h, body, fixedTime, time.Minute) {
				t.Error("previous secret rejected by the independent receiver")
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	body := []byte(fixedBody)
	signed := func(scheme, secret string) http.Header {
		hs, err := sign.Sign(scheme, callgooseHeader, []string{secret}, fixedID, fixedTime, body)
		if err != nil {
			t.Fatal(err)
		}
		return toHTTP(hs)
	}
	secretOf := map[string]string{sign.HMACSHA512: fixedHMACSecret, sign.HMACSHA256: fixedHMACSecret, sign.StandardWebhooks: fixedSWSecret}
	tests := map[string]struct {
		scheme string
		change func(h http.Header) []byte // returns the body to verify
		secret string                     // overrides the signing secret
		now    time.Time
		want   error
	}{
		"sha512 body changed":         {scheme: sign.HMACSHA512, change: func(http.Header) []byte { return append(bytes.Clone(body), ' ') }, want: sign.ErrNoMatch},
		"sha512 timestamp too old":    {scheme: sign.HMACSHA512, now: fixedTime.Add(6 * time.Minute), want: sign.ErrTimestamp},
		"sha512 timestamp too new":    {scheme: sign.HMACSHA512, now: fixedTime.Add(-6 * time.Minute), want: sign.ErrTimestamp},
		"sha512 timestamp replaced":   {scheme: sign.HMACSHA512, change: replaceTimestamp(callgooseHeader, "1764000001"), want: sign.ErrNoMatch},
		"sha512 wrong secret":         {scheme: sign.HMACSHA512, secret: strings.Repeat("a", 64), want: sign.ErrNoMatch},
		"sha512 missing header":       {scheme: sign.HMACSHA512, change: del(callgooseHeader), want: sign.ErrMissingHeader},
		"sha512 no comma":             {scheme: sign.HMACSHA512, change: set(callgooseHeader, "1764000000"), want: sign.ErrMalformedHeader},
		"sha512 not hex":              {scheme: sign.HMACSHA512, change: set(callgooseHeader, "1764000000,"+strings.Repeat("z", 128)), want: sign.ErrMalformedHeader},
		"sha512 short signature":      {scheme: sign.HMACSHA512, change: set(callgooseHeader, "1764000000,00ff"), want: sign.ErrMalformedHeader},
		"sha512 bad timestamp":        {scheme: sign.HMACSHA512, change: set(callgooseHeader, "-1,00"), want: sign.ErrMalformedHeader},
		"sha256 body changed":         {scheme: sign.HMACSHA256, change: func(http.Header) []byte { return body[1:] }, want: sign.ErrNoMatch},
		"sha256 wrong secret":         {scheme: sign.HMACSHA256, secret: strings.Repeat("a", 64), want: sign.ErrNoMatch},
		"sha256 missing header":       {scheme: sign.HMACSHA256, change: del("X-SIGNATURE"), want: sign.ErrMissingHeader},
		"sha256 not base64":           {scheme: sign.HMACSHA256, change: set("X-SIGNATURE", "%%%"), want: sign.ErrMalformedHeader},
		"standard body changed":       {scheme: sign.StandardWebhooks, change: func(http.Header) []byte { return []byte("{}") }, want: sign.ErrNoMatch},
		"standard id changed":         {scheme: sign.StandardWebhooks, change: set("webhook-id", "other"), want: sign.ErrNoMatch},
		"standard timestamp too old":  {scheme: sign.StandardWebhooks, now: fixedTime.Add(5*time.Minute + time.Second), want: sign.ErrTimestamp},
		"standard timestamp too new":  {scheme: sign.StandardWebhooks, now: fixedTime.Add(-5*time.Minute - time.Second), want: sign.ErrTimestamp},
		"standard timestamp replaced": {scheme: sign.StandardWebhooks, change: set("webhook-timestamp", "1764000001"), want: sign.ErrNoMatch},
		"standard wrong secret":       {scheme: sign.StandardWebhooks, secret: fixedSWPrevious, want: sign.ErrNoMatch},
		"standard other version":      {scheme: sign.StandardWebhooks, change: versionTo("v2"), want: sign.ErrNoMatch},
		"standard missing id":         {scheme: sign.StandardWebhooks, change: del("webhook-id"), want: sign.ErrMissingHeader},
		"standard missing signature":  {scheme: sign.StandardWebhooks, change: del("webhook-signature"), want: sign.ErrMissingHeader},
		"standard bad timestamp":      {scheme: sign.StandardWebhooks, change: set("webhook-timestamp", "soon"), want: sign.ErrMalformedHeader},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := signed(tc.scheme, secretOf[tc.scheme])
			got := body
			if tc.change != nil {
				if b := tc.change(h); b != nil {
					got = b
				}
			}
			secret := secretOf[tc.scheme]
			if tc.secret != "" {
				secret = tc.secret
			}
			now := fixedTime
			if !tc.now.IsZero() {
				now = tc.now
			}
			if err := sign.Verify(tc.scheme, callgooseHeader, secret, h, got, now, 5*time.Minute); !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func del(name string) func(http.Header) []byte {
	return func(h http.Header) []byte { h.Del(name); return nil }
}

func set(name, value string) func(http.Header) []byte {
	return func(h http.Header) []byte { h.Set(name, value); return nil }
}

func replaceTimestamp(name, ts string) func(http.Header) []byte {
	return func(h http.Header) []byte {
		_, sig, _ := strings.Cut(h.Get(name), ",")
		h.Set(name, ts+","+sig)
		return nil
	}
}

func versionTo(v string) func(http.Header) []byte {
	return func(h http.Header) []byte {
		h.Set("webhook-signature", strings.Replace(h.Get("webhook-signature"), "v1,", v+",", 1))
		return nil
	}
}

func TestVerifyToleranceDisabled(t *testing.T) {
	t.Parallel()
	hs, err := sign.Sign(sign.StandardWebhooks, "", []string{fixedSWSecret}, fixedID, fixedTime, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.Verify(sign.StandardWebhooks, "", fixedSWSecret, toHTTP(hs), nil, fixedTime.Add(1000*time.Hour), 0); err != nil {
		t.Errorf("Verify with tolerance 0 = %v, want nil", err)
	}
}

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		scheme string
		check  func(string) bool
	}{
		"standard webhooks": {sign.StandardWebhooks, func(s string) bool {
			b64, ok := strings.CutPrefix(s, "whsec_")
			key, err := base64.StdEncoding.DecodeString(b64)
			return ok && err == nil && len(key) == 32
		}},
		"hmac sha512": {sign.HMACSHA512, isHex64},
		"hmac sha256": {sign.HMACSHA256, isHex64},
		"none":        {sign.None, func(s string) bool { return s == "" }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, err := sign.GenerateSecret(tc.scheme)
			if err != nil {
				t.Fatal(err)
			}
			b, err := sign.GenerateSecret(tc.scheme)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(a) {
				t.Errorf("GenerateSecret = %q, wrong format", a)
			}
			if tc.scheme != sign.None && a == b {
				t.Errorf("two secrets are equal: %q", a)
			}
			if err := sign.ValidateSecret(tc.scheme, a); err != nil {
				t.Errorf("ValidateSecret(GenerateSecret()) = %v", err)
			}
		})
	}
	if _, err := sign.GenerateSecret("MD5"); !errors.Is(err, sign.ErrUnknownScheme) {
		t.Errorf("GenerateSecret(MD5) = %v, want ErrUnknownScheme", err)
	}
}

func isHex64(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && s == strings.ToLower(s)
}

func TestValidateSecret(t *testing.T) {
	t.Parallel()
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, n)) }
	tests := map[string]struct {
		scheme, secret string
		want           error
	}{
		"standard 24 bytes":        {sign.StandardWebhooks, "whsec_" + b64(24), nil},
		"standard 64 bytes":        {sign.StandardWebhooks, "whsec_" + b64(64), nil},
		"standard 23 bytes":        {sign.StandardWebhooks, "whsec_" + b64(23), sign.ErrInvalidSecret},
		"standard 65 bytes":        {sign.StandardWebhooks, "whsec_" + b64(65), sign.ErrInvalidSecret},
		"standard without prefix":  {sign.StandardWebhooks, b64(32), sign.ErrInvalidSecret},
		"standard url base64":      {sign.StandardWebhooks, "whsec_" + strings.Repeat("_-", 22), sign.ErrInvalidSecret},
		"standard empty":           {sign.StandardWebhooks, "", sign.ErrInvalidSecret},
		"hmac 16 characters":       {sign.HMACSHA512, strings.Repeat("k", 16), nil},
		"hmac 256 characters":      {sign.HMACSHA256, strings.Repeat("k", 256), nil},
		"hmac 15 characters":       {sign.HMACSHA512, strings.Repeat("k", 15), sign.ErrInvalidSecret},
		"hmac 257 characters":      {sign.HMACSHA256, strings.Repeat("k", 257), sign.ErrInvalidSecret},
		"hmac with a space":        {sign.HMACSHA256, "0123456789 abcdef", sign.ErrInvalidSecret},
		"hmac with a newline":      {sign.HMACSHA512, "0123456789abcdef\n", sign.ErrInvalidSecret},
		"hmac non-ascii":           {sign.HMACSHA512, "0123456789abcdeé", sign.ErrInvalidSecret},
		"none empty":               {sign.None, "", nil},
		"none with a secret":       {sign.None, "x", sign.ErrInvalidSecret},
		"unknown scheme":           {"MD5", "x", sign.ErrUnknownScheme},
		"hmac with standard chars": {sign.HMACSHA512, fixedSWSecret, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := sign.ValidateSecret(tc.scheme, tc.secret); !errors.Is(err, tc.want) {
				t.Errorf("ValidateSecret = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestValidateHeaderName(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		scheme, name string
		want         error
	}{
		"token":                       {sign.HMACSHA512, "X-Callgoose-Signature", nil},
		"empty":                       {sign.HMACSHA512, "", sign.ErrInvalidHeaderName},
		"space":                       {sign.HMACSHA512, "X Signature", sign.ErrInvalidHeaderName},
		"colon":                       {sign.HMACSHA512, "X-Sig:", sign.ErrInvalidHeaderName},
		"newline":                     {sign.HMACSHA512, "X-Sig\r\nHost", sign.ErrInvalidHeaderName},
		"reserved id":                 {sign.HMACSHA512, "Webhook-Id", sign.ErrInvalidHeaderName},
		"reserved host":               {sign.HMACSHA512, "HOST", sign.ErrInvalidHeaderName},
		"reserved signature":          {sign.HMACSHA512, "x-signature", sign.ErrInvalidHeaderName},
		"reserved user-agent":         {sign.HMACSHA512, "user-agent", sign.ErrInvalidHeaderName},
		"reserved content-type":       {sign.HMACSHA512, "Content-Type", sign.ErrInvalidHeaderName},
		"reserved authorization":      {sign.HMACSHA512, "AUTHORIZATION", sign.ErrInvalidHeaderName},
		"reserved content-length":     {sign.HMACSHA512, "Content-Length", sign.ErrInvalidHeaderName},
		"reserved transfer-encoding":  {sign.HMACSHA512, "transfer-encoding", sign.ErrInvalidHeaderName},
		"reserved connection":         {sign.HMACSHA512, "Connection", sign.ErrInvalidHeaderName},
		"reserved keep-alive":         {sign.HMACSHA512, "Keep-Alive", sign.ErrInvalidHeaderName},
		"reserved proxy-connection":   {sign.HMACSHA512, "Proxy-Connection", sign.ErrInvalidHeaderName},
		"reserved te":                 {sign.HMACSHA512, "te", sign.ErrInvalidHeaderName},
		"reserved trailer":            {sign.HMACSHA512, "Trailer", sign.ErrInvalidHeaderName},
		"reserved upgrade":            {sign.HMACSHA512, "Upgrade", sign.ErrInvalidHeaderName},
		"reserved timestamp":          {sign.HMACSHA512, "webhook-timestamp", sign.ErrInvalidHeaderName},
		"reserved standard signature": {sign.HMACSHA512, "WEBHOOK-SIGNATURE", sign.ErrInvalidHeaderName},
		"prefix of a reserved one":    {sign.HMACSHA512, "X-User-Agent", nil},
		"ignored by sha256":           {sign.HMACSHA256, "", nil},
		"ignored by none":             {sign.None, "X Y", nil},
		"unknown scheme":              {"MD5", "X", sign.ErrUnknownScheme},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := sign.ValidateHeaderName(tc.scheme, tc.name); !errors.Is(err, tc.want) {
				t.Errorf("ValidateHeaderName = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		scheme, header string
		secrets        []string
		id             string
		want           error
	}{
		"unknown scheme":          {"MD5", "", []string{fixedHMACSecret}, fixedID, sign.ErrUnknownScheme},
		"no secret":               {sign.HMACSHA256, "", nil, fixedID, sign.ErrNoSecret},
		"short hmac secret":       {sign.HMACSHA256, "", []string{"short"}, fixedID, sign.ErrInvalidSecret},
		"bad header name":         {sign.HMACSHA512, "X Sig", []string{fixedHMACSecret}, fixedID, sign.ErrInvalidHeaderName},
		"standard without id":     {sign.StandardWebhooks, "", []string{fixedSWSecret}, "", sign.ErrMissingID},
		"standard bad secret":     {sign.StandardWebhooks, "", []string{"whsec_!!"}, fixedID, sign.ErrInvalidSecret},
		"standard bad old secret": {sign.StandardWebhooks, "", []string{fixedSWSecret, fixedHMACSecret}, fixedID, sign.ErrInvalidSecret},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := sign.Sign(tc.scheme, tc.header, tc.secrets, tc.id, fixedTime, []byte(fixedBody)); !errors.Is(err, tc.want) {
				t.Errorf("Sign = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		scheme string
		want   []string
	}{
		"hmac sha512":       {sign.HMACSHA512, []string{callgooseHeader}},
		"hmac sha256":       {sign.HMACSHA256, []string{"X-SIGNATURE"}},
		"standard webhooks": {sign.StandardWebhooks, []string{"webhook-signature"}},
		"none":              {sign.None, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := sign.Redacted(tc.scheme, callgooseHeader)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Redacted = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzValidateSecret(f *testing.F) {
	for _, s := range []string{fixedSWSecret, fixedHMACSecret, "", "whsec_", "whsec_====", "whsec_" + strings.Repeat("A", 200), "é"} {
		for _, scheme := range []string{sign.None, sign.HMACSHA512, sign.HMACSHA256, sign.StandardWebhooks} {
			f.Add(scheme, s)
		}
	}
	f.Fuzz(func(t *testing.T, scheme, secret string) {
		if sign.ValidateSecret(scheme, secret) != nil {
			return
		}
		// A secret that validates signs, and its signature verifies.
		hs, err := sign.Sign(scheme, callgooseHeader, []string{secret}, fixedID, fixedTime, []byte(fixedBody))
		if err != nil {
			t.Fatalf("valid secret %q does not sign: %v", secret, err)
		}
		if err := sign.Verify(scheme, callgooseHeader, secret, toHTTP(hs), []byte(fixedBody), fixedTime, time.Minute); err != nil {
			t.Fatalf("valid secret %q does not verify: %v", secret, err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(sign.HMACSHA512, "1764000000,00ff", "", "", []byte(fixedBody))
	f.Add(sign.HMACSHA256, "QbK/60fhpdWAIUndf1Uf337v8ilZD4wplvZRSW2T5W4=", "", "", []byte(fixedBody))
	f.Add(sign.StandardWebhooks, "v1,KGmx2HiJt+kZt/F4CPftH31jECdbb3+2CpYZy0gTJY4= v2,x v1,", fixedID, "1764000000", []byte(fixedBody))
	f.Add(sign.StandardWebhooks, "v1,,,, ", "id", "99999999999999999999", []byte{})
	f.Fuzz(func(t *testing.T, scheme, signature, id, ts string, body []byte) {
		h := http.Header{}
		h.Set(callgooseHeader, signature)
		h.Set("X-SIGNATURE", signature)
		h.Set("webhook-signature", signature)
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		secret := map[string]string{sign.HMACSHA512: fixedHMACSecret, sign.HMACSHA256: fixedHMACSecret, sign.StandardWebhooks: fixedSWSecret}[scheme]
		err := sign.Verify(scheme, callgooseHeader, secret, h, body, fixedTime, time.Hour)
		if err == nil && scheme != sign.None {
			// Forging a signature by chance means the check is broken.
			hs, serr := sign.Sign(scheme, callgooseHeader, []string{secret}, id, fixedTime, body)
			if serr != nil || !strings.Contains(signature, toHTTP(hs).Get(sign.Redacted(scheme, callgooseHeader)[0])) {
				t.Fatalf("Verify accepted %q for %s", signature, scheme)
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte(`{"k":"v"}`), 1024/9)
	tests := map[string][]string{
		sign.HMACSHA512:                 {fixedHMACSecret},
		sign.HMACSHA256:                 {fixedHMACSecret},
		sign.StandardWebhooks:           {fixedSWSecret},
		sign.StandardWebhooks + "/2key": {fixedSWSecret, fixedSWPrevious},
	}
	for name, secrets := range tests {
		scheme, _, _ := strings.Cut(name, "/")
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := sign.Sign(scheme, callgooseHeader, secrets, fixedID, fixedTime, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestHeadersAreWhatSignWrites: Headers, which validation reserves, names exactly the headers
// Sign writes for each scheme, and Redacted hides a subset of them.
func TestHeadersAreWhatSignWrites(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{sign.None, sign.HMACSHA512, sign.HMACSHA256, sign.StandardWebhooks} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			if !sign.Known(scheme) {
				t.Fatalf("Known(%s) = false", scheme)
			}
			headerName := ""
			if sign.TakesHeaderName(scheme) {
				headerName = "X-Herald-Signature"
			}
			var secrets []string
			if scheme != sign.None {
				secret, err := sign.GenerateSecret(scheme)
				if err != nil {
					t.Fatal(err)
				}
				secrets = []string{secret}
			}
			written, err := sign.Sign(scheme, headerName, secrets, "msg_1", fixedTime, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range written {
				got = append(got, strings.ToLower(h.Name))
			}
			if want := sign.Headers(scheme, headerName); !slices.Equal(got, want) {
				t.Errorf("Sign writes %v, Headers says %v", got, want)
			}
			for _, r := range sign.Redacted(scheme, headerName) {
				if !slices.Contains(got, strings.ToLower(r)) {
					t.Errorf("Redacted names %s, which Sign does not write", r)
				}
			}
		})
	}
	if sign.Known("HMAC_MD5") {
		t.Error(`Known("HMAC_MD5") = true`)
	}
}
