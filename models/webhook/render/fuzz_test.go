package render

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func fuzzSeeds(f *testing.F) []string {
	f.Helper()
	return []string{
		seedPayload,
		`{"a": {{incident.title}}}`,
		`{"t": "{{incident.title}}", "d": "{{ incident.description }}", "u": "{{user}}", "at": "{{timestamp}}"}`,
		`{"s": {{{ if({{incident.status}}!=resolved) return("open {{incident.id}}"); return(null); }}}}`,
		`{{{ if(incident.urgency=="high") return((x) "y)"); return('z') }}}`,
		`{{{ if(incident.title==x) return("a"); return("b"); }}}`,
		"{{incident.id\n{{}} {{{ return(\"a\"); }}} {{{ if(incident.urgency==high) return(\"a\" }}}",
		`["{{incident.mapped_with}}", "{{incident.url}}", "{{webhook.event}}", "{{delivery.id}}"]`,
		strings.Repeat(`{{incident.description}}`, 3),
		`{"t": "\{{name}} \\{{incident.title}} \\\{{x}}", "r": {{{ if(incident.urgency==high) return("\{{{ a }}} {{user}}"); return("\{{b"); }}}}`,
		`\{{{ if(incident.urgency==high) return("a"); return("b"); }}} \{{{{incident.id}}`,
	}
}

// FuzzRender checks that any template parses and renders without panicking, that bodies and
// query strings stay within their limits, and that a template that renders valid JSON with
// harmless values renders valid JSON for any values that take the same branches.
func FuzzRender(f *testing.F) {
	for i, src := range fuzzSeeds(f) {
		f.Add(src, "Its a \"title\"\\\n", "é\u2028\"x\\", uint16(i*1000), "Ada\x00\xff", "map", i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, src, title, description string, repeat uint16, user, mapped string, high bool) {
		// The repeat count reaches the limits without making inputs slow to mutate and minimize.
		description = strings.Repeat(description, int(repeat%8192))
		tmpl, errs := Parse(src)
		if (tmpl == nil) == (len(errs) == 0) {
			t.Fatalf("template %v with errors %v", tmpl, errs)
		}
		if tmpl == nil {
			return
		}
		d := testData()
		d.Incident.Title, d.Incident.Description, d.User, d.Incident.MappedWith = title, description, user, mapped
		d.Incident.Assignee, d.Incident.AlertSource = title, user
		if !high {
			d.Incident.Urgency = "LOW"
		}
		for _, ct := range []ContentType{JSON, TEXT} {
			body, cut := RenderBody(tmpl, &d, ct)
			if n := utf8.RuneCount(body); n > MaxBodyChars || cut && n != MaxBodyChars {
				t.Fatalf("%s body of %d characters, cut %v", ct, n, cut)
			}
		}
		q, cut := QueryString([]QueryParam{{Name: "q", Value: tmpl}, {Name: "t", Value: tmpl}}, &d)
		if len(q) > MaxQueryChars || !cut && len(q) > 0 && strings.ContainsAny(q, " \n\"") {
			t.Fatalf("query of %d bytes, cut %v", len(q), cut)
		}

		// Same enumerated values and clock, every free text replaced by a harmless "x".
		plain := d
		plain.Incident.Title, plain.Incident.Description, plain.User, plain.Incident.MappedWith = "x", "x", "x", "x"
		plain.Incident.Assignee, plain.Incident.AlertSource = "x", "x"
		plain.Incident.ID, plain.Incident.URL, plain.DeliveryID, plain.WebhookID = "x", "x", "x", "x"
		plain.Incident.ServiceID, plain.Incident.ServiceName, plain.Incident.TeamID, plain.Incident.TeamName = "x", "x", "x", "x"
		if !json.Valid(tmpl.AppendRender(nil, &plain, JSON)) || !slices.Equal(tmpl.branches(&plain), tmpl.branches(&d)) {
			return
		}
		if out := tmpl.AppendRender(nil, &d, JSON); !json.Valid(out) {
			t.Fatalf("valid JSON template %q rendered invalid JSON %q", src, out)
		}
	})
}

// FuzzParse checks that errors carry positions inside the source and that parsing is
// deterministic.
func FuzzParse(f *testing.F) {
	for _, src := range fuzzSeeds(f) {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_, errs := Parse(src)
		lines := strings.Split(src, "\n")
		for _, e := range errs {
			if e.Line < 1 || e.Line > len(lines) || e.Column < 1 || e.Column > utf8.RuneCountInString(lines[e.Line-1])+1 || e.Message == "" {
				t.Fatalf("error %q outside %q", e.Error(), src)
			}
		}
		if _, again := Parse(src); !slices.Equal(errs, again) {
			t.Fatalf("errors differ: %v and %v", errs, again)
		}

		// Escaping every {{ of src turns it into literal text that renders as src itself, as
		// long as no {{ of src follows an odd run of backslashes (which no escape can produce).
		if !escapable(src) {
			return
		}
		quoted := strings.ReplaceAll(src, "{{", `\{{`)
		tmpl, errs := Parse(quoted)
		if len(errs) > 0 {
			t.Fatalf("escaped %q: %v", quoted, errs)
		}
		d := testData()
		if out := tmpl.AppendRender(nil, &d, JSON); string(out) != src {
			t.Fatalf("escaped %q rendered %q, want %q", quoted, out, src)
		}
	})
}

// escapable reports whether every {{ of s follows an even run of backslashes.
func escapable(s string) bool {
	for from := 0; ; {
		i := strings.Index(s[from:], "{{")
		if i < 0 {
			return true
		}
		at := from + i
		n := 0
		for at-n > 0 && s[at-n-1] == '\\' {
			n++
		}
		if n%2 == 1 {
			return false
		}
		from = at + 2
	}
}

// branches lists the branch d takes in every conditional block, in order.
func (t *Template) branches(d *Data) []int {
	var out []int
	for _, n := range t.nodes {
		if n.cond != nil {
			out = append(out, n.cond.pick(d))
		}
	}
	return out
}
