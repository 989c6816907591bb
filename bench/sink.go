package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sink is the webhook receiver: it verifies each Standard Webhooks signature and records
// arrivals by webhook-id (the delivery id) and by (alert, webhook).
type sink struct {
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	keys     map[string][]byte // path index ("0", "1", …, "ceiling") → HMAC key
	byID     map[string]int    // webhook-id → arrivals
	first    map[arrivalKey]bool
	arrivals []arrival // first arrival of each expected delivery, Herald phase only
	last     time.Time
	badSig   int
	badBody  int
}

// arrival is the first arrival of one expected delivery: when its alert was sent (from the
// title) and how long after that it arrived.
type arrival struct {
	Sent    time.Time
	Latency time.Duration
}

// arrivalKey names one expected delivery: alert sequence number and webhook index.
type arrivalKey struct {
	Seq  int64
	Hook int
}

// startSink listens on a random loopback port with keep-alive on.
func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln, keys: map[string][]byte{}, byID: map[string]int{}, first: map[arrivalKey]bool{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the sink's base URL.
func (s *sink) URL() string { return "http://" + s.ln.Addr().String() }

// addKey registers the Standard Webhooks secret of the webhook posting to /h/name.
func (s *sink) addKey(name, secret string) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.keys[name] = key
	s.mu.Unlock()
	return nil
}

// ServeHTTP verifies and records one delivery; a bad signature gets 401.
func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	name, ok := strings.CutPrefix(r.URL.Path, "/h/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if !ok || err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	key := s.keys[name]
	s.mu.Unlock()
	id := r.Header.Get("webhook-id")
	if key == nil || !verify(key, id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body) {
		s.mu.Lock()
		s.badSig++
		s.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	if name == "ceiling" {
		return
	}
	hookIdx, _ := strconv.Atoi(name)
	seq, sent, perr := parseTitle(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[id]++
	s.last = now
	if perr != nil {
		s.badBody++
		return
	}
	k := arrivalKey{Seq: seq, Hook: hookIdx}
	if !s.first[k] {
		s.first[k] = true
		s.arrivals = append(s.arrivals, arrival{Sent: sent, Latency: now.Sub(sent)})
	}
}

// verify checks a Standard Webhooks signature: base64 HMAC-SHA256 of "id.timestamp.body",
// one of the space-separated "v1,SIG" values. It is written from the specification, not
// from Herald's code, so it checks Herald independently.
func verify(key []byte, id, ts, header string, body []byte) bool {
	if id == "" || ts == "" {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, part := range strings.Fields(header) {
		v, sig, ok := strings.Cut(part, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// sign computes the header value verify accepts (the loopback ceiling signs with it).
func sign(key []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// decodeSecret turns "whsec_BASE64" into its key.
func decodeSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New("signing secret does not start with whsec_")
	}
	return base64.StdEncoding.DecodeString(b64)
}

// titleMarker precedes "SEQ:UNIXNANO" in every alert title.
const titleMarker = "herald-bench#"

// parseTitle finds the alert's sequence number and send time in a delivered body.
func parseTitle(body []byte) (int64, time.Time, error) {
	_, rest, ok := strings.Cut(string(body), titleMarker)
	if !ok {
		return 0, time.Time{}, errors.New("no bench marker in body")
	}
	seqS, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, time.Time{}, errors.New("no send time in title")
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	seq, err1 := strconv.ParseInt(seqS, 10, 64)
	ns, err2 := strconv.ParseInt(rest[:end], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, time.Time{}, err
	}
	return seq, time.Unix(0, ns), nil
}

// arrived reports how many distinct expected deliveries have arrived.
func (s *sink) arrived() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.first)
}
