package models

import (
	"errors"
	"net/mail"
)

// ValidateEmail checks that s is one plain e-mail address.
func ValidateEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return errors.New("not a valid e-mail address")
	}
	return nil
}
