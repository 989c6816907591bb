package render

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Template is a parsed template. It is immutable and safe for concurrent use.
type Template struct {
	src     string
	nodes   []node
	literal int // bytes of literal text, for size hints
	fields  int // number of placeholders, for size hints
}

// node is one piece of a template: literal text, a placeholder or a conditional block.
type node struct {
	off   int    // byte offset in the source
	text  string // literal text, when field is fieldNone and cond is nil
	field field
	cond  *cond
}

// cond is a conditional block: the first branch whose condition holds wins, else the fallback.
type cond struct {
	branches []branch
	fallback []node
}

// branch is one if(field==value) return(body) or, with negate, if(field!=value).
type branch struct {
	off    int
	field  field
	negate bool
	value  string
	body   []node
}

// maxErrors bounds the errors reported for one template; parsing stops once it is reached.
const maxErrors = 50

type parser struct {
	src  string
	pos  int
	errs []posError
}

type posError struct {
	off int
	msg string
}

// Parse parses src and returns its template, or nil and every error it could find, sorted by
// position.
func Parse(src string) (*Template, []Error) {
	p := parser{src: src}
	nodes := p.parseSeq(len(src), true)
	if len(p.errs) > 0 {
		return nil, p.errors()
	}
	t := &Template{src: src, nodes: nodes}
	t.measure(nodes)
	return t, nil
}

func (t *Template) measure(nodes []node) {
	for i := range nodes {
		n := &nodes[i]
		switch {
		case n.cond != nil:
			for _, b := range n.cond.branches {
				t.measure(b.body)
			}
			t.measure(n.cond.fallback)
		case n.field != fieldNone:
			t.fields++
		default:
			t.literal += len(n.text)
		}
	}
}

func (p *parser) errorf(off int, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, posError{off, fmt.Sprintf(format, args...)})
	}
}

// errors converts byte offsets to 1-based lines and columns counted in characters, sorted by
// position.
func (p *parser) errors() []Error {
	slices.SortStableFunc(p.errs, func(a, b posError) int { return cmp.Compare(a.off, b.off) })
	l := locator{src: p.src}
	return l.errors(p.errs)
}

// locator converts byte offsets of src to 1-based lines and columns counted in characters. Its
// cursor only moves forward, counting the lines and characters it passes, so that src is read
// once however many offsets there are: counting from the start for each one made the warnings
// of a preview cost the square of the template's size.
type locator struct {
	src   string
	off   int // the cursor
	lines int // new lines before off
	col   int // characters between the last new line before off and off
	read  int // bytes the cursor has passed, at most len(src) (tests check the cost with it)
}

// errors converts errs to Errors, in the same order, visiting their offsets in ascending order
// (O(N log N + len(src)) for N errors). It may be called once per locator.
func (l *locator) errors(errs []posError) []Error {
	order := make([]int, len(errs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(errs[a].off, errs[b].off) })
	out := make([]Error, len(errs))
	for _, i := range order {
		line, col := l.position(errs[i].off)
		out[i] = Error{Line: line, Column: col, Message: errs[i].msg}
	}
	return out
}

// position moves the cursor to off, which must not be before it, and returns its line and
// column.
func (l *locator) position(off int) (line, column int) {
	passed := l.src[l.off:off]
	l.read += len(passed)
	l.off = off
	if nl := strings.LastIndexByte(passed, '\n'); nl >= 0 {
		l.lines += strings.Count(passed, "\n")
		l.col = 0
		passed = passed[nl+1:]
	}
	l.col += utf8.RuneCountInString(passed)
	return l.lines + 1, l.col + 1
}

