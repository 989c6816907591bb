package models

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// JSON stores a value of type T as JSON text, the same on SQLite and PostgreSQL.
type JSON[T any] struct {
	V T
	// enc is V's encoding when EncodeJSON made the value; copies share it.
	enc *string
}

// NewJSON wraps v for storage.
func NewJSON[T any](v T) JSON[T] { return JSON[T]{V: v} }

// EncodeJSON wraps v with its encoding computed once: copies of the result share it, so many
// rows written with one value (the deliveries of one event) marshal it once. V must not change
// afterwards.
func EncodeJSON[T any](v T) (JSON[T], error) {
	b, err := json.Marshal(v)
	if err != nil {
		return JSON[T]{}, fmt.Errorf("encode json column: %w", err)
	}
	enc := string(b)
	return JSON[T]{V: v, enc: &enc}, nil
}

// Value implements driver.Valuer.
func (j JSON[T]) Value() (driver.Value, error) {
	if j.enc != nil {
		return *j.enc, nil
	}
	b, err := json.Marshal(j.V)
	if err != nil {
		return nil, fmt.Errorf("encode json column: %w", err)
	}
	return string(b), nil
}

// Scan implements sql.Scanner.
func (j *JSON[T]) Scan(src any) error {
	j.enc = nil
	var b []byte
	switch v := src.(type) {
	case nil:
		var zero T
		j.V = zero
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("decode json column: unsupported type %T", src)
	}
	if err := json.Unmarshal(b, &j.V); err != nil {
		return fmt.Errorf("decode json column: %w", err)
	}
	return nil
}

// GormDataType tells GORM to use a text column.
func (JSON[T]) GormDataType() string { return "text" }
