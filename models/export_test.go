package models

import "context"

// Setting returns a run-time setting of a session of the main pool and of the bookkeeping
// pool (PostgreSQL only).
func Setting(ctx context.Context, s *Store, name string) (main, bookkeeping string, err error) {
	if err = s.db.WithContext(ctx).Raw("SELECT current_setting(?)", name).Scan(&main).Error; err != nil {
		return "", "", err
	}
	err = s.bk.WithContext(ctx).Raw("SELECT current_setting(?)", name).Scan(&bookkeeping).Error
	return main, bookkeeping, err
}
