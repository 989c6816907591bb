package webhook

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/herald-hq/herald/models/webhook/render"
	"github.com/herald-hq/herald/models/webhook/sign"
)

// Version is Herald's version, sent as User-Agent: Herald/Version.
const Version = "0.1.0"

// redactedValue replaces credentials and signatures in the delivery log.
const redactedValue = "[redacted]"

// Request is a formatted webhook request, ready to send, with its redacted log form.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Log is what the delivery log shows: credentials and signatures redacted.
	Log RequestLog
	// Truncated reports that the body or query string was cut at its limit.
	Truncated bool
	// echoes are the credentials sent, in each form a receiver may send them back in (see
	// HideCredentials), longest first.
	echoes []string
}

// minEcho is the shortest credential hidden in responses: hiding a shorter one ("2024",
// "test") would corrupt ordinary text wherever it appears.
const minEcho = 8

// addEchoes records credential v in the forms it may come back in: as sent, URL-encoded, and
// inside a JSON string as the usual encoders write it (Go's with and without HTML escaping,
// "/" written "\/" as PHP does, non-ASCII as \uXXXX as Python does).
func (r *Request) addEchoes(v string) {
	if len(v) < minEcho {
		return
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	plain := strings.TrimSuffix(b.String(), "\n")
	plain = plain[1 : len(plain)-1]
	htmlSafe, _ := json.Marshal(v)
	forms := []string{v, url.QueryEscape(v), url.PathEscape(v), plain, string(htmlSafe[1 : len(htmlSafe)-1])}
	for _, f := range []string{plain, string(htmlSafe[1 : len(htmlSafe)-1])} {
		forms = append(forms, strings.ReplaceAll(f, "/", `\/`), asciiJSON(f))
	}
	for _, form := range forms {
		if !slices.Contains(r.echoes, form) {
			r.echoes = append(r.echoes, form)
		}
	}
	slices.SortFunc(r.echoes, func(a, b string) int { return len(b) - len(a) })
}

// asciiJSON writes the non-ASCII characters of a JSON string's content as \uXXXX escapes
// (UTF-16, as JSON has it).
func asciiJSON(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c < utf8.RuneSelf {
			b.WriteRune(c)
			continue
		}
		for _, u := range utf16.Encode([]rune{c}) {
			fmt.Fprintf(&b, "\\u%04x", u)
		}
	}
	return b.String()
}

// HideCredentials replaces every credential of the request found in s, a response header or
// body, with [redacted]: the delivery log shows responses to whoever may read the webhook.
func (r *Request) HideCredentials(s string) string {
	for _, form := range r.echoes {
		s = strings.ReplaceAll(s, form, redactedValue)
	}
	return s
}

// HideCredentialStart hides the end of s when it is the start of a credential (the longest
// such start of any form): a body cut while reading may end inside one.
func (r *Request) HideCredentialStart(s string) string {
	longest := 0
	for _, form := range r.echoes {
		for n := min(len(form)-1, len(s)); n > longest; n-- {
			if strings.HasSuffix(s, form[:n]) {
				longest = n
				break
			}
		}
	}
	if longest == 0 {
		return s
	}
	return s[:len(s)-longest] + redactedValue
}

// LongestEcho is the length of the longest credential form (0 without credentials).
func (r *Request) LongestEcho() int {
	if len(r.echoes) == 0 {
		return 0
	}
	return len(r.echoes[0])
}

// FormatError is a webhook configuration that cannot produce a request (a template that no
// longer parses, a signing secret that does not validate): the attempt fails without sending.
type FormatError struct{ Err error }

// Error implements error.
func (e *FormatError) Error() string { return "format request: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *FormatError) Unwrap() error { return e.Err }

// Format builds the request of webhook w for d to target, signed at now. It does no I/O, so
// that what is sent can be checked without a network: the body (the rendered bodyTemplate or
// the default envelope with extraFields) or the query parameters appended to target, the
// method, Content-Type (application/json for the default envelope whatever contentType
// says), custom headers, authentication, signature headers, webhook-id (d.DeliveryID) and
// User-Agent. d's Timestamp ({{timestamp}} and the envelope's timestamp) must be the send
// time; DataFromSnapshot sets it. cache may be nil. Errors: *FormatError.
func Format(w *Sendable, d *render.Data, target string, cache *render.Cache, now time.Time) (*Request, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, &FormatError{Err: fmt.Errorf("url: %w", err)}
	}
	spec := &w.Spec
	r := &Request{Method: spec.Method, Header: make(http.Header)}
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	var query []string
	if spec.SendDataUsing == SendQueryParams {
		if query, err = r.writeQuery(w, d, cache); err != nil {
			return nil, err
		}
	} else if err := r.writeBody(w, d, cache); err != nil {
		return nil, err
	}
	// Authorization is hidden whatever writes it: the webhook's auth or a custom header.
	redact := []string{"Authorization"}
	for _, h := range spec.Headers {
		r.Header.Set(h.Name, h.Value)
		if h.Secret {
			redact = append(redact, h.Name)
			r.addEchoes(h.Value)
		}
	}
	logQuery := slices.Clone(query)
	if q, shown := r.writeAuth(spec.Auth); q != "" {
		query, logQuery = append(query, q), append(logQuery, shown)
	}
	if h := authHeader(spec.Auth); h != "" {
		redact = append(redact, h)
	}
	signed, err := r.writeSignature(w, d.DeliveryID, now)
	if err != nil {
		return nil, err
	}
	redact = append(redact, signed...)
	r.Header.Set("User-Agent", "Herald/"+Version)

	r.URL = withQuery(u, query)
	r.Log = RequestLog{
		Method:  r.Method,
		URL:     withQuery(u, logQuery),
		Headers: logHeaders(r.Header, redact),
		Body:    string(r.Body),
	}
	return r, nil
}

