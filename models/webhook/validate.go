package webhook

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/herald-hq/herald/models/text"
	"github.com/herald-hq/herald/models/webhook/render"
	"github.com/herald-hq/herald/models/webhook/sign"
)

// HTTP methods a webhook may use.
const (
	MethodGet    = "GET"
	MethodPost   = "POST"
	MethodPut    = "PUT"
	MethodPatch  = "PATCH"
	MethodDelete = "DELETE"
)

// Authentication types and API-key placements.
const (
	AuthNone   = "NONE"
	AuthBasic  = "BASIC"
	AuthAPIKey = "API_KEY"
	AuthBearer = "BEARER"

	PlacementHeader = "HEADER"
	PlacementQuery  = "QUERY"
)

// How a webhook sends its data, and the body's content type.
const (
	SendBody        = "BODY"
	SendQueryParams = "QUERY_PARAMS"

	ContentJSON = "JSON"
	ContentText = "TEXT"
)

// Filter vocabulary.
const (
	FilterAnd         = "AND"
	FilterOr          = "OR"
	FilterService     = "SERVICE"
	FilterAlertSource = "ALERT_SOURCE"
	FilterUrgency     = "URGENCY"
	FilterIs          = "IS"
	FilterIsNot       = "IS_NOT"

	UrgencyHigh = "HIGH"
	UrgencyLow  = "LOW"
)

// Webhook limits and defaults (SPEC §4).
const (
	MaxWebhooksPerTarget        = 5
	MaxWebhookURLs              = 5
	MaxWebhookHeaders           = 20
	MaxWebhookNameChars         = 200
	MaxWebhookDescriptionChars  = 2000
	MaxWebhookURLChars          = 2048
	MaxWebhookHeaderValueChars  = 8192
	MaxWebhookQueryParams       = 50
	MaxWebhookExtraFields       = 50
	MaxWebhookTemplateChars     = 65536
	MaxFilterDepth              = 5
	MaxFilterConditions         = 50
	MaxFilterGroups             = 20
	MinRetryCount               = 0
	MaxRetryCount               = 4
	MinRetryIntervalMinutes     = 1
	MaxRetryIntervalMinutes     = 5
	MinTimeoutSeconds           = 1
	MaxTimeoutSeconds           = 30
	DefaultRetryCount           = 3
	DefaultRetryIntervalMinutes = 1
	DefaultTimeoutSeconds       = 3
)

// forbiddenHeaders are refused as custom header and API key header names (lower case), each
// with the reason the user is shown: Herald or the transport writes them (User-Agent last of
// all, replacing any value given), or they describe the connection rather than the request,
// and HTTP/2 drops them or refuses the request (RFC 9113 §8.2.2).
var forbiddenHeaders = func() map[string]string {
	m := map[string]string{
		"host":              "is set by Herald from the URL",
		"content-length":    "is set by Herald from the body",
		"transfer-encoding": "is set by Herald from the body",
		"user-agent":        "is set by Herald itself on every request (Herald/<version>)",
	}
	for _, h := range sign.ConnectionHeaders {
		m[strings.ToLower(h)] = "describes the connection, not the request: HTTP/2 drops it or refuses to send"
	}
	return m
}()

// envelopeKeys are the default envelope's own keys, which extra fields may not shadow.
var envelopeKeys = []string{"event", "deliveryId", "webhookId", "timestamp", "incident", "user"}

// Validate checks a webhook specification against every rule of SPEC §4 that needs no
// database (ValidateWebhookSpec adds the scope target's existence). It returns a VALIDATION
// error naming the GraphQL input field at fault (`headers[3].name`), or nil. Empty Method,
// SendDataUsing, ContentType, Auth.Type and Signing.Scheme are read as their defaults.
func Validate(spec *Spec) error {
	spec.normalize()
	checks := []func(*Spec) error{
		validateWebhookBasics, validateWebhookScope, validateWebhookEvents, validateWebhookURLs,
		validateWebhookAuth, validateWebhookSigning, validateWebhookHeaders, validateSecretFlags,
		validateWebhookPayload, validateWebhookDelivery, validateWebhookFilter,
	}
	for _, check := range checks {
		if err := check(spec); err != nil {
			return err
		}
	}
	return nil
}

