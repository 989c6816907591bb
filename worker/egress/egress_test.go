package egress_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/worker/egress"
)

// get sends GET url with client under a short deadline.
func get(t *testing.T, client *http.Client, rawURL string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

// okServer answers 200 "ok" and counts its requests.
func okServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestGuardRefusesNonPublicTargets(t *testing.T) {
	t.Parallel()
	srv, hits := okServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tests := map[string]struct {
		host string
	}{
		"loopback":                  {"127.0.0.1"},
		"loopback top":              {"127.255.255.254"},
		"loopback v6":               {"[::1]"},
		"localhost resolves":        {"localhost"},
		"rfc1918 10/8":              {"10.1.2.3"},
		"rfc1918 172.16/12":         {"172.16.0.1"},
		"rfc1918 172.31":            {"172.31.255.255"},
		"rfc1918 192.168/16":        {"192.168.1.1"},
		"link-local":                {"169.254.1.1"},
		"cloud metadata":            {"169.254.169.254"},
		"link-local v6":             {"[fe80::1]"},
		"link-local v6 with zone":   {"[fe80::1%25lo]"},
		"cgnat":                     {"100.64.0.1"},
		"cgnat top":                 {"100.127.255.255"},
		"multicast":                 {"224.0.0.1"},
		"multicast ssdp":            {"239.255.255.250"},
		"multicast v6":              {"[ff02::1]"},
		"multicast v6 site":         {"[ff05::1:3]"},
		"unspecified":               {"0.0.0.0"},
		"this network":              {"0.1.2.3"},
		"unspecified v6":            {"[::]"},
		"broadcast":                 {"255.255.255.255"},
		"reserved 240/4":            {"240.0.0.1"},
		"ietf 192.0.0/24":           {"192.0.0.170"},
		"documentation":             {"192.0.2.1"},
		"benchmarking":              {"198.18.0.1"},
		"ula":                       {"[fc00::1]"},
		"ula aws metadata":          {"[fd00:ec2::254]"},
		"site-local v6":             {"[fec0::1]"},
		"documentation v6":          {"[2001:db8::1]"},
		"mapped loopback":           {"[::ffff:127.0.0.1]"},
		"mapped loopback hex":       {"[::ffff:7f00:1]"},
		"mapped private":            {"[::ffff:10.0.0.1]"},
		"mapped metadata":           {"[::ffff:169.254.169.254]"},
		"ipv4-compatible loopback":  {"[::127.0.0.1]"},
		"nat64 loopback":            {"[64:ff9b::127.0.0.1]"},
		"nat64 metadata":            {"[64:ff9b::a9fe:a9fe]"},
		"nat64 local use":           {"[64:ff9b:1::1]"},
		"6to4 loopback":             {"[2002:7f00:1::1]"},
		"6to4 private":              {"[2002:c0a8:101::1]"},
		"teredo":                    {"[2001:0:4136:e378:8000:63bf:3fff:fdd2]"},
		"decimal loopback":          {"2130706433"},
		"octal loopback":            {"0177.0.0.1"},
		"hex loopback":              {"0x7f.0.0.1"},
		"hex loopback single":       {"0x7f000001"},
		"short loopback":            {"127.1"},
		"mixed loopback":            {"0x7f.0.1"},
		"trailing dot loopback":     {"127.0.0.1."},
		"decimal metadata":          {"2852039166"},
		"octal of a public address": {"010.8.8.8"},
	}
	client := egress.New(egress.Options{})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			target := fmt.Sprintf("http://%s:%d/", tc.host, port)
			_, err := get(t, client, target)
			var blocked *egress.BlockedError
			if !errors.As(err, &blocked) {
				t.Fatalf("err = %v, want a *BlockedError", err)
			}
			if !strings.Contains(err.Error(), "HERALD_ALLOW_PRIVATE_TARGETS") {
				t.Errorf("err = %q, want it to name HERALD_ALLOW_PRIVATE_TARGETS", err)
			}
			// Every host here is refused as written, before any lookup.
			u, perr := url.Parse(target)
			if perr != nil {
				t.Fatal(perr)
			}
			if err := egress.CheckHost(u.Hostname()); !errors.As(err, new(*egress.BlockedError)) {
				t.Errorf("CheckHost(%q) = %v, want a *BlockedError", u.Hostname(), err)
			}
			if got := egress.Classify(err); got != egress.KindBlocked {
				t.Errorf("Classify = %q, want %q (%v)", got, egress.KindBlocked, err)
			}
			if blocked.Reason == "" || !blocked.IP.IsValid() {
				t.Errorf("BlockedError = %+v, want an IP and a reason", blocked)
			}
		})
	}
	t.Cleanup(func() {
		if n := hits.Load(); n != 0 {
			t.Errorf("guarded server got %d requests", n)
		}
	})
}

