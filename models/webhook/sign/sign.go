// Package sign implements Herald's request-signing schemes (SPEC §4): the
// Callgoose-style HMAC-SHA512 header, the Zenduty-style HMAC-SHA256
// X-SIGNATURE header and Standard Webhooks.
//
// It owns each scheme's secrets (GenerateSecret, ValidateSecret), signing and
// checking (Sign, Verify) and the headers it writes and hides (Headers,
// Redacted). It is a leaf: it must not import models/webhook or the store,
// do I/O or read the clock (GenerateSecret alone reads crypto/rand). The
// caller passes the timestamp, so a delivery signed twice with the same inputs
// yields the same headers.
package sign

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signing schemes; the values are the GraphQL enum names.
const (
	// None sends no signature.
	None = "NONE"
	// HMACSHA512 is the Callgoose form: a header named by the user whose value
	// is "TIMESTAMP,SIGNATURE", SIGNATURE being the lowercase hex
	// HMAC-SHA512(secret, TIMESTAMP + "." + body) and TIMESTAMP Unix seconds.
	HMACSHA512 = "HMAC_SHA512"
	// HMACSHA256 is the Zenduty form: header X-SIGNATURE carrying the standard
	// base64 of HMAC-SHA256(secret, body).
	HMACSHA256 = "HMAC_SHA256"
	// StandardWebhooks follows https://www.standardwebhooks.com: headers
	// webhook-id, webhook-timestamp and webhook-signature ("v1,BASE64", several
	// separated by spaces) over "id.timestamp.body".
	StandardWebhooks = "STANDARD_WEBHOOKS"
)

// Header names written by the schemes, in the spelling of SPEC §4.
const (
	// HeaderID carries the delivery id on every request, whatever the scheme
	// (SPEC §6), so receivers can drop duplicates.
	HeaderID = "webhook-id"
	// HeaderTimestamp is the Standard Webhooks timestamp header.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature is the Standard Webhooks signature header.
	HeaderSignature = "webhook-signature"
	// HeaderXSignature is the HMAC_SHA256 signature header.
	HeaderXSignature = "X-SIGNATURE"
)

// Secret formats.
const (
	// StandardSecretPrefix starts every STANDARD_WEBHOOKS secret; the rest is
	// the standard base64 of the key.
	StandardSecretPrefix = "whsec_"
	// secretBytes is the entropy of a generated secret, for every scheme.
	secretBytes = 32
	// minStandardKey and maxStandardKey bound a decoded Standard Webhooks key,
	// as the specification recommends.
	minStandardKey = 24
	maxStandardKey = 64
	// keyBuf holds any key whose base64 is no longer than that of
	// maxStandardKey bytes (base64 decodes in 3-byte groups).
	keyBuf = (maxStandardKey + 2) / 3 * 3
	// minHMACSecret and maxHMACSecret bound an HMAC secret. Herald generates
	// 64 characters; the range leaves room for secrets carried over from
	// another tool without accepting a password-sized one.
	minHMACSecret = 16
	maxHMACSecret = 256
)

// Errors returned by this package; callers map them to VALIDATION (a bad
// secret or header name given by a user) or INTERNAL (a stored secret that no
// longer validates).
var (
	// ErrUnknownScheme is returned for a scheme none of the constants above.
	ErrUnknownScheme = errors.New("unknown signing scheme")
	// ErrInvalidSecret is returned for a secret without the scheme's format.
	ErrInvalidSecret = errors.New("invalid signing secret")
	// ErrNoSecret is returned when a signing scheme is given no secret.
	ErrNoSecret = errors.New("no signing secret")
	// ErrInvalidHeaderName is returned when the HMAC_SHA512 header name is
	// not an HTTP token or is one of the names reservedHeaders lists.
	ErrInvalidHeaderName = errors.New("invalid signature header name")
	// ErrMissingID is returned when STANDARD_WEBHOOKS is given no message id.
	ErrMissingID = errors.New("missing message id")
	// ErrMissingHeader is returned when a header Verify needs is absent.
	ErrMissingHeader = errors.New("missing signature header")
	// ErrMalformedHeader is returned when a signature header cannot be parsed.
	ErrMalformedHeader = errors.New("malformed signature header")
	// ErrTimestamp is returned when the signed timestamp is outside the tolerance.
	ErrTimestamp = errors.New("signature timestamp outside tolerance")
	// ErrNoMatch is returned when no signature matches the secret.
	ErrNoMatch = errors.New("no matching signature")
)

// Header is one HTTP header to set on a request. Names are spelled as in
// SPEC §4; HTTP header names are case-insensitive.
type Header struct {
	Name  string
	Value string
}

