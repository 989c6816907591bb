package text_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/herald-hq/herald/models/text"
)

func TestRules(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err   error
		field string // the field the error names, "" for no error
		want  string // its message
	}{
		"line ok":            {text.Line("name", "Checkout – EU", 20), "", ""},
		"line at the limit":  {text.Line("name", strings.Repeat("é", 20), 20), "", ""},
		"line too long":      {text.Line("name", strings.Repeat("é", 21), 20), "name", "name is longer than 20 characters"},
		"line bad UTF-8":     {text.Line("name", "a\xffb", 20), "name", "name must be valid UTF-8 text"},
		"line tab":           {text.Line("name", "a\tb", 20), "name", "name must not contain control characters (NUL, tab, newline and the like)"},
		"line C1":            {text.Line("name", "a\u0085b", 20), "name", "name must not contain control characters (NUL, tab, newline and the like)"},
		"lines newline":      {text.Lines("description", "a\r\n\tb", 20), "", ""},
		"lines NUL":          {text.Lines("description", "a\x00b", 20), "description", "description must not contain control characters other than newline and tab"},
		"email ok":           {text.Email("email", "ada@example.com"), "", ""},
		"email with name":    {text.Email("email", "Ada <ada@example.com>"), "email", "not a valid e-mail address"},
		"email newline":      {text.Email("email", "ada@example.com\n"), "email", "email must not contain control characters (NUL, tab, newline and the like)"},
		"email too long":     {text.Email("email", strings.Repeat("a", text.MaxEmailChars)+"@x.io"), "email", "email is longer than 254 characters"},
		"email not an email": {text.Email("email", "ada"), "email", "not a valid e-mail address"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if tc.field == "" {
				if tc.err != nil {
					t.Fatalf("err = %v, want nil", tc.err)
				}
				return
			}
			var fe *text.FieldError
			if !errors.As(tc.err, &fe) {
				t.Fatalf("err = %v, want a *text.FieldError", tc.err)
			}
			if fe.Field != tc.field || fe.Message != tc.want {
				t.Errorf("got %q: %q, want %q: %q", fe.Field, fe.Message, tc.field, tc.want)
			}
		})
	}
}
