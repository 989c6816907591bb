package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DeleteExpiredLogs deletes, batch rows at a time, attempts started before cutoff and finished
// deliveries last changed before it (their attempts go with them), and returns how many rows
// went. Errors: INTERNAL.
func (s *Store) DeleteExpiredLogs(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var total int64
	for {
		n, err := s.deleteBatch(ctx, &Attempt{}, s.db.Model(&Attempt{}).Select("id").
			Where("started_at < ?", cutoff).Limit(batch))
		total += n
		if err != nil {
			return total, fmt.Errorf("delete expired attempts: %w", err)
		}
		if n < int64(batch) {
			break
		}
	}
	for {
		pick := s.db.Model(&Delivery{}).Select("id").
			Where("status IN ? AND updated_at < ?", []string{DeliverySucceeded, DeliveryFailed, DeliveryCancelled}, cutoff).
			Limit(batch)
		if _, err := s.deleteBatch(ctx, &Attempt{}, s.db.Model(&Attempt{}).Select("id").Where("delivery_id IN (?)", pick)); err != nil {
			return total, fmt.Errorf("delete expired deliveries: %w", err)
		}
		n, err := s.deleteBatch(ctx, &Delivery{}, pick)
		total += n
		if err != nil {
			return total, fmt.Errorf("delete expired deliveries: %w", err)
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

func (s *Store) deleteBatch(ctx context.Context, model any, ids *gorm.DB) (int64, error) {
	res := s.db.WithContext(ctx).Where("id IN (?)", ids).Delete(model)
	return res.RowsAffected, res.Error
}
