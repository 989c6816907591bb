package models

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Lengths of the texts mutations take, in characters (README "Limits"). Webhook names and
// descriptions have their own (MaxWebhookNameChars, MaxWebhookDescriptionChars).
const (
	MaxNameChars        = 200   // team, service, user, API token and integration names
	MaxTitleChars       = 500   // incident titles
	MaxDescriptionChars = 65536 // incident descriptions
	MaxEmailChars       = 254   // e-mail addresses (RFC 5321 §4.5.3.1.3 with RFC 3696 errata)
)

// CheckLine is the rule for one line of text given to a mutation (a name, a title, an
// e-mail): valid UTF-8, no control character (NUL, tab, newline and the like), at most max
// characters. It returns VALIDATION naming the field, or nil.
func CheckLine(field, s string, max int) error {
	return checkText(field, s, max, "")
}

// CheckText is CheckLine for text of several lines (a description): newline, carriage return
// and tab are allowed. It returns VALIDATION naming the field, or nil.
func CheckText(field, s string, max int) error {
	return checkText(field, s, max, "\n\r\t")
}

func checkText(field, s string, max int, allowed string) error {
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

// CheckEmail is the rule for an e-mail address given to a mutation: CheckLine with
// MaxEmailChars, and one plain address. It returns VALIDATION naming the field, or nil.
func CheckEmail(field, s string) error {
	if err := CheckLine(field, s, MaxEmailChars); err != nil {
		return err
	}
	if err := ValidateEmail(s); err != nil {
		return Invalid(field, "%v", err)
	}
	return nil
}

// ValidateEmail checks that s is one plain e-mail address.
func ValidateEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return errors.New("not a valid e-mail address")
	}
	return nil
}