// parseSeq parses literal text and placeholders (and, at the top level, conditional blocks)
// from p.pos up to end.
//
// An odd run of backslashes right before {{ escapes the braces: the last backslash is dropped
// and the braces are literal text; an even run is literal and the {{ opens a placeholder as
// usual, so JSON's \\ before a placeholder keeps working. Literal nodes stay substrings of the
// source (the dropped backslash ends one node, the braces start the next), so rendering copies
// no more than before and never unescapes.
func (p *parser) parseSeq(end int, top bool) []node {
	var nodes []node
	textStart := p.pos
	for p.pos < end && len(p.errs) < maxErrors {
		i := strings.Index(p.src[p.pos:end], "{{")
		if i < 0 {
			p.pos = end
			break
		}
		at := p.pos + i
		if backslashesBefore(p.src[textStart:at])%2 == 1 {
			if at-1 > textStart {
				nodes = append(nodes, node{off: textStart, text: p.src[textStart : at-1]})
			}
			textStart = at
			p.pos = at + 2
			continue
		}
		if at > textStart {
			nodes = append(nodes, node{off: textStart, text: p.src[textStart:at]})
		}
		p.pos = at
		switch {
		case !strings.HasPrefix(p.src[at:end], "{{{"):
			if f := p.parsePlaceholder(end); f != fieldNone {
				nodes = append(nodes, node{off: at, field: f})
			}
		case top:
			if c := p.parseBlock(); c != nil {
				nodes = append(nodes, node{off: at, cond: c})
			}
		default:
			p.errorf(at, "conditional blocks cannot be nested inside return(...)")
			p.pos = at + 3
		}
		textStart = p.pos
	}
	if end > textStart {
		nodes = append(nodes, node{off: textStart, text: p.src[textStart:end]})
	}
	return nodes
}

// backslashesBefore counts the backslashes that end s.
func backslashesBefore(s string) int {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n
}

// parsePlaceholder parses {{ name }} at p.pos, not reading past end.
func (p *parser) parsePlaceholder(end int) field {
	open := p.pos
	p.pos += 2
	p.skipSpaces(end)
	nameOff := p.pos
	p.scanName(end)
	name := p.src[nameOff:p.pos]
	p.skipSpaces(end)
	if strings.HasPrefix(p.src[p.pos:end], "}}") {
		p.pos += 2
		if name == "" {
			p.errorf(open, "empty placeholder {{}}")
			return fieldNone
		}
		return p.lookup(nameOff, name)
	}
	line := p.src[p.pos:end]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if j := strings.Index(line, "}}"); j >= 0 && !strings.Contains(line[:j], "{{") {
		r, _ := utf8.DecodeRuneInString(line)
		p.errorf(p.pos, "unexpected %q in placeholder; placeholders look like {{incident.title}}", r)
		p.pos += j + 2
		return fieldNone
	}
	p.errorf(open, "unclosed {{: expected }} after {{%s", name)
	p.pos = open + 2
	return fieldNone
}

// lookup resolves a placeholder name, reporting unknown ones with a suggestion.
func (p *parser) lookup(off int, name string) field {
	if f, ok := fieldByName[name]; ok {
		return f
	}
	if s := suggest(name); s != "" {
		p.errorf(off, "unknown placeholder %s; did you mean %s?", name, s)
	} else {
		p.errorf(off, "unknown placeholder %s", name)
	}
	return fieldNone
}