func TestAllowPrivate(t *testing.T) {
	t.Parallel()
	srv, _ := okServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tests := map[string]struct {
		host string
	}{
		"loopback":  {"127.0.0.1"},
		"localhost": {"localhost"},
	}
	client := egress.New(egress.Options{AllowPrivate: true})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, remoteIP := egress.WithTrace(t.Context())
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/", tc.host, port), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			body, _ := egress.ReadBody(resp.Body, 0)
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Errorf("response = %d %q, want 200 ok", resp.StatusCode, body)
			}
			if got := remoteIP(); got != "127.0.0.1" {
				t.Errorf("remote IP = %q, want 127.0.0.1", got)
			}
		})
	}
}

// TestCheckHostLeavesNames checks that CheckHost refuses nothing that needs a lookup or is
// public: names are checked when they are connected to.
func TestCheckHostLeavesNames(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"example.com", "localhost.example", "intranet", "8.8.8.8", "2606:4700::1111"} {
		if err := egress.CheckHost(host); err != nil {
			t.Errorf("CheckHost(%q) = %v, want nil", host, err)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		addr    string
		blocked bool
	}{
		"public v4":                {"8.8.8.8", false},
		"public v4 next to cgnat":  {"100.128.0.1", false},
		"public v4 next to 172.16": {"172.32.0.1", false},
		"public v6":                {"2606:4700:4700::1111", false},
		"mapped public":            {"::ffff:8.8.8.8", false},
		"nat64 public":             {"64:ff9b::808:808", false},
		"6to4 public":              {"2002:808:808::1", false},
		"zero value":               {"", true},
		"loopback":                 {"127.0.0.1", true},
		"metadata":                 {"169.254.169.254", true},
		"discard-only v6":          {"100::1", true},
		"segment routing v6":       {"5f00::1", true},
		"documentation 3fff::/20":  {"3fff::1", true},
		"outside 2000::/3":         {"4000::1", true},
		"ietf v6 2001::/23":        {"2001:2::1", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var ip netip.Addr
			if tc.addr != "" {
				ip = netip.MustParseAddr(tc.addr)
			}
			err := egress.CheckAddr(ip)
			var blocked *egress.BlockedError
			if errors.As(err, &blocked) != tc.blocked {
				t.Errorf("CheckAddr(%s) = %v, want blocked %v", tc.addr, err, tc.blocked)
			}
		})
	}
}

func TestNoRedirects(t *testing.T) {
	t.Parallel()
	target, hits := okServer(t)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirector.Close)
	tests := map[string]struct {
		allowPrivate bool
	}{
		"guarded":       {false},
		"allow private": {true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if !tc.allowPrivate {
				// The redirector itself is on loopback: the guard refuses it
				// before any redirect could be considered.
				_, err := get(t, egress.New(egress.Options{}), redirector.URL)
				if egress.Classify(err) != egress.KindBlocked {
					t.Fatalf("err = %v, want blocked", err)
				}
				return
			}
			resp, err := get(t, egress.New(egress.Options{AllowPrivate: true}), redirector.URL)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != target.URL {
				t.Errorf("response = %d Location %q, want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), target.URL)
			}
		})
	}
	t.Cleanup(func() {
		if n := hits.Load(); n != 0 {
			t.Errorf("redirect target got %d requests", n)
		}
	})
}

// chunkReader yields its data a few bytes at a time and counts reads.
type chunkReader struct {
	r    io.Reader
	read int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p[:min(len(p), 1000)])
	c.read += n
	return n, err
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		size, limit   int
		wantLen       int
		wantTruncated bool
		wantRead      int
	}{
		"empty":              {size: 0, limit: 0, wantLen: 0, wantRead: 0},
		"small":              {size: 10, limit: 0, wantLen: 10, wantRead: 10},
		"exactly 16 KiB":     {size: egress.MaxResponseBody, limit: 0, wantLen: egress.MaxResponseBody, wantRead: egress.MaxResponseBody},
		"one byte over":      {size: egress.MaxResponseBody + 1, limit: 0, wantLen: egress.MaxResponseBody, wantTruncated: true, wantRead: egress.MaxResponseBody + 1},
		"drained":            {size: 40 << 10, limit: 0, wantLen: egress.MaxResponseBody, wantTruncated: true, wantRead: 40 << 10},
		"drain is bounded":   {size: 10 << 20, limit: 0, wantLen: egress.MaxResponseBody, wantTruncated: true, wantRead: egress.MaxResponseBody + 1 + 64<<10},
		"custom limit":       {size: 100, limit: 10, wantLen: 10, wantTruncated: true, wantRead: 100},
		"negative is 16 KiB": {size: 20 << 10, limit: -1, wantLen: egress.MaxResponseBody, wantTruncated: true, wantRead: 20 << 10},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := bytes.Repeat([]byte("abcdefghij"), tc.size/10+1)[:tc.size]
			r := &chunkReader{r: bytes.NewReader(data)}
			body, truncated := egress.ReadBody(r, tc.limit)
			if len(body) != tc.wantLen || truncated != tc.wantTruncated {
				t.Errorf("ReadBody = %d bytes, truncated %v; want %d, %v", len(body), truncated, tc.wantLen, tc.wantTruncated)
			}
			if !bytes.Equal(body, data[:len(body)]) {
				t.Error("body is not a prefix of the data")
			}
			if r.read != tc.wantRead {
				t.Errorf("read %d bytes, want %d", r.read, tc.wantRead)
			}
		})
	}
}

