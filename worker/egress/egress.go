// Package egress builds the HTTP client webhooks are sent with: an SSRF
// guard that checks every address after DNS resolution, no redirects, no
// proxy from the environment, a transport tuned for many endpoints, bounded
// response bodies, and error classification for the delivery log. It must not
// know webhooks, deliveries or the store: the worker decides what to send and
// records what happened.
package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Transport defaults.
const (
	// DefaultMaxIdleConnsPerHost is the keep-alive pool per endpoint when
	// Options leaves it zero.
	DefaultMaxIdleConnsPerHost = 64
	// DefaultMaxIdleConns is the keep-alive pool over all endpoints when
	// Options leaves it zero.
	DefaultMaxIdleConns = 4096
	// MaxResponseBody is how much of a response body is kept (SPEC §6).
	MaxResponseBody = 16 << 10

	dialTimeout         = 10 * time.Second
	keepAlive           = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxResponseHeader   = 64 << 10
	// maxDrain is how much past the kept part of a body is read and dropped
	// so the connection can go back to the pool; beyond that closing it is
	// cheaper.
	maxDrain = 64 << 10
)

// Options configures New.
type Options struct {
	// AllowPrivate disables the guard (HERALD_ALLOW_PRIVATE_TARGETS): any
	// address may be connected to.
	AllowPrivate bool
	// MaxIdleConnsPerHost bounds the idle connections kept per endpoint;
	// zero means DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// MaxIdleConns bounds the idle connections kept in all; zero means
	// DefaultMaxIdleConns.
	MaxIdleConns int
	// MaxConnsPerHost bounds the connections per endpoint; zero means no
	// limit (the worker caps in-flight requests per webhook itself).
	MaxConnsPerHost int
	// Resolver looks host names up; nil means net.DefaultResolver. Tests
	// use it to keep lookups on the machine.
	Resolver *net.Resolver
	// TLSConfig, when set, is cloned into the transport (tests use it to
	// trust a test server's certificate). Otherwise system roots and TLS 1.2
	// or later are used.
	TLSConfig *tls.Config
}

// New returns the client webhooks are sent with. It follows no redirects
// (the 3xx response is the result), ignores proxy environment variables,
// speaks HTTP/2 where TLS negotiates it and HTTP/1.1 otherwise, and unless
// opts.AllowPrivate refuses to connect to the addresses CheckAddr refuses
// (the error wraps a *BlockedError). It sets no overall timeout: callers
// bound each request with its context.
func New(opts Options) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive, Resolver: opts.Resolver}
	dial := dialer.DialContext
	if !opts.AllowPrivate {
		dialer.ControlContext = control
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			if err := checkLiteral(address); err != nil {
				return nil, &net.OpError{Op: "dial", Net: network, Err: err}
			}
			return dialer.DialContext(ctx, network, address)
		}
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.TLSConfig != nil {
		tlsConfig = opts.TLSConfig.Clone()
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		MaxIdleConns:           orDefault(opts.MaxIdleConns, DefaultMaxIdleConns),
		MaxIdleConnsPerHost:    orDefault(opts.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost),
		MaxConnsPerHost:        opts.MaxConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeader,
		// The delivery log shows the request as sent; no Accept-Encoding
		// is added behind its back.
		DisableCompression: true,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// checkLiteral refuses a host written as a non-canonical IPv4 literal.
func checkLiteral(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil // the dialer reports a malformed address itself
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // canonical literal: the control hook checks it
	}
	if ip, ok := legacyIPv4(host); ok {
		return &BlockedError{IP: ip, Reason: "non-canonical IPv4 literal " + host}
	}
	return nil
}

// ReadBody reads at most limit bytes of r (MaxResponseBody when limit is
// zero or less) and reports whether it is cut: r held more, or a read error
// (the request's deadline, a broken connection) ended it before its end. Past
// the limit it reads and drops a bounded amount more so the connection can be
// reused; the caller still closes the body.
func ReadBody(r io.Reader, limit int) (body []byte, truncated bool) {
	if limit <= 0 {
		limit = MaxResponseBody
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return body, true
	}
	if len(body) <= limit {
		return body, false
	}
	_, _ = io.CopyN(io.Discard, r, maxDrain)
	return body[:limit], true
}

// WithTrace returns a context that records the remote IP a request on it is
// sent to, and a function returning that IP ("" before any connection). It
// is the address connected to after DNS resolution, or the last address
// tried when connecting failed.
func WithTrace(ctx context.Context) (context.Context, func() string) {
	var ip atomic.Pointer[string]
	store := func(addr string) {
		if ap, err := netip.ParseAddrPort(addr); err == nil {
			addr = ap.Addr().Unmap().String()
		}
		ip.Store(&addr)
	}
	trace := &httptrace.ClientTrace{
		ConnectStart: func(_, addr string) { store(addr) },
		GotConn:      func(info httptrace.GotConnInfo) { store(info.Conn.RemoteAddr().String()) },
	}
	return httptrace.WithClientTrace(ctx, trace), func() string {
		if p := ip.Load(); p != nil {
			return *p
		}
		return ""
	}
}

// Kind classifies a failed attempt for the delivery log and metrics.
type Kind string

// Kinds returned by Classify.
const (
	// KindNone is the kind of a nil error.
	KindNone Kind = ""
	// KindBlocked means the guard refused the destination address.
	KindBlocked Kind = "blocked"
	// KindDNS means the host name could not be resolved.
	KindDNS Kind = "dns"
	// KindTimeout means the request's deadline or a transport timeout passed.
	KindTimeout Kind = "timeout"
	// KindRefused means the endpoint refused the connection.
	KindRefused Kind = "refused"
	// KindTLS means the TLS handshake or certificate verification failed,
	// or the endpoint answered HTTPS in plain HTTP.
	KindTLS Kind = "tls"
	// KindConnection means any other failure to send or receive.
	KindConnection Kind = "connection"
)

// Classify returns the Kind of an error from the client New returns,
// looking through wrapping with errors.Is and errors.As.
func Classify(err error) Kind {
	if err == nil {
		return KindNone
	}
	var (
		blocked    *BlockedError
		dnsErr     *net.DNSError
		netErr     net.Error
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
		certErr    *tls.CertificateVerificationError
		echErr     *tls.ECHRejectionError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		opErr      *net.OpError
	)
	switch {
	case errors.As(err, &blocked):
		return KindBlocked
	case errors.As(err, &dnsErr):
		return KindDNS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.As(err, &recordErr), errors.As(err, &alertErr), errors.As(err, &certErr),
		errors.As(err, &echErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.Is(err, http.ErrSchemeMismatch),
		// crypto/tls reports an alert from the peer as an OpError with
		// this Op around an unexported alert type.
		errors.As(err, &opErr) && opErr.Op == "remote error":
		return KindTLS
	}
	return KindConnection
}
