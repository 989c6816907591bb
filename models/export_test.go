package models

import "context"

// SynchronousCommit returns the synchronous_commit setting of a session of the main pool and
// of the bookkeeping pool (PostgreSQL only).
func SynchronousCommit(ctx context.Context, s *Store) (main, bookkeeping string, err error) {
	if err = s.db.WithContext(ctx).Raw("SHOW synchronous_commit").Scan(&main).Error; err != nil {
		return "", "", err
	}
	err = s.bk.WithContext(ctx).Raw("SHOW synchronous_commit").Scan(&bookkeeping).Error
	return main, bookkeeping, err
}