// normalize trims the name, reads empty enums, empty optional texts and empty ids as their
// defaults and writes filter values in their canonical form (a copy: the caller's filter is
// left as it was).
func (spec *Spec) normalize() {
	spec.Name = strings.TrimSpace(spec.Name)
	spec.Filter = spec.Filter.canonical()
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&spec.Method, MethodPost)
	def(&spec.SendDataUsing, SendBody)
	def(&spec.ContentType, ContentJSON)
	def(&spec.Auth.Type, AuthNone)
	def(&spec.Signing.Scheme, sign.None)
	for _, p := range []**string{&spec.Description, &spec.BodyTemplate, &spec.FailureNotificationEmail, &spec.TeamID, &spec.ServiceID} {
		if *p != nil && **p == "" {
			*p = nil
		}
	}
	spec.Headers = slices.Clone(spec.Headers)
	for i, h := range spec.Headers {
		spec.Headers[i].Secret = h.Secret || SecretHeaderName(h.Name)
	}
}

// credentialWords are the parts of a header name that make it secret whatever the input says.
var credentialWords = []string{"key", "token", "secret", "password", "signature", "auth", "cookie", "session"}

// SecretHeaderName reports whether a header name looks like it carries a credential (it
// contains, in any case, one of credentialWords): such a header is always secret.
func SecretHeaderName(name string) bool {
	lower := strings.ToLower(name)
	return slices.ContainsFunc(credentialWords, func(w string) bool { return strings.Contains(lower, w) })
}

// validateSecretFlags refuses secret on query parameters and extra fields: only a header's
// value is kept sealed and redacted.
func validateSecretFlags(spec *Spec) error {
	for _, l := range []struct {
		field string
		kvs   []KV
	}{{"queryParams", spec.QueryParams}, {"extraFields", spec.ExtraFields}} {
		for i, kv := range l.kvs {
			if kv.Secret {
				return text.Invalid(fmt.Sprintf("%s[%d].secret", l.field, i), "only headers can be secret: put the credential in a secret header or in auth")
			}
		}
	}
	return nil
}

func validateWebhookBasics(spec *Spec) error {
	if spec.Name == "" {
		return text.Invalid("name", "name is required")
	}
	if err := text.Line("name", spec.Name, MaxWebhookNameChars); err != nil {
		return err
	}
	if spec.Description == nil {
		return nil
	}
	return text.Lines("description", *spec.Description, MaxWebhookDescriptionChars)
}

func validateWebhookScope(spec *Spec) error {
	hasTeam := spec.TeamID != nil && *spec.TeamID != ""
	hasService := spec.ServiceID != nil && *spec.ServiceID != ""
	switch spec.Scope {
	case ScopeGlobal:
		if hasTeam {
			return text.Invalid("teamId", "a GLOBAL webhook takes no teamId")
		}
		if hasService {
			return text.Invalid("serviceId", "a GLOBAL webhook takes no serviceId")
		}
	case ScopeTeam:
		if !hasTeam {
			return text.Invalid("teamId", "a TEAM webhook needs a teamId")
		}
		if hasService {
			return text.Invalid("serviceId", "a TEAM webhook takes no serviceId")
		}
	case ScopeService:
		if !hasService {
			return text.Invalid("serviceId", "a SERVICE webhook needs a serviceId")
		}
	default:
		return text.Invalid("scope", "unknown scope %q", spec.Scope)
	}
	return nil
}

func validateWebhookEvents(spec *Spec) error {
	if len(spec.Events) == 0 {
		return text.Invalid("events", "at least one event is required")
	}
	for i, e := range spec.Events {
		field := fmt.Sprintf("events[%d]", i)
		if EventWireName(e) == "" {
			return text.Invalid(field, "unknown event %q", e)
		}
		if slices.Contains(spec.Events[:i], e) {
			return text.Invalid(field, "event %s is listed twice", e)
		}
	}
	return nil
}

