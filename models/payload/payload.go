// Package payload reads the alert payloads integrations receive: which parts of a JSON
// payload make an incident's title, description, urgency and mapping value, and which resolve
// or acknowledge it (APIFilter, with gjson paths), and the titles Herald generates, in the
// configured language, when a payload gives none. It is pure: it holds no rows, does no I/O
// and knows nothing of the store, which calls it on every payload.
package payload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/herald-hq/herald/models/text"
	"github.com/herald-hq/herald/models/webhook"
	"github.com/tidwall/gjson"
)

// APIFilter tells how an integration reads incoming payloads (gjson paths).
type APIFilter struct {
	TitleKey        string `json:"titleKey,omitempty"`
	DescriptionKey  string `json:"descriptionKey,omitempty"`
	UrgencyKey      string `json:"urgencyKey,omitempty"`
	MappingKey      string `json:"mappingKey,omitempty"`
	ResolveWhen     *Match `json:"resolveWhen,omitempty"`
	AcknowledgeWhen *Match `json:"acknowledgeWhen,omitempty"`
}

// Match is a key (gjson path) and the value that triggers an action.
type Match struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// MaxMappingLen is the longest mapping value kept as it is, in bytes; a longer one is
// replaced by its SHA-256 (MappingValue), and a longer mappedWith is refused.
const MaxMappingLen = 200

// Limits of the incoming API's generated values.
const (
	maxPathLen         = 256
	maxTitleRunes      = 500
	maxSourceRunes     = 200
	maxMatchValueChars = 1000
)

// Validate checks an integration's API filter: every key a well-formed gjson path,
// every resolveWhen/acknowledgeWhen with a key and a value, and a mappingKey beside them (it
// finds the incident they act on). It returns VALIDATION naming the field
// (`apiFilter.resolveWhen.key`).
func Validate(f APIFilter) error {
	paths := []struct{ field, path string }{
		{"apiFilter.titleKey", f.TitleKey},
		{"apiFilter.descriptionKey", f.DescriptionKey},
		{"apiFilter.urgencyKey", f.UrgencyKey},
		{"apiFilter.mappingKey", f.MappingKey},
	}
	for _, p := range paths {
		if p.path == "" {
			continue
		}
		if err := validPath(p.path); err != nil {
			return text.Invalid(p.field, "%q is not a valid JSON path: %v", p.path, err)
		}
	}
	matches := []struct {
		field string
		m     *Match
	}{{"apiFilter.resolveWhen", f.ResolveWhen}, {"apiFilter.acknowledgeWhen", f.AcknowledgeWhen}}
	for _, m := range matches {
		if m.m == nil {
			continue
		}
		if strings.TrimSpace(m.m.Key) == "" {
			return text.Invalid(m.field+".key", "key is required")
		}
		if err := validPath(m.m.Key); err != nil {
			return text.Invalid(m.field+".key", "%q is not a valid JSON path: %v", m.m.Key, err)
		}
		if strings.TrimSpace(m.m.Value) == "" {
			return text.Invalid(m.field+".value", "value is required")
		}
		if err := text.Line(m.field+".value", m.m.Value, maxMatchValueChars); err != nil {
			return err
		}
	}
	// A resolve or acknowledge payload acts on the open incident its mapping value finds:
	// without a mappingKey every one of them would be ignored.
	for _, m := range matches {
		if m.m != nil && f.MappingKey == "" {
			name := strings.TrimPrefix(m.field, "apiFilter.")
			return text.Invalid("apiFilter.mappingKey", "%s needs a mappingKey to find the incident it resolves or acknowledges", name)
		}
	}
	return nil
}

