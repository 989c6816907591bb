// Package web serves Herald's own pages from the binary: GraphiQL at `/`, the live
// delivery-log dashboard at `/dashboard` (SPEC §8) and the incident page at `/incidents/{id}`,
// the target of every payload's `{{incident.url}}`. Every file is embedded; the third-party
// ones under static/vendor are copied from the npm packages pinned in package-lock.json by
// build.sh and committed, so building Herald needs no npm. The pages make no request outside
// Herald's own origin, which a strict Content-Security-Policy enforces. It must not import
// Herald's other packages: the pages are clients of the GraphQL API, from the browser.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var files embed.FS

// pages maps the page paths to their HTML files.
var pages = map[string]string{
	"/":          "static/graphiql.html",
	"/dashboard": "static/dashboard.html",
}

// incidentPage is the page of every `/incidents/{id}`: one file, which reads the id from the
// address and asks the API for the incident, so an unknown id is told there.
const incidentPage = "static/incident.html"

// Handler serves the pages and their files. Mount it for `GET /{$}` (GraphiQL),
// `GET /dashboard`, `GET /incidents/{id}` and `GET /static/`; any other path answers 404.
func Handler() http.Handler {
	return &handler{}
}

type handler struct {
	once  sync.Once
	etags map[string]string
}

// etag hashes each embedded file once: the files only change with the binary.
func (h *handler) etag(name string) string {
	h.once.Do(func() {
		h.etags = map[string]string{}
		_ = fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			h.etags[p] = `"` + hex.EncodeToString(sum[:12]) + `"`
			return nil
		})
	})
	return h.etags[name]
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := pages[r.URL.Path]
	if id, found := strings.CutPrefix(r.URL.Path, "/incidents/"); found && id != "" && !strings.Contains(id, "/") {
		name, ok = incidentPage, true
	}
	if !ok {
		if !strings.HasPrefix(r.URL.Path, "/static/") || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		name = path.Clean(strings.TrimPrefix(r.URL.Path, "/"))
	}
	b, err := files.ReadFile(name)
	if err != nil || name == "static" || !strings.HasPrefix(name, "static/") {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy(r))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	// Revalidate every time: a new binary may bring new files under the same names.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", h.etag(name))
	// ServeContent sets the type from the extension, answers If-None-Match and ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// contentSecurityPolicy allows only Herald's own origin: scripts and styles from its files,
// fetches and websockets to itself. GraphiQL's stylesheet embeds its fonts and icons as data:
// URLs. Websocket origins are named explicitly because 'self' covers ws: only in CSP level 3.
func contentSecurityPolicy(r *http.Request) string {
	connect := "'self'"
	if validHost(r.Host) {
		connect += " ws://" + r.Host + " wss://" + r.Host
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src " + connect,
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// validHost accepts host[:port] made of the characters a host name, IPv4 or bracketed IPv6
// address and port use, so a Host header cannot widen the policy.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}
