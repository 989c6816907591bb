// Package text holds the rules for the text a user gives Herald (a name, a title, a
// description, an e-mail address: valid UTF-8, no control characters, a length in
// characters) and FieldError, how these rules and those of the packages below the store
// (models/webhook, models/payload) report the input at fault. The store turns a FieldError
// into its VALIDATION error. It does no I/O and knows nothing of the store.
package text

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError is refused input: the GraphQL input field at fault (`headers[3].name`) and a
// message safe to show.
type FieldError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Invalid returns a *FieldError naming the field.
func Invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// MaxEmailChars is the length of an e-mail address, in characters (RFC 5321 §4.5.3.1.3 with
// RFC 3696 errata).
const MaxEmailChars = 254

// Line checks one line of text (a name, a title): valid UTF-8, no control character (NUL,
// tab, newline and the like), at most max characters.
func Line(field, s string, max int) error {
	return check(field, s, max, "")
}

// Lines is Line for text of several lines (a description): newline, carriage return and tab
// are allowed.
func Lines(field, s string, max int) error {
	return check(field, s, max, "\n\r\t")
}

func check(field, s string, max int, allowed string) error {
	switch {
	case !utf8.ValidString(s):
		return Invalid(field, "%s must be valid UTF-8 text", field)
	case utf8.RuneCountInString(s) > max:
		return Invalid(field, "%s is longer than %d characters", field, max)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && !strings.ContainsRune(allowed, r) }):
		if allowed == "" {
			return Invalid(field, "%s must not contain control characters (NUL, tab, newline and the like)", field)
		}
		return Invalid(field, "%s must not contain control characters other than newline and tab", field)
	}
	return nil
}

// Email checks an e-mail address: Line with MaxEmailChars, and one plain address.
func Email(field, s string) error {
	if err := Line(field, s, MaxEmailChars); err != nil {
		return err
	}
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
		return Invalid(field, "not a valid e-mail address")
	}
	return nil
}
