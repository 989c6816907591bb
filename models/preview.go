package models

import "context"

// SnapshotIncident freezes an incident as a delivery would see it now, with actor as the
// event's user (used by template previews): NOT_FOUND for an unknown incident.
func (s *Store) SnapshotIncident(ctx context.Context, id, actor string) (Snapshot, error) {
	inc, err := s.FindIncidentByID(ctx, id)
	if err != nil {
		return Snapshot{}, err
	}
	w := &incidentWriter{s: s, tx: s.db.WithContext(ctx), names: map[string]string{}}
	return w.snapshot(inc, actor)
}