// GenerateSecret returns a new random secret for scheme: for
// STANDARD_WEBHOOKS "whsec_" followed by the standard base64 of 32 random
// bytes; for HMAC_SHA512 and HMAC_SHA256 the lowercase hex of 32 random bytes
// (64 characters), used as the HMAC key as written (its UTF-8 bytes, as the
// Callgoose and Zenduty receivers do). NONE has no secret: it returns "".
// Errors: ErrUnknownScheme.
func GenerateSecret(scheme string) (string, error) {
	if scheme == None {
		return "", nil
	}
	if !known(scheme) {
		return "", fmt.Errorf("generate secret: %w", ErrUnknownScheme)
	}
	var raw [secretBytes]byte
	rand.Read(raw[:]) // never fails: crypto/rand crashes the program instead (Go 1.24+)
	if scheme == StandardWebhooks {
		return StandardSecretPrefix + base64.StdEncoding.EncodeToString(raw[:]), nil
	}
	return hex.EncodeToString(raw[:]), nil
}

// ValidateSecret reports whether secret has the format scheme needs: for
// STANDARD_WEBHOOKS "whsec_" then standard base64 of a 24- to 64-byte key;
// for the HMAC schemes 16 to 256 printable ASCII characters without spaces;
// for NONE the empty string. Errors: ErrUnknownScheme, ErrInvalidSecret.
func ValidateSecret(scheme, secret string) error {
	switch scheme {
	case None:
		if secret != "" {
			return fmt.Errorf("%w: scheme NONE takes no secret", ErrInvalidSecret)
		}
		return nil
	case HMACSHA512, HMACSHA256:
		return validateHMACSecret(secret)
	case StandardWebhooks:
		var key [keyBuf]byte
		_, err := decodeStandardSecret(key[:], secret)
		return err
	}
	return ErrUnknownScheme
}

// ValidateHeaderName reports whether name can carry the signature of scheme.
// Only HMAC_SHA512 lets the user choose: the name must be an HTTP token and,
// compared case-insensitively, not one of the headers Herald writes itself
// (webhook-*, X-SIGNATURE, Content-Type, Authorization, User-Agent), the
// transport owns (Host, Content-Length, Transfer-Encoding) or that describe
// the connection rather than the request (Connection, Keep-Alive,
// Proxy-Connection, TE, Trailer, Upgrade). Other schemes ignore name.
// Errors: ErrUnknownScheme, ErrInvalidHeaderName.
func ValidateHeaderName(scheme, name string) error {
	if !known(scheme) && scheme != None {
		return ErrUnknownScheme
	}
	if scheme != HMACSHA512 {
		return nil
	}
	if name == "" || !isToken(name) {
		return fmt.Errorf("%w: %q is not an HTTP token", ErrInvalidHeaderName, name)
	}
	for _, r := range reservedHeaders {
		if strings.EqualFold(name, r) {
			return fmt.Errorf("%w: %q is reserved", ErrInvalidHeaderName, name)
		}
	}
	return nil
}

// Sign returns the headers to set on a request of scheme carrying body.
// The first header is always webhook-id with msgID (SPEC §6, every scheme)
// when msgID is not empty; STANDARD_WEBHOOKS requires one.
//
// secrets lists the current secret first, then previous secrets still valid
// after a rotation. HMAC_SHA512 and HMAC_SHA256 have room for one signature
// and use secrets[0] only; STANDARD_WEBHOOKS signs with each, space-separated
// in webhook-signature. headerName names the HMAC_SHA512 header and is
// ignored by the other schemes. ts is the signing time, sent as Unix seconds.
//
// Errors: ErrUnknownScheme, ErrNoSecret, ErrInvalidSecret,
// ErrInvalidHeaderName, ErrMissingID.
func Sign(scheme, headerName string, secrets []string, msgID string, ts time.Time, body []byte) ([]Header, error) {
	if !known(scheme) && scheme != None {
		return nil, ErrUnknownScheme
	}
	headers := make([]Header, 0, 3)
	if msgID != "" {
		headers = append(headers, Header{Name: HeaderID, Value: msgID})
	}
	if scheme == None {
		return headers, nil
	}
	if len(secrets) == 0 {
		return nil, ErrNoSecret
	}
	var tsBuf [20]byte
	unix := strconv.AppendInt(tsBuf[:0], ts.Unix(), 10)

	switch scheme {
	case HMACSHA512:
		if err := ValidateHeaderName(scheme, headerName); err != nil {
			return nil, err
		}
		if err := validateHMACSecret(secrets[0]); err != nil {
			return nil, err
		}
		var sum [sha512.Size]byte
		mac := hmac.New(sha512.New, []byte(secrets[0]))
		mac.Write(unix)
		mac.Write(dot)
		mac.Write(body)
		// "TIMESTAMP,HEX": one allocation for the header value.
		value := make([]byte, 0, len(unix)+1+hex.EncodedLen(sha512.Size))
		value = append(value, unix...)
		value = append(value, ',')
		value = hex.AppendEncode(value, mac.Sum(sum[:0]))
		return append(headers, Header{Name: headerName, Value: string(value)}), nil

	case HMACSHA256:
		if err := validateHMACSecret(secrets[0]); err != nil {
			return nil, err
		}
		var sum [sha256.Size]byte
		mac := hmac.New(sha256.New, []byte(secrets[0]))
		mac.Write(body)
		return append(headers, Header{Name: HeaderXSignature, Value: base64.StdEncoding.EncodeToString(mac.Sum(sum[:0]))}), nil
	}

	// StandardWebhooks.
	if msgID == "" {
		return nil, ErrMissingID
	}
	const sigLen = len("v1,") + 44 // base64 of 32 bytes is 44 characters.
	value := make([]byte, 0, len(secrets)*(sigLen+1))
	var key [keyBuf]byte
	var sum [sha256.Size]byte
	for i, secret := range secrets {
		n, err := decodeStandardSecret(key[:], secret)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			value = append(value, ' ')
		}
		value = append(value, "v1,"...)
		value = base64.StdEncoding.AppendEncode(value, standardMAC(sum[:0], key[:n], msgID, unix, body))
	}
	return append(headers,
		Header{Name: HeaderTimestamp, Value: string(unix)},
		Header{Name: HeaderSignature, Value: string(value)},
	), nil
}

