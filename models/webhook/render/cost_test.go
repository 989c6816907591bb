package render

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestJSONWarningsReadTheTemplateOnce checks the warnings of the largest template a webhook
// may have, a placeholder outside a JSON string every 8 bytes: the first maxJSONWarnings are
// listed and one more line counts the rest, and their lines and columns are found by reading
// the template once, not once per warning (which made a preview's cost grow with the square
// of the template).
func TestJSONWarningsReadTheTemplateOnce(t *testing.T) {
	t.Parallel()
	const n = 65536 / len("{{user}}")
	src := strings.Repeat("{{user}}", n/2) + "\n" + strings.Repeat("{{user}}", n/2-1)
	tmpl := mustParse(t, src)
	l := locator{src: src}
	warnings := jsonWarnings(&l, tmpl, nil)
	if len(warnings) != maxJSONWarnings+1 {
		t.Fatalf("%d warnings, want %d and one saying how many more", len(warnings), maxJSONWarnings)
	}
	if l.read > len(src) {
		t.Errorf("read %d bytes of a %d-byte template to place %d warnings, want at most one pass", l.read, len(src), len(warnings))
	}
	for i, want := range map[int]string{0: "line 1, column 1: ", maxJSONWarnings - 1: "line 1, column 393: ", maxJSONWarnings: "and 8141 more "} {
		if !strings.HasPrefix(warnings[i], want) {
			t.Errorf("warning %d is %q, want %q…", i, warnings[i], want)
		}
	}
}

// TestLocatorErrors checks the lines and columns (1-based, columns in characters) of every
// offset of a few texts against a plain count from the start, with offsets in any order, and
// that errors keep their order.
func TestLocatorErrors(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"", "x", "\n", "\n\n", "ab\ncd\r\nef\n", "é\n  ü{{bad}}", "日本\n\n語 {{user}}\n", "a\xffb\nc"} {
		var offs []int
		for i := range src {
			offs = append(offs, i)
		}
		offs = append(offs, len(src))
		for name, order := range map[string][]int{
			"ascending":  offs,
			"descending": reversed(offs),
			"shuffled":   append(reversed(offs[len(offs)/2:]), append(offs[:len(offs)/2], offs...)...),
		} {
			errs := make([]posError, len(order))
			for i, off := range order {
				errs[i] = posError{off, fmt.Sprint(off)}
			}
			l := locator{src: src}
			got := l.errors(errs)
			for i, e := range got {
				line, col := countPosition(src, order[i])
				if e.Line != line || e.Column != col || e.Message != errs[i].msg {
					t.Errorf("%q %s: error %d at offset %d is %q, want line %d, column %d", src, name, i, order[i], e.Error(), line, col)
				}
			}
			if l.read > len(src) {
				t.Errorf("%q %s: read %d bytes", src, name, l.read)
			}
		}
	}
}

func reversed(s []int) []int {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// countPosition is the line and column of off in src, counted from the start.
func countPosition(src string, off int) (line, column int) {
	before := src[:off]
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return strings.Count(before, "\n") + 1, utf8.RuneCountInString(before[lineStart:]) + 1
}

// TestParseStopsAtMaxErrors checks that parsing stops once maxErrors errors are found, inside a
// conditional block too: each malformed return(...) may scan to the end of the template, so a
// block of thousands of them cost the square of the template's size.
func TestParseStopsAtMaxErrors(t *testing.T) {
	t.Parallel()
	for name, stmt := range map[string]string{"unclosed returns": "return( ;", "unknown statements": "x; "} {
		src := "{{{ " + strings.Repeat(stmt, 4*maxErrors)
		p := parser{src: src}
		p.parseSeq(len(src), true)
		if len(p.errs) != maxErrors {
			t.Fatalf("%s: %d errors, want %d", name, len(p.errs), maxErrors)
		}
		if stop := len("{{{ ") + (maxErrors+1)*len(stmt); p.pos > stop {
			t.Errorf("%s: parsed up to offset %d of %d, want to stop by %d, after error %d", name, p.pos, len(src), stop, maxErrors)
		}
	}
}

// FuzzJSONWarnings checks that the warnings of any template are placed where counting from the
// start of the template places them, in one pass.
func FuzzJSONWarnings(f *testing.F) {
	for _, src := range fuzzSeeds(f) {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, errs := Parse(src)
		if len(errs) > 0 {
			return
		}
		var w warner
		w.walk(tmpl.nodes, jsonState{})
		l := locator{src: src}
		for i, e := range l.errors(w.found) {
			line, col := countPosition(src, w.found[i].off)
			if e.Line != line || e.Column != col || e.Message != w.found[i].msg {
				t.Fatalf("warning %q at offset %d of %q, want line %d, column %d", e.Error(), w.found[i].off, src, line, col)
			}
		}
		if l.read > len(src) {
			t.Fatalf("read %d bytes of %q", l.read, src)
		}
	})
}
