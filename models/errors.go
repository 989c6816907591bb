package models

import (
	"errors"
	"fmt"
)

// Error codes shared by every edge of Herald (GraphQL extensions.code, REST status table).
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeValidation      = "VALIDATION"
	CodeLimitExceeded   = "LIMIT_EXCEEDED"
	CodeInternal        = "INTERNAL"
)

// Error is Herald's one domain error: a code of the SPEC, a message safe to show to the caller
// and, for VALIDATION, the input field at fault (`headers[3].name`).
type Error struct {
	Code    string
	Message string
	Field   string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Errorf returns a domain error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a VALIDATION error naming the field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeValidation, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a NOT_FOUND error for the kind of object.
func NotFound(kind string) *Error {
	return &Error{Code: CodeNotFound, Message: kind + " not found"}
}

// Forbidden returns a FORBIDDEN error.
func Forbidden() *Error {
	return &Error{Code: CodeForbidden, Message: "not allowed"}
}

// ErrorCode returns the code of a domain error, and INTERNAL for anything else.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