// Verify checks the signature headers h of a request carrying body against
// one secret, as a receiver would. For the schemes with a timestamp
// (HMAC_SHA512, STANDARD_WEBHOOKS) the timestamp must lie within tolerance of
// now, before or after; a tolerance of zero or less skips that check.
// HMAC_SHA256 signs no timestamp. NONE always verifies. Errors:
// ErrUnknownScheme, ErrInvalidSecret, ErrInvalidHeaderName, ErrMissingHeader,
// ErrMalformedHeader, ErrTimestamp, ErrNoMatch.
func Verify(scheme, headerName, secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	switch scheme {
	case None:
		return nil

	case HMACSHA512:
		if err := ValidateHeaderName(scheme, headerName); err != nil {
			return err
		}
		if err := validateHMACSecret(secret); err != nil {
			return err
		}
		v := h.Get(headerName)
		if v == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, headerName)
		}
		unix, sigHex, ok := strings.Cut(v, ",")
		if !ok {
			return fmt.Errorf("%w: %s is not TIMESTAMP,SIGNATURE", ErrMalformedHeader, headerName)
		}
		if err := checkTimestamp(unix, now, tolerance); err != nil {
			return err
		}
		var got [sha512.Size]byte
		if len(sigHex) != hex.EncodedLen(sha512.Size) {
			return fmt.Errorf("%w: signature is not %d hex digits", ErrMalformedHeader, hex.EncodedLen(sha512.Size))
		}
		if _, err := hex.Decode(got[:], []byte(sigHex)); err != nil {
			return fmt.Errorf("%w: signature is not hex", ErrMalformedHeader)
		}
		mac := hmac.New(sha512.New, []byte(secret))
		mac.Write([]byte(unix))
		mac.Write(dot)
		mac.Write(body)
		var sum [sha512.Size]byte
		if !hmac.Equal(got[:], mac.Sum(sum[:0])) {
			return ErrNoMatch
		}
		return nil

	case HMACSHA256:
		if err := validateHMACSecret(secret); err != nil {
			return err
		}
		v := h.Get(HeaderXSignature)
		if v == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderXSignature)
		}
		got, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return fmt.Errorf("%w: signature is not base64", ErrMalformedHeader)
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		var sum [sha256.Size]byte
		if !hmac.Equal(got, mac.Sum(sum[:0])) {
			return ErrNoMatch
		}
		return nil

	case StandardWebhooks:
		var key [keyBuf]byte
		n, err := decodeStandardSecret(key[:], secret)
		if err != nil {
			return err
		}
		id, unix, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
		if id == "" || unix == "" || sigs == "" {
			return ErrMissingHeader
		}
		if err := checkTimestamp(unix, now, tolerance); err != nil {
			return err
		}
		var sum [sha256.Size]byte
		want := standardMAC(sum[:0], key[:n], id, []byte(unix), body)
		var got [sha256.Size]byte
		for sig := range strings.FieldsSeq(sigs) {
			b64, ok := strings.CutPrefix(sig, "v1,")
			if !ok || len(b64) != base64.StdEncoding.EncodedLen(sha256.Size) {
				continue
			}
			if n, err := base64.StdEncoding.Decode(got[:], []byte(b64)); err == nil && hmac.Equal(got[:n], want) {
				return nil
			}
		}
		return ErrNoMatch
	}
	return ErrUnknownScheme
}

