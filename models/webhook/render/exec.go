package render

import (
	"time"
	"unicode/utf8"
)

// timeLayout is the placeholder format of SPEC §5 (yyyy-MM-ddTHH:mmZ, always UTC).
const timeLayout = "2006-01-02T15:04Z"

// AppendRender appends the rendering of t for d to dst and returns the extended slice. It
// applies no length limit; see [RenderBody]. With a reused dst it does not allocate.
func (t *Template) AppendRender(dst []byte, d *Data, ct ContentType) []byte {
	return appendNodes(dst, t.nodes, d, ct)
}

// RenderBody renders t for d as a request body and cuts it at MaxBodyChars characters;
// truncated reports the cut.
func RenderBody(t *Template, d *Data, ct ContentType) (body []byte, truncated bool) {
	body = t.AppendRender(make([]byte, 0, t.sizeHint(d)), d, ct)
	return cutChars(body, MaxBodyChars)
}

// sizeHint guesses the rendered size so that RenderBody allocates once in the common case.
func (t *Template) sizeHint(d *Data) int {
	return t.literal + t.fields*16 + len(d.Incident.Title) + len(d.Incident.Description) + 64
}

func appendNodes(dst []byte, nodes []node, d *Data, ct ContentType) []byte {
	for i := range nodes {
		n := &nodes[i]
		switch {
		case n.cond != nil:
			dst = appendNodes(dst, n.cond.body(n.cond.pick(d)), d, ct)
		case n.field != fieldNone:
			dst = appendField(dst, n.field, d, ct)
		default:
			dst = append(dst, n.text...)
		}
	}
	return dst
}

// pick returns the index of the first branch whose condition holds, or len(c.branches) for
// the fallback.
func (c *cond) pick(d *Data) int {
	var scratch [64]byte
	for i := range c.branches {
		b := &c.branches[i]
		v := appendField(scratch[:0], b.field, d, TEXT)
		var eq bool
		if fieldInfos[b.field].values != nil {
			eq = equalFoldASCII(v, b.value)
		} else {
			eq = string(v) == b.value
		}
		if eq != b.negate {
			return i
		}
	}
	return len(c.branches)
}

// body returns the nodes of branch i, or the fallback for len(c.branches).
func (c *cond) body(i int) []node {
	if i < len(c.branches) {
		return c.branches[i].body
	}
	return c.fallback
}

// equalFoldASCII reports whether a and b are equal ignoring ASCII case.
func equalFoldASCII(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// appendField appends the value of f for d, escaped for ct.
func appendField(dst []byte, f field, d *Data, ct ContentType) []byte {
	in := &d.Incident
	switch f {
	case fieldIncidentID:
		return appendValue(dst, in.ID, ct)
	case fieldIncidentTitle:
		return appendValue(dst, in.Title, ct)
	case fieldIncidentDescription:
		return appendValue(dst, in.Description, ct)
	case fieldIncidentUrgency:
		return appendLower(dst, in.Urgency, ct)
	case fieldIncidentStatus:
		return appendLower(dst, in.Status, ct)
	case fieldIncidentMappedWith:
		return appendValue(dst, in.MappedWith, ct)
	case fieldIncidentURL:
		return appendValue(dst, in.URL, ct)
	case fieldIncidentAlertSource:
		return appendValue(dst, in.AlertSource, ct)
	case fieldIncidentServiceID:
		return appendValue(dst, in.ServiceID, ct)
	case fieldIncidentServiceName:
		return appendValue(dst, in.ServiceName, ct)
	case fieldIncidentTeamID:
		return appendValue(dst, in.TeamID, ct)
	case fieldIncidentTeamName:
		return appendValue(dst, in.TeamName, ct)
	case fieldIncidentAssignee:
		return appendValue(dst, in.Assignee, ct)
	case fieldIncidentCreatedAt:
		return appendTime(dst, in.CreatedAt)
	case fieldWebhookID:
		return appendValue(dst, d.WebhookID, ct)
	case fieldWebhookEvent:
		return appendValue(dst, d.Event, ct)
	case fieldDeliveryID:
		return appendValue(dst, d.DeliveryID, ct)
	case fieldUser:
		return appendValue(dst, d.User, ct)
	case fieldTimestamp:
		return appendTime(dst, d.Timestamp)
	}
	return dst
}

// appendTime formats t as yyyy-MM-ddTHH:mmZ in UTC; the zero time renders empty.
func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return dst
	}
	return t.UTC().AppendFormat(dst, timeLayout)
}

func appendValue(dst []byte, s string, ct ContentType) []byte {
	if ct == TEXT {
		return append(dst, s...)
	}
	return appendJSONEscaped(dst, s)
}

// appendLower appends s with ASCII letters lowercased, escaped for ct.
func appendLower(dst []byte, s string, ct ContentType) []byte {
	start := len(dst)
	dst = appendValue(dst, s, ct)
	for i := start; i < len(dst); i++ {
		if c := dst[i]; 'A' <= c && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// jsonSafe reports the ASCII bytes that need no escaping inside a JSON string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONEscaped appends s escaped as the inside of a JSON string (no quotes): quotes,
// backslashes and control characters are escaped, U+2028 and U+2029 become \u2028 and \u2029
// (JavaScript line terminators), and invalid UTF-8 becomes \ufffd, so the result is valid
// JSON string content for any s.
func appendJSONEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// cutChars cuts b after max characters without splitting a UTF-8 sequence. An invalid byte
// counts as one character, as it does everywhere in Go.
func cutChars(b []byte, max int) ([]byte, bool) {
	if len(b) <= max {
		return b, false
	}
	n := 0
	for i := 0; i < len(b); n++ {
		if n == max {
			return b[:i], true
		}
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, size := utf8.DecodeRune(b[i:])
		i += size
	}
	return b, false
}
