package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// SendMode says how a webhook sends its data (SPEC §4 sendDataUsing).
type SendMode string

// The send modes.
const (
	// SendBody sends the rendered body template or the default envelope.
	SendBody SendMode = "BODY"
	// SendQueryParams sends the rendered query parameters and no body.
	SendQueryParams SendMode = "QUERY_PARAMS"
)

// PreviewInput is what renderPreview renders.
type PreviewInput struct {
	BodyTemplate  string // empty: the default envelope
	QueryParams   []KV   // values are templates
	SendDataUsing SendMode
	ContentType   ContentType
	ExtraFields   []KV // merged into the default envelope
}

// PreviewResult is the answer of renderPreview. Body is set in BODY mode and Query in
// QUERY_PARAMS mode, both only when there are no errors; ValidJSON is set for JSON bodies.
type PreviewResult struct {
	Body      *string
	Query     *string
	Errors    []Error
	Warnings  []string
	Truncated bool
	ValidJSON *bool
}

// Preview parses and renders in for d without sending anything. Errors of a query parameter's
// template name the parameter in their message. Warnings point at placeholders outside JSON
// strings in JSON content, return texts that open or close a JSON string, bodies that are not
// valid JSON, and truncation.
func Preview(in PreviewInput, d *Data) PreviewResult {
	res := PreviewResult{Errors: []Error{}, Warnings: []string{}}
	if in.SendDataUsing == SendQueryParams {
		params := make([]QueryParam, 0, len(in.QueryParams))
		for _, kv := range in.QueryParams {
			t, errs := Parse(kv.Value)
			for _, e := range errs {
				e.Message = "query parameter " + strconv.Quote(kv.Name) + ": " + e.Message
				res.Errors = append(res.Errors, e)
			}
			params = append(params, QueryParam{Name: kv.Name, Value: t})
		}
		if len(res.Errors) > 0 {
			return res
		}
		q, cut := QueryString(params, d)
		res.Query, res.Truncated = &q, cut
		if cut {
			res.Warnings = append(res.Warnings, "query string cut at "+strconv.Itoa(MaxQueryChars)+" characters")
		}
		return res
	}

	var body []byte
	ct := in.ContentType
	if ct != TEXT {
		ct = JSON
	}
	if in.BodyTemplate == "" {
		ct = JSON
		body, res.Truncated = EnvelopeBody(d, in.ExtraFields)
	} else {
		t, errs := Parse(in.BodyTemplate)
		if len(errs) > 0 {
			res.Errors = errs
			return res
		}
		if ct == JSON {
			res.Warnings = jsonWarnings(&locator{src: t.src}, t, res.Warnings)
		}
		body, res.Truncated = RenderBody(t, d, ct)
	}
	s := string(body)
	res.Body = &s
	if res.Truncated {
		res.Warnings = append(res.Warnings, "body cut at "+strconv.Itoa(MaxBodyChars)+" characters")
	}
	if ct == JSON {
		valid := json.Valid(body)
		res.ValidJSON = &valid
		if !valid && !res.Truncated {
			res.Warnings = append(res.Warnings, "the rendered body is not valid JSON")
		}
	}
	return res
}

// jsonState is where a JSON scanner stands after some text.
type jsonState struct{ inString, escaped bool }

func (s jsonState) scan(text string) jsonState {
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case !s.inString:
			s.inString = c == '"'
		case s.escaped:
			s.escaped = false
		case c == '\\':
			s.escaped = true
		case c == '"':
			s.inString = false
		}
	}
	return s
}

// maxJSONWarnings bounds the JSON warnings listed for one template; one more line says how
// many were left out (a template of thousands of bare placeholders would otherwise answer a
// preview with a megabyte of them).
const maxJSONWarnings = 50

// jsonWarnings appends a warning for every placeholder that a JSON template puts outside a
// string, and for every return text that leaves the string state different from how it found
// it, the first maxJSONWarnings of them. A placeholder in a return text is judged by the quotes
// of that text. Warnings keep the order they are found in; l, a fresh locator of t's source,
// places them all in one pass.
func jsonWarnings(l *locator, t *Template, warnings []string) []string {
	var w warner
	w.walk(t.nodes, jsonState{})
	found := w.found
	if len(found) > maxJSONWarnings {
		found = found[:maxJSONWarnings]
	}
	for _, e := range l.errors(found) {
		warnings = append(warnings, e.Error())
	}
	if more := len(w.found) - len(found); more > 0 {
		warnings = append(warnings, fmt.Sprintf("and %d more placeholders or return texts like these", more))
	}
	return warnings
}

type warner struct {
	found []posError
	bare  string // the first placeholder put outside a JSON string, "" when there is none
}

func (w *warner) add(off int, msg string) {
	w.found = append(w.found, posError{off, msg})
}

func (w *warner) walk(nodes []node, s jsonState) jsonState {
	for i := range nodes {
		n := &nodes[i]
		switch {
		case n.cond != nil:
			for _, b := range n.cond.branches {
				if w.walk(b.body, s) != s {
					w.add(b.off, "the return text of this if opens or closes a JSON string; the result may not be valid JSON")
				}
			}
			if w.walk(n.cond.fallback, s) != s {
				w.add(n.off, "the stand-alone return text of this block opens or closes a JSON string; the result may not be valid JSON")
			}
		case n.field != fieldNone:
			if !s.inString {
				if w.bare == "" {
					w.bare = fieldInfos[n.field].name
				}
				w.add(n.off, "{{"+fieldInfos[n.field].name+"}} is outside a JSON string, so its value is inserted without quotes; write \"{{"+fieldInfos[n.field].name+"}}\"")
			}
			s.escaped = false
		default:
			s = s.scan(n.text)
		}
	}
	return s
}

// JSONError says where a body rendered as JSON content stops being JSON, and what to write
// instead.
type JSONError struct {
	Line, Column int    // in the rendered body, from 1; the column counts characters
	Message      string // the JSON parser's
	Hint         string
}

// CheckJSON renders t as JSON content for d, whole (before the MaxBodyChars cut, which may end
// any body mid-string), and returns nil when the result is valid JSON, else where it is not.
// The hint names the first placeholder the template puts outside a JSON string, if any.
func CheckJSON(t *Template, d *Data) *JSONError {
	body := t.AppendRender(make([]byte, 0, t.sizeHint(d)), d, JSON)
	var v any
	err := json.Unmarshal(body, &v)
	if err == nil {
		return nil
	}
	off := len(body)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = int(se.Offset)
	}
	e := &JSONError{Line: 1, Column: 1, Message: err.Error(), Hint: "write valid JSON, or set contentType: TEXT for a text body"}
	if off > 0 {
		// The offset is just past the byte at fault: point at that byte.
		off--
	}
	for _, r := range string(body[:min(off, len(body))]) {
		if r == '\n' {
			e.Line, e.Column = e.Line+1, 1
		} else {
			e.Column++
		}
	}
	var w warner
	w.walk(t.nodes, jsonState{})
	if w.bare != "" {
		e.Hint = "quote the placeholder: \"{{" + w.bare + "}}\", or set contentType: TEXT for a text body"
	}
	return e
}
