package gorillaws

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CheckOrigin reports whether r may be upgraded: allowed when it has no
// Origin header (not a browser), when the origin's host equals r.Host (same
// origin) or when the origin is listed in Origins. Do uses it as gorilla's
// CheckOrigin; it is exported so a middleware can apply the same policy.
func (t *Transport) CheckOrigin(r *http.Request) bool {
	origins := r.Header.Values("Origin")
	switch len(origins) {
	case 0:
		return true
	case 1:
	default:
		return false
	}
	origin := origins[0]
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, allowed := range t.Origins {
		if strings.EqualFold(origin, allowed) {
			return true
		}
	}
	return false
}

// ValidateOrigins checks an allow-list for Transport.Origins, for
// configuration loading: every entry must be an http or https origin written
// as a browser sends it, scheme://host[:port], without path, trailing slash,
// wildcard or default port. It returns an error naming the first bad entry.
func ValidateOrigins(origins []string) error {
	for _, origin := range origins {
		if err := validateOrigin(origin); err != nil {
			return fmt.Errorf("websocket origin %q: %w", origin, err)
		}
	}
	return nil
}

func validateOrigin(origin string) error {
	if strings.Contains(origin, "*") {
		return errors.New("wildcards are not supported, list each origin")
	}
	u, err := url.Parse(origin)
	if err != nil {
		return err
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return errors.New("want an http or https origin")
	}
	if u.Host == "" || !strings.EqualFold(u.Scheme+"://"+u.Host, origin) {
		return errors.New("want scheme://host[:port] and nothing else")
	}
	if port := u.Port(); strings.HasSuffix(u.Host, ":") || scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		return errors.New("drop the default or empty port, browsers omit it")
	}
	return nil
}
