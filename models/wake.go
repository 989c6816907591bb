package models

import (
	"fmt"

	"gorm.io/gorm"
)

// DeliveryChannel is the PostgreSQL NOTIFY channel that announces new due deliveries.
const DeliveryChannel = "herald_deliveries"

// announceDeliveries tells workers, inside the transaction that wrote new deliveries, that
// work is waiting: on PostgreSQL a NOTIFY that fires at commit and reaches every process; on
// SQLite nothing here (the caller wakes the in-process worker after commit).
func (s *Store) announceDeliveries(tx *gorm.DB) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	if err := tx.Exec("SELECT pg_notify(?, '')", DeliveryChannel).Error; err != nil {
		return fmt.Errorf("announce deliveries: %w", err)
	}
	return nil
}

// WakeWorker wakes this process's worker without blocking; call it after a commit that made
// deliveries due (and from the PostgreSQL LISTEN loop).
func (s *Store) WakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Wakeups delivers a value whenever deliveries may have become due.
func (s *Store) Wakeups() <-chan struct{} { return s.wake }