func validateWebhookURLs(spec *Spec) error {
	if len(spec.URLs) == 0 {
		return text.Invalid("urls", "at least one URL is required")
	}
	if len(spec.URLs) > MaxWebhookURLs {
		return text.Invalid("urls", "at most %d URLs are allowed", MaxWebhookURLs)
	}
	seen := make([]string, 0, len(spec.URLs))
	for i, raw := range spec.URLs {
		field := fmt.Sprintf("urls[%d]", i)
		if err := validateTargetURL(raw); err != "" {
			return text.Invalid(field, "%s", err)
		}
		same := targetIdentity(raw)
		if j := slices.Index(seen, same); j >= 0 {
			return text.Invalid(field, "URL is listed twice (as urls[%d])", j)
		}
		seen = append(seen, same)
	}
	return nil
}

// defaultPorts are the ports a target URL without one is sent to.
var defaultPorts = map[string]string{"http": "80", "https": "443"}

// targetIdentity returns the request a valid target URL stands for, so that two spellings of
// it compare equal: scheme and host in lower case (both are case-insensitive, RFC 3986
// §6.2.2.1), the port written out as a number (the scheme's default when there is none, as
// net/http dials it), an empty path as "/" (what net/http sends for it). Path and query are
// compared as written: receivers may tell their case and encoding apart.
func targetIdentity(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	scheme := strings.ToLower(u.Scheme)
	port := defaultPorts[scheme]
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		port = strconv.Itoa(n)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port) + path + "?" + u.RawQuery
}

// validateTargetURL returns what is wrong with a target URL, or "".
func validateTargetURL(raw string) string {
	if len(raw) > MaxWebhookURLChars {
		return fmt.Sprintf("URL is longer than %d characters", MaxWebhookURLChars)
	}
	if strings.ContainsFunc(raw, unicode.IsControl) {
		return "URL must not contain control characters (tab, newline and the like)"
	}
	// A space in the query would go out raw and break the request line.
	if strings.ContainsFunc(raw, unicode.IsSpace) {
		return "URL must not contain spaces: write a space as %20"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "URL must be absolute and start with http:// or https://"
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return "URL needs a host"
	}
	if u.User != nil {
		return "URL must not contain credentials: use auth instead"
	}
	// net/http cuts the fragment off: the receiver would never see it.
	if strings.Contains(raw, "#") {
		return "URL must not contain a #fragment: fragments are never sent to the receiver"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "port must be from 1 to 65535"
		}
	}
	return ""
}