// Known reports whether scheme is one Sign takes, None included.
func Known(scheme string) bool {
	return scheme == None || known(scheme)
}

// TakesHeaderName reports whether scheme signs into a header the webhook names (the
// headerName of its signing settings); HeaderNameSchemes lists those schemes.
func TakesHeaderName(scheme string) bool {
	return slices.Contains(HeaderNameSchemes(), scheme)
}

// HeaderNameSchemes returns the schemes that sign into a header the webhook names.
func HeaderNameSchemes() []string {
	return []string{HMACSHA512}
}

// Headers returns the lower-case names of the headers Sign writes for scheme and headerName,
// webhook-id first (it goes out with every scheme, None included): no other header of the
// webhook may use them.
func Headers(scheme, headerName string) []string {
	names := []string{HeaderID}
	switch scheme {
	case HMACSHA512:
		names = append(names, strings.ToLower(headerName))
	case HMACSHA256:
		names = append(names, strings.ToLower(HeaderXSignature))
	case StandardWebhooks:
		names = append(names, HeaderTimestamp, HeaderSignature)
	}
	return names
}

// Redacted returns the names of the headers whose values are signatures for
// scheme (headerName being the HMAC_SHA512 header), so a delivery log can
// hide them; compare names case-insensitively. The slice must not be
// modified. Unknown schemes and NONE have none.
func Redacted(scheme, headerName string) []string {
	switch scheme {
	case HMACSHA512:
		return []string{headerName}
	case HMACSHA256:
		return redactedXSignature
	case StandardWebhooks:
		return redactedStandard
	}
	return nil
}

var (
	dot = []byte{'.'}
	// reservedHeaders cannot carry a signature. Herald writes the first
	// ones itself (User-Agent last of all, so a signature there would be
	// replaced and never reach the receiver), the transport the next, and
	// the connection-specific ones are dropped or refused by HTTP/2
	// (RFC 9113 §8.2.2).
	reservedHeaders = append([]string{
		HeaderID, HeaderTimestamp, HeaderSignature, HeaderXSignature, "Content-Type", "Authorization", "User-Agent",
		"Host", "Content-Length", "Transfer-Encoding",
	}, ConnectionHeaders...)
	// ConnectionHeaders describe the connection, not the request: HTTP/2 drops them or
	// refuses to send the request (RFC 9113 §8.2.2), so no header Herald sends may use them.
	ConnectionHeaders  = []string{"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade"}
	redactedXSignature = []string{HeaderXSignature}
	redactedStandard   = []string{HeaderSignature}
)

func known(scheme string) bool {
	return scheme == HMACSHA512 || scheme == HMACSHA256 || scheme == StandardWebhooks
}

// standardMAC appends HMAC-SHA256(key, id + "." + unix + "." + body) to dst.
func standardMAC(dst, key []byte, id string, unix, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id)
	mac.Write(dot)
	mac.Write(unix)
	mac.Write(dot)
	mac.Write(body)
	return mac.Sum(dst)
}

// decodeStandardSecret decodes a "whsec_" secret into key, which must hold
// keyBuf bytes, and returns the key length.
func decodeStandardSecret(key []byte, secret string) (int, error) {
	b64, ok := strings.CutPrefix(secret, StandardSecretPrefix)
	if !ok {
		return 0, fmt.Errorf("%w: missing %q prefix", ErrInvalidSecret, StandardSecretPrefix)
	}
	if len(b64) > base64.StdEncoding.EncodedLen(maxStandardKey) {
		return 0, fmt.Errorf("%w: key longer than %d bytes", ErrInvalidSecret, maxStandardKey)
	}
	n, err := base64.StdEncoding.Decode(key, []byte(b64))
	if err != nil {
		return 0, fmt.Errorf("%w: key is not standard base64", ErrInvalidSecret)
	}
	if n < minStandardKey || n > maxStandardKey {
		return 0, fmt.Errorf("%w: key must be %d to %d bytes", ErrInvalidSecret, minStandardKey, maxStandardKey)
	}
	return n, nil
}

func validateHMACSecret(secret string) error {
	if len(secret) < minHMACSecret || len(secret) > maxHMACSecret {
		return fmt.Errorf("%w: length must be %d to %d characters", ErrInvalidSecret, minHMACSecret, maxHMACSecret)
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: only printable ASCII without spaces", ErrInvalidSecret)
		}
	}
	return nil
}

// checkTimestamp parses unix (decimal Unix seconds) and checks it against
// now ± tolerance; tolerance <= 0 skips the range check.
func checkTimestamp(unix string, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(unix, 10, 64)
	if err != nil || sec < 0 {
		return fmt.Errorf("%w: timestamp is not Unix seconds", ErrMalformedHeader)
	}
	if tolerance <= 0 {
		return nil
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
