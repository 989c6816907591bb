package render

import (
	"strings"
	"testing"
	"time"
)

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src          string
		line, column int  // 0: valid JSON
		quote        bool // the hint says to quote the placeholder
	}{
		"quoted placeholder":    {`{"t":"{{incident.title}}"}`, 0, 0, false},
		"unquoted placeholder":  {`{"t":{{incident.title}}}`, 1, 6, true},
		"on the third line":     {"{\n \"a\": 1,\n \"t\": {{incident.title}}\n}", 3, 7, true},
		"cut short":             {`{"t":"{{incident.title}}"`, 1, 33, false},
		"longer than the cut":   {`{"d":"` + strings.Repeat("é", MaxBodyChars) + `"}`, 0, 0, false},
		"characters, not bytes": {`{"é":1 2}`, 1, 8, false},
	}
	for name, tc := range tests {
		tpl, errs := Parse(tc.src)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", name, errs)
		}
		d := Sample("incident.created", time.Unix(0, 0))
		e := CheckJSON(tpl, &d)
		switch {
		case tc.line == 0 && e != nil:
			t.Errorf("%s: %+v, want valid", name, e)
		case tc.line == 0:
		case e == nil:
			t.Errorf("%s: valid, want an error at %d:%d", name, tc.line, tc.column)
		case e.Line != tc.line || e.Column != tc.column || strings.Contains(e.Hint, "quote the placeholder") != tc.quote:
			t.Errorf("%s: %+v, want %d:%d, quote hint %v", name, e, tc.line, tc.column, tc.quote)
		}
	}
}