func validateWebhookAuth(spec *Spec) error {
	a := &spec.Auth
	creds := []struct {
		name string
		set  bool
	}{
		{"username", a.Username != ""}, {"password", a.Password != ""}, {"key", a.Key != ""},
		{"value", a.Value != ""}, {"placement", a.Placement != ""}, {"token", a.Token != ""},
	}
	var takes []string
	switch a.Type {
	case AuthNone:
	case AuthBasic:
		takes = []string{"username", "password"}
		if strings.TrimSpace(a.Username) == "" {
			return text.Invalid("auth.username", "BASIC auth needs a username")
		}
		// The colon separates username from password in Basic credentials (RFC 7617 §2).
		if strings.ContainsRune(a.Username, ':') || strings.ContainsFunc(a.Username, unicode.IsControl) {
			return text.Invalid("auth.username", "username must not contain a colon or control characters")
		}
		if a.Password == "" {
			return text.Invalid("auth.password", "BASIC auth needs a password")
		}
	case AuthAPIKey:
		takes = []string{"key", "value", "placement"}
		if a.Key == "" {
			return text.Invalid("auth.key", "API_KEY auth needs a key")
		}
		if a.Value == "" {
			return text.Invalid("auth.value", "API_KEY auth needs a value")
		}
		switch a.Placement {
		case PlacementHeader:
			if !isHTTPToken(a.Key) {
				return text.Invalid("auth.key", "a header name must be an HTTP token (letters, digits, !#$%%&'*+-.^_`|~; no spaces)")
			}
			lower := strings.ToLower(a.Key)
			if why, ok := forbiddenHeaders[lower]; ok {
				return text.Invalid("auth.key", "header %s %s", a.Key, why)
			}
			if lower == "content-type" {
				return text.Invalid("auth.key", "header %s describes the body: choose another name for the API key", a.Key)
			}
			if slices.Contains(sign.Headers(spec.Signing.Scheme, spec.Signing.HeaderName), lower) {
				return text.Invalid("auth.key", "header %s carries the signature", a.Key)
			}
			if !isHeaderValue(a.Value.Reveal()) {
				return text.Invalid("auth.value", "a header value must not contain control characters other than tab")
			}
		case PlacementQuery:
			if strings.ContainsFunc(a.Key, unicode.IsControl) {
				return text.Invalid("auth.key", "key must not contain control characters")
			}
			if at := queryParamWriter(spec, a.Key); at != "" {
				return text.Invalid("auth.key", "query parameter %s is already in %s: the receiver would get it twice", a.Key, at)
			}
		case "":
			return text.Invalid("auth.placement", "API_KEY auth needs a placement (HEADER or QUERY)")
		default:
			return text.Invalid("auth.placement", "unknown placement %q", a.Placement)
		}
	case AuthBearer:
		takes = []string{"token"}
		if a.Token == "" {
			return text.Invalid("auth.token", "BEARER auth needs a token")
		}
		if !isHeaderValue(a.Token.Reveal()) {
			return text.Invalid("auth.token", "token must not contain control characters other than tab")
		}
	default:
		return text.Invalid("auth.type", "unknown auth type %q", a.Type)
	}
	// Each type takes its own credentials only: a stray one is a mistake worth reporting.
	for _, c := range creds {
		if c.set && !slices.Contains(takes, c.name) {
			return text.Invalid("auth."+c.name, "%s auth takes no %s", a.Type, c.name)
		}
	}
	return nil
}

func validateWebhookSigning(spec *Spec) error {
	sg := spec.Signing
	if !sign.Known(sg.Scheme) {
		return text.Invalid("signing.scheme", "unknown signing scheme %q", sg.Scheme)
	}
	if !sign.TakesHeaderName(sg.Scheme) {
		if sg.HeaderName != "" {
			return text.Invalid("signing.headerName", "headerName is only used by %s", strings.Join(sign.HeaderNameSchemes(), " and "))
		}
	} else {
		if sg.HeaderName == "" {
			return text.Invalid("signing.headerName", "%s needs a headerName", sg.Scheme)
		}
		if !isHTTPToken(sg.HeaderName) {
			return text.Invalid("signing.headerName", "a header name must be an HTTP token (letters, digits, !#$%%&'*+-.^_`|~; no spaces)")
		}
		if err := sign.ValidateHeaderName(sg.Scheme, sg.HeaderName); err != nil {
			return text.Invalid("signing.headerName", "header %s is set by Herald or has its own meaning in HTTP: choose another name, such as X-Herald-Signature", sg.HeaderName)
		}
	}
	if sg.Scheme != sign.None && spec.SendDataUsing == SendQueryParams {
		return text.Invalid("signing.scheme", "signing needs a body: not possible with sendDataUsing QUERY_PARAMS")
	}
	return nil
}

// queryParamWriter returns the input that already sends the query parameter name (`urls[1]`,
// `queryParams[0]`), or "". Names compare as a receiver reads them: exactly, after
// URL-decoding ("+" is a space); the names Herald adds are sent URL-encoded, so they decode to
// themselves.
func queryParamWriter(spec *Spec, name string) string {
	for i, raw := range spec.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		for pair := range strings.SplitSeq(u.RawQuery, "&") {
			k, _, _ := strings.Cut(pair, "=")
			if dk, err := url.QueryUnescape(k); err == nil {
				k = dk
			}
			if k == name {
				return fmt.Sprintf("urls[%d]", i)
			}
		}
	}
	if spec.SendDataUsing == SendQueryParams {
		for i, q := range spec.QueryParams {
			if q.Name == name {
				return fmt.Sprintf("queryParams[%d]", i)
			}
		}
	}
	return ""
}