// parseBlock parses {{{ … }}} at p.pos. It returns nil after reporting errors.
func (p *parser) parseBlock() *cond {
	open := p.pos
	p.pos += 3
	c := &cond{}
	ifs, returns := 0, 0
	ok := true
	for {
		if len(p.errs) >= maxErrors {
			// Parsing stops here as it does outside blocks: each statement left may scan to
			// the end of the source, which thousands of them would do thousands of times.
			return nil
		}
		p.skipWS()
		if p.pos >= len(p.src) {
			p.errorf(open, "unclosed {{{: expected }}} to end the conditional block")
			return nil
		}
		if p.hasPrefix("}}}") {
			p.pos += 3
			break
		}
		stmt := p.pos
		switch {
		case p.keyword("if"):
			ifs++
			if returns > 0 {
				p.errorf(stmt, "if(...) after the stand-alone return(...) is never reached; the fallback return must come last")
				ok = false
			}
			b, good := p.parseIf()
			if !good {
				ok = false
				p.recover()
				continue
			}
			c.branches = append(c.branches, b)
		case p.keyword("return"):
			returns++
			if returns == 2 {
				p.errorf(stmt, "conditional block has more than one stand-alone return(...); exactly one is allowed, as the fallback")
				ok = false
			}
			body, good := p.parseReturn()
			if !good {
				ok = false
				p.recover()
				continue
			}
			c.fallback = body
		default:
			p.scanName(len(p.src))
			if word := p.src[stmt:p.pos]; fieldByName[word] != fieldNone {
				p.errorf(stmt, "expected if(...) or return(...) in conditional block, found %s; a placeholder is written {{%s}}", word, word)
			} else {
				r, _ := utf8.DecodeRuneInString(p.src[stmt:])
				p.errorf(stmt, "expected if(...) or return(...) in conditional block, found %q", r)
			}
			ok = false
			p.recover()
			continue
		}
		p.skipWS()
		if p.hasPrefix(";") {
			p.pos++
		}
	}
	if !ok {
		// The counts below are unreliable after a malformed statement.
		return nil
	}
	if ifs == 0 {
		p.errorf(open, "conditional block needs at least one if(...)")
	}
	if returns == 0 {
		p.errorf(open, "conditional block needs a stand-alone return(...) as the fallback")
	}
	if ifs == 0 || returns == 0 {
		return nil
	}
	return c
}

// parseIf parses if(P==V) return(T) at p.pos.
func (p *parser) parseIf() (branch, bool) {
	b := branch{off: p.pos}
	p.pos += len("if")
	p.skipWS()
	if !p.hasPrefix("(") {
		p.errorf(p.pos, "malformed if: expected ( after if")
		return b, false
	}
	lp := p.pos
	p.pos++
	p.skipWS()
	nameOff := p.pos
	braced := p.hasPrefix("{{")
	if braced {
		p.pos += 2
		p.skipSpaces(len(p.src))
		nameOff = p.pos
	}
	p.scanName(len(p.src))
	name := p.src[nameOff:p.pos]
	if braced {
		p.skipSpaces(len(p.src))
		if !p.hasPrefix("}}") {
			p.errorf(p.pos, "malformed if: expected }} after {{%s", name)
			return b, false
		}
		p.pos += 2
	}
	if name == "" {
		p.errorf(nameOff, "malformed if: expected a placeholder after if(")
		return b, false
	}
	if b.field = p.lookup(nameOff, name); b.field == fieldNone {
		return b, false
	}
	p.skipWS()
	op := p.src[p.pos:min(p.pos+2, len(p.src))]
	switch op {
	case "==":
	case "!=":
		b.negate = true
	default:
		p.errorf(p.pos, "malformed if: expected == or != after %s", name)
		return b, false
	}
	p.pos += 2
	p.skipWS()
	valOff := p.pos
	if p.hasPrefix(`"`) || p.hasPrefix("'") {
		// The value ends at the next quote of the same kind, which must be followed by ")".
		j := strings.IndexByte(p.src[p.pos+1:], p.src[p.pos])
		if j < 0 || !strings.HasPrefix(strings.TrimLeft(p.src[p.pos+j+2:], " \t\r\n"), ")") {
			p.errorf(valOff, "malformed if: unclosed quote in the value")
			return b, false
		}
		b.value = p.src[p.pos+1 : p.pos+1+j]
		p.pos += j + 2
	} else {
		for p.pos < len(p.src) && !strings.ContainsRune(" \t\r\n(){};\"'", rune(p.src[p.pos])) {
			p.pos++
		}
		b.value = p.src[valOff:p.pos]
		if b.value == "" {
			p.errorf(valOff, "malformed if: expected a value after %s", op)
			return b, false
		}
	}
	if !p.validValue(valOff, b.field, b.value) {
		return b, false
	}
	p.skipWS()
	if !p.hasPrefix(")") {
		rest := p.src[p.pos:]
		stop := len(rest)
		if j := strings.IndexByte(rest, ';'); j >= 0 {
			stop = j
		}
		if j := strings.Index(rest, "}}}"); j >= 0 && j < stop {
			stop = j
		}
		if p.keyword("return") || strings.IndexByte(rest[:stop], ')') < 0 {
			p.errorf(lp, "unclosed ( of if: expected ) after the value")
		} else {
			r, _ := utf8.DecodeRuneInString(rest)
			p.errorf(p.pos, "malformed if: expected ) after the value, found %q", r)
		}
		return b, false
	}
	p.pos++
	p.skipWS()
	if !p.keyword("return") {
		p.errorf(p.pos, "malformed if: expected return(...) after if(...)")
		return b, false
	}
	body, ok := p.parseReturn()
	b.body = body
	return b, ok
}

