// Package render is Herald's payload template language: a lexer and parser that turn a body or
// query-parameter template into a position-annotated syntax tree, and a renderer that fills it
// in for one delivery without reflection, fmt or I/O. It also owns the placeholder catalog
// (Catalog), the built-in sample incident (Sample) and the default envelope. It is a pure
// leaf: it must not import models/webhook or the store, read the clock (the send time comes
// in Data) or do I/O.
//
// A template is literal text with placeholders ({{incident.title}}, spaces allowed inside the
// braces) and conditional blocks:
//
//	{{{ if(incident.urgency==high) return("P1"); if({{incident.status}}!=triggered) return("P3"); return("P2"); }}}
//
// A block holds at least one if and exactly one stand-alone return, the fallback, which comes
// last. The placeholder of an if may be written with or without braces; the value may be bare
// or quoted with double or single quotes; == and != are accepted. The text of a return is
// emitted exactly as written between its parentheses (quotes and spaces included) with its
// placeholders substituted; it ends at the ) balancing the opening one, parentheses inside
// double-quoted strings not counting. Values of enumerated placeholders (urgency, status,
// event) compare case-insensitively and must be one of their values; others compare exactly.
// A {{ right after an odd run of backslashes is literal text: the last backslash is dropped, so
// \{{ renders {{ and \\\{{ renders \\{{; the text after the braces is parsed as usual. After an
// even run (\\{{incident.id}} in a JSON string, say) the backslashes are literal and the {{
// starts a placeholder. This holds in return texts and query-parameter values too; the value of
// an if holds no placeholders and is compared as written.
//
// In JSON content every substituted value is JSON-string-escaped without surrounding quotes;
// in TEXT content it is inserted raw. Query-parameter values are rendered raw and URL-encoded
// once. Bodies are cut at [MaxBodyChars] characters and query strings at [MaxQueryChars].
package render

import (
	"strconv"
	"time"
)

// Data is everything a template can see for one delivery.
type Data struct {
	Event      string    // wire name: "incident.created", "incident.acknowledged", "incident.unacknowledged", "incident.resolved", "incident.reassigned"
	DeliveryID string    // id of the delivery, the same on every attempt
	WebhookID  string    // id of the webhook
	Timestamp  time.Time // when the webhook is sent
	User       string    // acting user's name, or the integration name
	Incident   Incident
}

// Incident is the incident a delivery is about, as templates see it.
type Incident struct {
	ID, Title, Description string
	Urgency                string // "HIGH" or "LOW" (the placeholder renders it lowercase)
	Status                 string // "TRIGGERED", "ACKNOWLEDGED" or "RESOLVED" (the placeholder renders it lowercase)
	MappedWith, URL        string
	AlertSource            string
	ServiceID, ServiceName string
	TeamID, TeamName       string
	Assignee               string // assignee name, "" if none
	CreatedAt              time.Time
	AcknowledgedAt         *time.Time
	ResolvedAt             *time.Time
}

// KV is a name and a string value: an extra envelope field or a query parameter.
type KV struct{ Name, Value string }

// ContentType selects how substituted values are escaped.
type ContentType string

// The content types of SPEC §4. Any other value is rendered like JSON, the safe choice.
const (
	// JSON content: substituted values are JSON-string-escaped.
	JSON ContentType = "JSON"
	// TEXT content: substituted values are inserted raw.
	TEXT ContentType = "TEXT"
)

// The limits of SPEC §5, in characters (Unicode code points).
const (
	// MaxBodyChars is where a rendered body is cut.
	MaxBodyChars = 20000
	// MaxQueryChars is where a rendered query string is cut.
	MaxQueryChars = 10000
)

// Error is a template error with its 1-based line and column (counted in characters).
type Error struct {
	Line, Column int
	Message      string
}

// Error formats e as "line 3, column 7: message".
func (e Error) Error() string {
	b := make([]byte, 0, len(e.Message)+24)
	b = append(b, "line "...)
	b = strconv.AppendInt(b, int64(e.Line), 10)
	b = append(b, ", column "...)
	b = strconv.AppendInt(b, int64(e.Column), 10)
	b = append(b, ": "...)
	b = append(b, e.Message...)
	return string(b)
}