// authHeader returns the lower-case name of the header the auth settings write, or "".
func authHeader(a Auth) string {
	switch {
	case a.Type == AuthBasic, a.Type == AuthBearer:
		return "authorization"
	case a.Type == AuthAPIKey && a.Placement == PlacementHeader:
		return strings.ToLower(a.Key)
	}
	return ""
}

func validateWebhookHeaders(spec *Spec) error {
	if len(spec.Headers) > MaxWebhookHeaders {
		return text.Invalid("headers", "at most %d headers are allowed", MaxWebhookHeaders)
	}
	reserved := sign.Headers(spec.Signing.Scheme, spec.Signing.HeaderName)
	auth := authHeader(spec.Auth)
	for i, h := range spec.Headers {
		name := fmt.Sprintf("headers[%d].name", i)
		lower := strings.ToLower(h.Name)
		switch {
		case h.Name == "":
			return text.Invalid(name, "header name is required")
		case !isHTTPToken(h.Name):
			return text.Invalid(name, "header name must be an HTTP token (letters, digits, !#$%%&'*+-.^_`|~; no spaces)")
		case forbiddenHeaders[lower] != "":
			return text.Invalid(name, "header %s %s", h.Name, forbiddenHeaders[lower])
		case lower == auth:
			return text.Invalid(name, "header %s is written by the webhook's auth", h.Name)
		case slices.Contains(reserved, lower):
			return text.Invalid(name, "header %s is written by the webhook's signature", h.Name)
		case slices.ContainsFunc(spec.Headers[:i], func(o KV) bool { return strings.EqualFold(o.Name, h.Name) }):
			return text.Invalid(name, "header %s is listed twice", h.Name)
		}
		value := fmt.Sprintf("headers[%d].value", i)
		if !isHeaderValue(h.Value) {
			return text.Invalid(value, "header value must not contain control characters other than tab")
		}
		if utf8.RuneCountInString(h.Value) > MaxWebhookHeaderValueChars {
			return text.Invalid(value, "header value is longer than %d characters", MaxWebhookHeaderValueChars)
		}
	}
	return nil
}

func validateWebhookPayload(spec *Spec) error {
	switch spec.ContentType {
	case ContentJSON, ContentText:
	default:
		return text.Invalid("contentType", "unknown content type %q", spec.ContentType)
	}
	switch spec.Method {
	case MethodGet, MethodPost, MethodPut, MethodPatch, MethodDelete:
	default:
		return text.Invalid("method", "unknown method %q", spec.Method)
	}
	switch spec.SendDataUsing {
	case SendBody:
		if spec.Method == MethodGet {
			return text.Invalid("sendDataUsing", "method GET sends no body: use sendDataUsing QUERY_PARAMS")
		}
		if len(spec.QueryParams) > 0 {
			return text.Invalid("queryParams", "queryParams are sent only with sendDataUsing QUERY_PARAMS")
		}
		if spec.BodyTemplate != nil {
			if err := validateTemplate("bodyTemplate", *spec.BodyTemplate); err != nil {
				return err
			}
		}
	case SendQueryParams:
		if len(spec.QueryParams) == 0 {
			return text.Invalid("queryParams", "sendDataUsing QUERY_PARAMS needs at least one query parameter")
		}
		if err := queryParamCount(len(spec.QueryParams)); err != nil {
			return err
		}
		if spec.BodyTemplate != nil {
			return text.Invalid("bodyTemplate", "sendDataUsing QUERY_PARAMS sends no body: leave bodyTemplate empty")
		}
		for i, q := range spec.QueryParams {
			if strings.TrimSpace(q.Name) == "" {
				return text.Invalid(fmt.Sprintf("queryParams[%d].name", i), "query parameter name is required")
			}
			if strings.Contains(q.Name, "{{") {
				return text.Invalid(fmt.Sprintf("queryParams[%d].name", i), "query parameter names are sent as written, not as templates: only values are templates")
			}
			if err := validateTemplate(fmt.Sprintf("queryParams[%d].value", i), q.Value); err != nil {
				return err
			}
		}
	default:
		return text.Invalid("sendDataUsing", "unknown sendDataUsing %q", spec.SendDataUsing)
	}
	if len(spec.ExtraFields) > 0 && (spec.BodyTemplate != nil || spec.SendDataUsing == SendQueryParams) {
		return text.Invalid("extraFields", "extraFields extend the default envelope: they need sendDataUsing BODY and no bodyTemplate")
	}
	if len(spec.ExtraFields) > MaxWebhookExtraFields {
		return text.Invalid("extraFields", "at most %d extra fields are allowed", MaxWebhookExtraFields)
	}
	for i, f := range spec.ExtraFields {
		field := fmt.Sprintf("extraFields[%d].name", i)
		switch {
		case strings.TrimSpace(f.Name) == "":
			return text.Invalid(field, "extra field name is required")
		case slices.Contains(envelopeKeys, f.Name):
			return text.Invalid(field, "%s is a key of the envelope itself", f.Name)
		case slices.ContainsFunc(spec.ExtraFields[:i], func(o KV) bool { return o.Name == f.Name }):
			return text.Invalid(field, "extra field %s is listed twice", f.Name)
		}
	}
	return nil
}