func TestReadBodyReusesConnection(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 40<<10))
	}))
	t.Cleanup(srv.Close)
	client := egress.New(egress.Options{AllowPrivate: true})
	var reused []bool
	for range 2 {
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) },
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, truncated := egress.ReadBody(resp.Body, 0); !truncated {
			t.Error("40 KiB body not reported truncated")
		}
		resp.Body.Close()
	}
	if len(reused) != 2 || !reused[1] {
		t.Errorf("connection reuse = %v, want the second request on a reused connection", reused)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	closedPort := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/"
	}
	slowServer := func(t *testing.T) string {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		return srv.URL
	}
	plainServer := func(t *testing.T) string {
		srv, _ := okServer(t)
		return strings.Replace(srv.URL, "http://", "https://", 1)
	}
	untrustedTLS := func(t *testing.T) string {
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		t.Cleanup(srv.Close)
		return srv.URL
	}
	hangUp := func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := map[string]struct {
		url          func(t *testing.T) string
		allowPrivate bool
		timeout      time.Duration
		want         egress.Kind
	}{
		"blocked":       {url: closedPort, want: egress.KindBlocked},
		"refused":       {url: closedPort, allowPrivate: true, want: egress.KindRefused},
		"dns":           {url: func(*testing.T) string { return "http://herald-test.invalid/" }, allowPrivate: true, want: egress.KindDNS},
		"timeout":       {url: slowServer, allowPrivate: true, timeout: 100 * time.Millisecond, want: egress.KindTimeout},
		"tls to plain":  {url: plainServer, allowPrivate: true, want: egress.KindTLS},
		"untrusted tls": {url: untrustedTLS, allowPrivate: true, want: egress.KindTLS},
		"hang up":       {url: hangUp, allowPrivate: true, want: egress.KindConnection},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, tc.url(t), strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			client := egress.New(egress.Options{AllowPrivate: tc.allowPrivate, Resolver: nxdomainResolver(t)})
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("Do succeeded with %s, want an error", resp.Status)
			}
			if got := egress.Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %q, want %q", err, got, tc.want)
			}
			if got := egress.Classify(fmt.Errorf("send: %w", err)); got != tc.want {
				t.Errorf("Classify of a wrapped error = %q, want %q", got, tc.want)
			}
		})
	}
}

// nxdomainResolver returns a resolver whose DNS server, on loopback,
// answers every query with NXDOMAIN, so lookups never leave the machine.
func nxdomainResolver(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			// Header (12 bytes) then the question: QNAME labels up to a
			// zero byte, QTYPE and QCLASS.
			end := 12
			for end < n && buf[end] != 0 {
				end += int(buf[end]) + 1
			}
			end += 5
			if n < 12 || end > n {
				continue
			}
			resp := append([]byte(nil), buf[:end]...)
			resp[2] = 0x81 | buf[2]&0x01 // QR, RD copied
			resp[3] = 0x83               // RA, RCODE 3 (NXDOMAIN)
			copy(resp[4:12], []byte{0, 1, 0, 0, 0, 0, 0, 0})
			pc.WriteTo(resp, addr)
		}
	}()
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "udp", pc.LocalAddr().String())
		},
	}
}

func TestClassifyValues(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  error
		want egress.Kind
	}{
		"nil":              {nil, egress.KindNone},
		"deadline":         {context.DeadlineExceeded, egress.KindTimeout},
		"os deadline":      {&url.Error{Op: "Post", URL: "x", Err: os.ErrDeadlineExceeded}, egress.KindTimeout},
		"canceled":         {context.Canceled, egress.KindConnection},
		"eof":              {io.ErrUnexpectedEOF, egress.KindConnection},
		"tls alert":        {tls.AlertError(40), egress.KindTLS},
		"blocked":          {&egress.BlockedError{IP: netip.MustParseAddr("10.0.0.1"), Reason: "private"}, egress.KindBlocked},
		"dns over timeout": {&net.DNSError{Err: "timeout", IsTimeout: true}, egress.KindDNS},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := egress.Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestTLSConfigAndHTTP2(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
	client := egress.New(egress.Options{AllowPrivate: true, TLSConfig: tlsConfig})
	resp, err := get(t, client, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := egress.ReadBody(resp.Body, 0)
	if string(body) != "HTTP/2.0" {
		t.Errorf("protocol = %q, want HTTP/2.0", body)
	}
}
