package render

// QueryParam is a query parameter: a literal name and a template for its value (nil renders
// an empty value).
type QueryParam struct {
	Name  string
	Value *Template
}

// QueryString renders params for d as name=value pairs joined by &. Each value is rendered raw
// (as TEXT) and then URL-encoded exactly once, like url.QueryEscape; names are encoded the same
// way. The result is cut at MaxQueryChars characters, never inside a %XX escape nor between the
// escapes of one UTF-8 character; truncated reports the cut.
func QueryString(params []QueryParam, d *Data) (query string, truncated bool) {
	b := AppendQuery(make([]byte, 0, 256), params, d)
	b, truncated = cutQuery(b, MaxQueryChars)
	return string(b), truncated
}

// AppendQuery appends the encoded query string of params for d to dst, without length limit.
func AppendQuery(dst []byte, params []QueryParam, d *Data) []byte {
	for i, p := range params {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = appendQueryEscaped(dst, p.Name)
		dst = append(dst, '=')
		// Render raw behind the output, encode it after itself, then move the encoding down.
		if p.Value == nil {
			continue
		}
		m := len(dst)
		dst = p.Value.AppendRender(dst, d, TEXT)
		n := len(dst)
		dst = appendQueryEscaped(dst, dst[m:n])
		dst = dst[:m+copy(dst[m:], dst[n:])]
	}
	return dst
}

// appendQueryEscaped appends s encoded like url.QueryEscape.
func appendQueryEscaped[S string | []byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xf])
		}
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// cutQuery cuts an encoded query string (pure ASCII) at max bytes, moving the cut back to the
// start of a %XX escape it would split and to the first escape of a UTF-8 sequence it would
// split.
func cutQuery(b []byte, max int) ([]byte, bool) {
	if len(b) <= max {
		return b, false
	}
	cut := max
	switch {
	case cut >= 1 && b[cut-1] == '%':
		cut--
	case cut >= 2 && b[cut-2] == '%':
		cut -= 2
	}
	// Walk back over escaped continuation bytes to the lead byte of their character.
	lead, conts := cut, 0
	for lead >= 3 && b[lead-3] == '%' {
		v := unhex(b[lead-2])<<4 | unhex(b[lead-1])
		lead -= 3
		if v&0xC0 != 0x80 {
			if want := utf8SeqLen(v); want > 1 && conts+1 < want {
				cut = lead
			}
			break
		}
		conts++
	}
	return b[:cut], true
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// utf8SeqLen is the length of the UTF-8 sequence a lead byte announces (1 for ASCII or invalid).
func utf8SeqLen(lead byte) int {
	switch {
	case lead&0xE0 == 0xC0:
		return 2
	case lead&0xF0 == 0xE0:
		return 3
	case lead&0xF8 == 0xF0:
		return 4
	}
	return 1
}