// writeQuery renders the query parameters of w (sendDataUsing QUERY_PARAMS) and returns them
// encoded, for the URL.
func (r *Request) writeQuery(w *Sendable, d *render.Data, cache *render.Cache) ([]string, error) {
	params := make([]render.QueryParam, 0, len(w.Spec.QueryParams))
	for i, kv := range w.Spec.QueryParams {
		t, errs := parse(cache, w.TemplateKey, fmt.Sprintf("q%d", i), kv.Value)
		if len(errs) > 0 {
			return nil, &FormatError{Err: fmt.Errorf("query parameter %q: %w", kv.Name, errs[0])}
		}
		params = append(params, render.QueryParam{Name: kv.Name, Value: t})
	}
	q, cut := render.QueryString(params, d)
	r.Truncated = cut
	if q == "" {
		return nil, nil
	}
	return []string{q}, nil
}

// writeBody renders the body of w (its bodyTemplate, or the default envelope with its extra
// fields) and sets Content-Type.
func (r *Request) writeBody(w *Sendable, d *render.Data, cache *render.Cache) error {
	spec := &w.Spec
	ct := render.ContentType(spec.ContentType)
	if ct == "" {
		ct = render.JSON
	}
	if spec.BodyTemplate == nil || *spec.BodyTemplate == "" {
		// contentType says how a bodyTemplate renders; the default envelope is JSON.
		ct = render.JSON
		extra := make([]render.KV, 0, len(spec.ExtraFields))
		for _, kv := range spec.ExtraFields {
			extra = append(extra, render.KV{Name: kv.Name, Value: kv.Value})
		}
		r.Body, r.Truncated = render.EnvelopeBody(d, extra)
	} else {
		t, errs := parse(cache, w.TemplateKey, "body", *spec.BodyTemplate)
		if len(errs) > 0 {
			return &FormatError{Err: fmt.Errorf("body template: %w", errs[0])}
		}
		r.Body, r.Truncated = render.RenderBody(t, d, ct)
	}
	if ct == render.TEXT {
		r.Header.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		r.Header.Set("Content-Type", "application/json")
	}
	return nil
}

// writeAuth applies a: its header, or for an API key placed in the query the encoded pair it
// adds to the URL and that pair as the log shows it.
func (r *Request) writeAuth(a Auth) (query, shown string) {
	switch a.Type {
	case AuthBasic:
		basic := base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password.Reveal()))
		r.Header.Set("Authorization", "Basic "+basic)
		r.addEchoes(basic)
		r.addEchoes(a.Password.Reveal())
	case AuthBearer:
		r.Header.Set("Authorization", "Bearer "+a.Token.Reveal())
		r.addEchoes(a.Token.Reveal())
	case AuthAPIKey:
		r.addEchoes(a.Value.Reveal())
		if a.Placement == PlacementQuery {
			return url.QueryEscape(a.Key) + "=" + url.QueryEscape(a.Value.Reveal()), url.QueryEscape(a.Key) + "=" + url.QueryEscape(redactedValue)
		}
		r.Header.Set(a.Key, a.Value.Reveal())
	}
	return "", ""
}

// writeSignature signs the body with w's scheme at now, writes the signature headers and
// webhook-id (msgID), and returns the headers the log hides.
func (r *Request) writeSignature(w *Sendable, msgID string, now time.Time) ([]string, error) {
	scheme := w.Spec.Signing.Scheme
	if scheme == "" {
		scheme = sign.None
	}
	secrets := make([]string, len(w.SigningSecrets))
	for i, s := range w.SigningSecrets {
		secrets[i] = s.Reveal()
	}
	sigs, err := sign.Sign(scheme, w.Spec.Signing.HeaderName, secrets, msgID, now, r.Body)
	if err != nil {
		return nil, &FormatError{Err: fmt.Errorf("sign: %w", err)}
	}
	for _, h := range sigs {
		r.Header.Set(h.Name, h.Value)
	}
	return sign.Redacted(scheme, w.Spec.Signing.HeaderName), nil
}

// parse returns the parsed template src, the part (body, q0, …) of the webhook revision key,
// from cache when both are given.
func parse(cache *render.Cache, key, part, src string) (*render.Template, []render.Error) {
	if cache == nil || key == "" {
		return render.Parse(src)
	}
	return cache.Get(key+":"+part, src)
}

// withQuery appends encoded name=value pairs to the query of u.
func withQuery(u *url.URL, pairs []string) string {
	c := *u
	q := strings.Join(pairs, "&")
	switch {
	case q == "":
	case c.RawQuery == "":
		c.RawQuery = q
	default:
		c.RawQuery += "&" + q
	}
	return c.String()
}

// logHeaders lists h sorted by name with the values of the redact names hidden.
func logHeaders(h http.Header, redact []string) []KV {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]KV, 0, len(names))
	for _, name := range names {
		hide := slices.ContainsFunc(redact, func(r string) bool { return strings.EqualFold(r, name) })
		for _, v := range h[name] {
			if hide {
				v = redactedValue
			}
			out = append(out, KV{Name: name, Value: v})
		}
	}
	return out
}