// CheckTemplateSizes refuses templates over the limits of a webhook, with VALIDATION naming the
// field (bodyTemplate, queryParams, queryParams[i].value), without parsing them: a preview of
// unsaved input checks them first, as parsing and rendering cost grows with their size.
func CheckTemplateSizes(bodyTemplate *string, queryValues []string) error {
	if bodyTemplate != nil {
		if err := templateSize("bodyTemplate", *bodyTemplate); err != nil {
			return err
		}
	}
	if err := queryParamCount(len(queryValues)); err != nil {
		return err
	}
	for i, v := range queryValues {
		if err := templateSize(fmt.Sprintf("queryParams[%d].value", i), v); err != nil {
			return err
		}
	}
	return nil
}

// templateSize refuses a template longer than MaxWebhookTemplateChars characters.
func templateSize(field, src string) error {
	if utf8.RuneCountInString(src) > MaxWebhookTemplateChars {
		return text.Invalid(field, "template is longer than %d characters", MaxWebhookTemplateChars)
	}
	return nil
}

// queryParamCount refuses more than MaxWebhookQueryParams query parameters.
func queryParamCount(n int) error {
	if n > MaxWebhookQueryParams {
		return text.Invalid("queryParams", "at most %d query parameters are allowed", MaxWebhookQueryParams)
	}
	return nil
}

// validateTemplate parses a template and refuses it with its first error's line and column.
func validateTemplate(field, src string) error {
	if err := templateSize(field, src); err != nil {
		return err
	}
	if err := text.Lines(field, src, MaxWebhookTemplateChars); err != nil {
		return err
	}
	if _, errs := render.Parse(src); len(errs) > 0 {
		e := errs[0]
		return text.Invalid(field, "line %d, column %d: %s", e.Line, e.Column, e.Message)
	}
	return nil
}

func validateWebhookDelivery(spec *Spec) error {
	if spec.RetryCount < MinRetryCount || spec.RetryCount > MaxRetryCount {
		return text.Invalid("retryCount", "retryCount must be from %d to %d", MinRetryCount, MaxRetryCount)
	}
	if spec.RetryIntervalMinutes < MinRetryIntervalMinutes || spec.RetryIntervalMinutes > MaxRetryIntervalMinutes {
		return text.Invalid("retryIntervalMinutes", "retryIntervalMinutes must be from %d to %d", MinRetryIntervalMinutes, MaxRetryIntervalMinutes)
	}
	if spec.TimeoutSeconds < MinTimeoutSeconds || spec.TimeoutSeconds > MaxTimeoutSeconds {
		return text.Invalid("timeoutSeconds", "timeoutSeconds must be from %d to %d", MinTimeoutSeconds, MaxTimeoutSeconds)
	}
	if spec.FailureNotificationEmail != nil {
		if err := text.Email("failureNotificationEmail", *spec.FailureNotificationEmail); err != nil {
			return err
		}
	}
	return nil
}

