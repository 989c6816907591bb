package models

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// JSON stores a value of type T as JSON text, the same on SQLite and PostgreSQL.
type JSON[T any] struct {
	V T
}

// NewJSON wraps v for storage.
func NewJSON[T any](v T) JSON[T] { return JSON[T]{V: v} }

// Value implements driver.Valuer.
func (j JSON[T]) Value() (driver.Value, error) {
	b, err := json.Marshal(j.V)
	if err != nil {
		return nil, fmt.Errorf("encode json column: %w", err)
	}
	return string(b), nil
}

// Scan implements sql.Scanner.
func (j *JSON[T]) Scan(src any) error {
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