// validValue checks the value of a condition on an enumerated placeholder.
func (p *parser) validValue(off int, f field, v string) bool {
	values := fieldInfos[f].values
	if values == nil {
		return true
	}
	for _, x := range values {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	p.errorf(off, "%s is never %q; it is one of %s", fieldInfos[f].name, v, strings.Join(values, ", "))
	return false
}

// parseReturn parses return(T) at p.pos. T ends at the ) that balances the opening one,
// ignoring parentheses inside double-quoted strings; if the quotes themselves are unbalanced,
// parentheses are matched without regard to quotes.
func (p *parser) parseReturn() ([]node, bool) {
	p.pos += len("return")
	p.skipWS()
	if !p.hasPrefix("(") {
		p.errorf(p.pos, "malformed return: expected ( after return")
		return nil, false
	}
	lp := p.pos
	end := p.matchParen(lp, true)
	if end < 0 {
		end = p.matchParen(lp, false)
	}
	if end < 0 {
		p.errorf(lp, "unclosed ( of return: expected )")
		return nil, false
	}
	p.pos = lp + 1
	body := p.parseSeq(end, false)
	p.pos = end + 1
	p.skipWS()
	if !p.hasPrefix(";") && !p.hasPrefix("}}}") {
		p.errorf(p.pos, "expected ; or }}} after return(...)")
		return body, false
	}
	return body, true
}

// matchParen returns the offset of the ) balancing the ( at lp, or -1.
func (p *parser) matchParen(lp int, quotes bool) int {
	depth := 0
	inString := false
	for i := lp; i < len(p.src); i++ {
		c := p.src[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = quotes
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// recover skips past the next ; or up to the next }}} after an error inside a block.
func (p *parser) recover() {
	rest := p.src[p.pos:]
	semi := strings.IndexByte(rest, ';')
	end := strings.Index(rest, "}}}")
	switch {
	case semi >= 0 && (end < 0 || semi < end):
		p.pos += semi + 1
	case end >= 0:
		p.pos += end
	default:
		p.pos = len(p.src)
	}
}

func (p *parser) hasPrefix(s string) bool { return strings.HasPrefix(p.src[p.pos:], s) }

// keyword reports whether the word kw (not a longer name) starts at p.pos.
func (p *parser) keyword(kw string) bool {
	if !p.hasPrefix(kw) {
		return false
	}
	next := p.pos + len(kw)
	return next == len(p.src) || !isNameByte(p.src[next])
}

// skipSpaces skips blanks inside {{ }}.
func (p *parser) skipSpaces(end int) {
	for p.pos < end && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// skipWS skips white space, new lines included, between the tokens of a block.
func (p *parser) skipWS() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *parser) scanName(end int) {
	for p.pos < end && isNameByte(p.src[p.pos]) {
		p.pos++
	}
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// suggest returns the known placeholder closest to name, or "" when none is close.
func suggest(name string) string {
	lower := strings.ToLower(name)
	best, bestDist := "", 1+len(name)/4
	for f := fieldNone + 1; f < fieldCount; f++ {
		known := fieldInfos[f].name
		if strings.HasSuffix(known, "."+lower) {
			return known
		}
		if d := editDistance(lower, known); d <= bestDist {
			best, bestDist = known, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
