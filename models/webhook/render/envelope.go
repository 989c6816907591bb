package render

import (
	"time"
	"unicode/utf8"
)

// envelopeKeys are the top-level keys of the default envelope; extra fields never replace them.
var envelopeKeys = [...]string{"event", "deliveryId", "webhookId", "timestamp", "incident", "user"}

// Envelope returns the default JSON envelope of SPEC §5 for d, without length limit. See
// [AppendEnvelope] for the format and [EnvelopeBody] for the request body.
func Envelope(d *Data, extra []KV) []byte {
	return AppendEnvelope(make([]byte, 0, envelopeSize(d, extra)), d, extra)
}

// AppendEnvelope appends the default JSON envelope for d to dst:
//
//	{"event","deliveryId","webhookId","timestamp","incident":{"id","title","description",
//	"urgency","status","mappedWith","url","alertSource","service":{"id","name"},
//	"team":{"id","name"},"assignee","createdAt","acknowledgedAt","resolvedAt"},"user"}
//
// followed by the extra fields as string members. Urgency and status are the enum names (HIGH,
// TRIGGERED); times are RFC 3339 in UTC; mappedWith, alertSource, assignee, user and unset
// times are null when empty. An extra field named like a built-in top-level key, or like an
// earlier extra field, is left out, so the output is valid JSON with unique keys for any input.
func AppendEnvelope(dst []byte, d *Data, extra []KV) []byte {
	return appendEnvelope(dst, d, extra, -1)
}

// EnvelopeBody returns the default envelope as a request body of at most MaxBodyChars
// characters. An oversized envelope first loses the end of its description, which keeps it
// valid JSON; only when that is not enough is it cut like any other body. truncated reports
// either.
func EnvelopeBody(d *Data, extra []KV) (body []byte, truncated bool) {
	body = Envelope(d, extra)
	if len(body) <= MaxBodyChars || utf8.RuneCount(body) <= MaxBodyChars {
		return body, false
	}
	descChars := utf8.RuneCount(appendJSONEscaped(nil, d.Incident.Description))
	if budget := MaxBodyChars - (utf8.RuneCount(body) - descChars); budget >= 0 {
		return appendEnvelope(body[:0], d, extra, budget), true
	}
	return cutChars(body, MaxBodyChars)
}

func envelopeSize(d *Data, extra []KV) int {
	n := 560 + len(d.Incident.Title) + len(d.Incident.Description) + len(d.Incident.MappedWith)
	for _, kv := range extra {
		n += len(kv.Name) + len(kv.Value) + 6
	}
	return n
}

// appendEnvelope writes the envelope with the escaped description limited to descMax
// characters (no limit when negative).
func appendEnvelope(dst []byte, d *Data, extra []KV, descMax int) []byte {
	in := &d.Incident
	dst = append(dst, `{"event":`...)
	dst = appendJSONString(dst, d.Event)
	dst = append(dst, `,"deliveryId":`...)
	dst = appendJSONString(dst, d.DeliveryID)
	dst = append(dst, `,"webhookId":`...)
	dst = appendJSONString(dst, d.WebhookID)
	dst = append(dst, `,"timestamp":`...)
	dst = appendJSONTime(dst, d.Timestamp)
	dst = append(dst, `,"incident":{"id":`...)
	dst = appendJSONString(dst, in.ID)
	dst = append(dst, `,"title":`...)
	dst = appendJSONString(dst, in.Title)
	dst = append(dst, `,"description":"`...)
	if descMax < 0 {
		dst = appendJSONEscaped(dst, in.Description)
	} else {
		dst = appendJSONEscapedLimit(dst, in.Description, descMax)
	}
	dst = append(dst, `","urgency":`...)
	dst = appendJSONString(dst, in.Urgency)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, in.Status)
	dst = append(dst, `,"mappedWith":`...)
	dst = appendJSONOptional(dst, in.MappedWith)
	dst = append(dst, `,"url":`...)
	dst = appendJSONString(dst, in.URL)
	dst = append(dst, `,"alertSource":`...)
	dst = appendJSONOptional(dst, in.AlertSource)
	dst = append(dst, `,"service":{"id":`...)
	dst = appendJSONString(dst, in.ServiceID)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, in.ServiceName)
	dst = append(dst, `},"team":{"id":`...)
	dst = appendJSONString(dst, in.TeamID)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, in.TeamName)
	dst = append(dst, `},"assignee":`...)
	dst = appendJSONOptional(dst, in.Assignee)
	dst = append(dst, `,"createdAt":`...)
	dst = appendJSONTime(dst, in.CreatedAt)
	dst = append(dst, `,"acknowledgedAt":`...)
	dst = appendJSONTimePtr(dst, in.AcknowledgedAt)
	dst = append(dst, `,"resolvedAt":`...)
	dst = appendJSONTimePtr(dst, in.ResolvedAt)
	dst = append(dst, `},"user":`...)
	dst = appendJSONOptional(dst, d.User)
	for i, kv := range extra {
		if !extraAllowed(extra, i) {
			continue
		}
		dst = append(dst, ',')
		dst = appendJSONString(dst, kv.Name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, kv.Value)
	}
	return append(dst, '}')
}

// extraAllowed reports whether extra[i] neither shadows a built-in key nor repeats an earlier
// extra field.
func extraAllowed(extra []KV, i int) bool {
	name := extra[i].Name
	for _, k := range envelopeKeys {
		if k == name {
			return false
		}
	}
	for _, kv := range extra[:i] {
		if kv.Name == name {
			return false
		}
	}
	return true
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONEscaped(dst, s)
	return append(dst, '"')
}

func appendJSONOptional(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, s)
}

func appendJSONTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339)
	return append(dst, '"')
}

func appendJSONTimePtr(dst []byte, t *time.Time) []byte {
	if t == nil {
		return append(dst, "null"...)
	}
	return appendJSONTime(dst, *t)
}

// appendJSONEscapedLimit is appendJSONEscaped that stops before the escaped output would
// exceed max characters, never splitting an escape or a character.
func appendJSONEscapedLimit(dst []byte, s string, max int) []byte {
	var one [8]byte
	for i, r := range s {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, size = utf8.DecodeRuneInString(s[i:])
		}
		esc := appendJSONEscaped(one[:0], s[i:i+size])
		n := utf8.RuneCount(esc)
		if n > max {
			break
		}
		max -= n
		dst = append(dst, esc...)
	}
	return dst
}