func validateWebhookFilter(spec *Spec) error {
	if spec.Filter == nil {
		return nil
	}
	return validateFilterGroup("filter", spec.Filter, 1)
}

func validateFilterGroup(path string, f *Filter, depth int) error {
	if depth > MaxFilterDepth {
		return text.Invalid(path, "filter groups nest at most %d deep", MaxFilterDepth)
	}
	if f.Join != FilterAnd && f.Join != FilterOr {
		return text.Invalid(path+".join", "join must be AND or OR")
	}
	if len(f.Conditions) == 0 && len(f.Groups) == 0 {
		return text.Invalid(path, "a filter group needs at least one condition or group")
	}
	if len(f.Conditions) > MaxFilterConditions {
		return text.Invalid(path+".conditions", "at most %d conditions per group are allowed", MaxFilterConditions)
	}
	if len(f.Groups) > MaxFilterGroups {
		return text.Invalid(path+".groups", "at most %d groups per group are allowed", MaxFilterGroups)
	}
	for i, c := range f.Conditions {
		at := fmt.Sprintf("%s.conditions[%d]", path, i)
		switch c.Field {
		case FilterService, FilterAlertSource, FilterUrgency:
		default:
			return text.Invalid(at+".field", "unknown filter field %q", c.Field)
		}
		if c.Operator != FilterIs && c.Operator != FilterIsNot {
			return text.Invalid(at+".operator", "operator must be IS or IS_NOT")
		}
		if strings.TrimSpace(c.Value) == "" {
			return text.Invalid(at+".value", "value is required")
		}
		if c.Field == FilterUrgency && c.Value != UrgencyHigh && c.Value != UrgencyLow {
			return text.Invalid(at+".value", "urgency is HIGH or LOW")
		}
	}
	for i, g := range f.Groups {
		at := fmt.Sprintf("%s.groups[%d]", path, i)
		if g == nil {
			return text.Invalid(at, "a filter group is required")
		}
		if err := validateFilterGroup(at, g, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// isHeaderValue reports whether s is a header field value net/http will send (RFC 9110 §5.5,
// as httpguts.ValidHeaderFieldValue checks it): no control characters but tab; bytes from
// 0x80 are obs-text and pass.
func isHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// isHTTPToken reports whether s is an RFC 9110 token, the syntax of a header name.
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// jsonSampleTime is the clock of the sample incidents a JSON body template is checked against:
// whether a body is JSON does not depend on it.
var jsonSampleTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ValidateJSONBody refuses, with VALIDATION on bodyTemplate, a JSON body template whose
// rendering for the sample incident of one of the webhook's events (render.Sample), whole,
// before the body limit cuts it, is not valid JSON: the message gives the line and column of
// the rendered body where it stops being JSON and what to write instead. Other specifications
// pass; spec is one Validate accepted.
func ValidateJSONBody(spec *Spec) error {
	if spec.SendDataUsing != SendBody || spec.ContentType != ContentJSON || spec.BodyTemplate == nil {
		return nil
	}
	t, errs := render.Parse(*spec.BodyTemplate)
	if len(errs) > 0 {
		return nil
	}
	for _, e := range spec.Events {
		d := render.Sample(EventWireName(e), jsonSampleTime)
		if je := render.CheckJSON(t, &d); je != nil {
			return text.Invalid("bodyTemplate", "with contentType JSON the body must be JSON, but for the sample %s incident it is not: line %d, column %d of the rendered body: %s; %s",
				e, je.Line, je.Column, je.Message, je.Hint)
		}
	}
	return nil
}