// validPath checks a gjson path: not blank, bounded, printable, no empty component, balanced
// brackets and quotes, no dangling escape.
func validPath(p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("empty path")
	}
	if len(p) > maxPathLen {
		return fmt.Errorf("longer than %d bytes", maxPathLen)
	}
	if !utf8.ValidString(p) {
		return errors.New("not valid UTF-8")
	}
	var stack []rune
	inQuote, escaped, empty := false, false, true
	for _, r := range p {
		switch {
		case unicode.IsControl(r):
			return errors.New("contains a control character")
		case escaped:
			escaped, empty = false, false
			continue
		case r == '\\':
			escaped = true
			continue
		case inQuote:
			if r == '"' {
				inQuote = false
			}
			continue
		}
		switch r {
		case '"':
			if len(stack) == 0 {
				return errors.New("quote outside a query")
			}
			inQuote = true
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			open := map[rune]rune{')': '(', ']': '[', '}': '{'}[r]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("unbalanced %q", r)
			}
			stack = stack[:len(stack)-1]
		case '.', '|':
			if len(stack) == 0 {
				if empty {
					return errors.New("empty path component")
				}
				empty = true
				continue
			}
		}
		empty = false
	}
	switch {
	case escaped:
		return errors.New("ends with a backslash")
	case inQuote:
		return errors.New("unterminated quote")
	case len(stack) > 0:
		return fmt.Errorf("unclosed %q", stack[len(stack)-1])
	case empty:
		return errors.New("empty path component")
	}
	return nil
}

// lookup returns the non-blank text at path in a JSON payload, and whether there was one.
func lookup(payload []byte, path string) (string, bool) {
	if path == "" || !gjson.ValidBytes(payload) {
		return "", false
	}
	r := gjson.GetBytes(payload, path)
	if !r.Exists() {
		return "", false
	}
	v := CleanText(r.String())
	if strings.TrimSpace(v) == "" {
		return "", false
	}
	return v, true
}

// CleanText makes s storable in any database: valid UTF-8 without NUL bytes.
func CleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// truncateRunes cuts s to at most n runes, marking the cut with an ellipsis.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// CleanSource normalises the `from` parameter of the incoming API: trimmed, printable,
// at most 200 characters; empty means unknown.
func CleanSource(from string) string {
	from = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, CleanText(from))
	return truncateRunes(strings.TrimSpace(from), maxSourceRunes)
}

// Title returns the title of an incident taken in through the incoming API: with the
// filter's titleKey found in the payload `SOURCE - VALUE` (or `VALUE` without a source),
// otherwise the generated "Incident from SOURCE" / "Incident from unknown source" in lang.
func Title(lang, source string, payload []byte, f APIFilter) string {
	if v, ok := lookup(payload, f.TitleKey); ok {
		v = strings.TrimSpace(v)
		if source != "" {
			v = source + " - " + v
		}
		return truncateRunes(v, maxTitleRunes)
	}
	return truncateRunes(GeneratedIncidentTitle(lang, source), maxTitleRunes)
}

// Description returns the value at the filter's descriptionKey, or else the whole
// payload as text (also when it is not JSON).
func Description(payload []byte, f APIFilter) string {
	if v, ok := lookup(payload, f.DescriptionKey); ok {
		return v
	}
	return CleanText(string(payload))
}

// Urgency returns LOW when the value at the filter's urgencyKey is "low"
// (case-insensitively) and HIGH otherwise.
func Urgency(payload []byte, f APIFilter) string {
	if v, ok := lookup(payload, f.UrgencyKey); ok && strings.EqualFold(strings.TrimSpace(v), "low") {
		return webhook.UrgencyLow
	}
	return webhook.UrgencyHigh
}

// MappingValue returns the value at the filter's mappingKey that ties payloads to one
// incident, or "" without one. Values longer than 200 bytes are replaced by their SHA-256 so
// that they stay indexable.
func MappingValue(payload []byte, f APIFilter) string {
	v, ok := lookup(payload, f.MappingKey)
	if !ok {
		return ""
	}
	if len(v) > MaxMappingLen {
		sum := sha256.Sum256([]byte(v))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return v
}

// Matches reports whether the payload's value at m.Key equals m.Value, ignoring case and
// surrounding spaces; a nil m never matches.
func Matches(payload []byte, m *Match) bool {
	if m == nil {
		return false
	}
	v, ok := lookup(payload, m.Key)
	return ok && strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(m.Value))
}
