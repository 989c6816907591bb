package models

import (
	"fmt"
	"slices"

	"github.com/herald-hq/herald/models/webhook"
	"gorm.io/gorm/clause"
)

// fanOut writes, in the writer's transaction, one PENDING delivery per URL of every ACTIVE
// webhook whose scope covers the incident (GLOBAL, its team, its service), which subscribes to
// the event and whose filter matches. Each delivery carries a snapshot of the incident and
// the acting user as they are now.
func (w *incidentWriter) fanOut(inc *Incident, event, actor string) error {
	q := w.tx
	if w.s.dialect == DialectPostgres {
		// Holding the webhooks for share makes a concurrent deactivation (which cancels pending
		// deliveries) wait for this commit, so it cannot miss the deliveries written here.
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthShare})
	}
	// Only the columns matching needs: the templates and sealed secrets stay in the table.
	var hooks []Webhook
	err := q.Select("id", "events", "urls", "filter").Where("status = ?", WebhookActive).
		Where("scope = ? OR (scope = ? AND team_id = ?) OR (scope = ? AND service_id = ?)",
			webhook.ScopeGlobal, webhook.ScopeTeam, inc.TeamID, webhook.ScopeService, inc.ServiceID).
		Order("created_at, id").Find(&hooks).Error
	if err != nil {
		return fmt.Errorf("fan out %s: %w", event, err)
	}
	if len(hooks) == 0 {
		return nil
	}
	snap, err := w.snapshot(inc, actor)
	if err != nil {
		return err
	}
	// One encoding of the snapshot, shared by every delivery of the event.
	snapJSON, err := EncodeJSON(snap)
	if err != nil {
		return fmt.Errorf("fan out %s: %w", event, err)
	}
	subj := webhook.FilterSubject{ServiceID: inc.ServiceID, ServiceName: snap.ServiceName, AlertSource: snap.AlertSource, Urgency: inc.Urgency}
	var ds []Delivery
	for _, h := range hooks {
		if !slices.Contains(h.Events.V, event) || !h.Filter.V.Matches(subj) {
			continue
		}
		for _, u := range h.URLs.V {
			ds = append(ds, Delivery{
				ID:            newID(),
				WebhookID:     h.ID,
				IncidentID:    &inc.ID,
				Event:         event,
				URL:           u,
				Status:        DeliveryPending,
				Snapshot:      snapJSON,
				NextAttemptAt: &snap.EventAt,
				CreatedAt:     snap.EventAt,
				UpdatedAt:     snap.EventAt,
			})
		}
	}
	if len(ds) == 0 {
		return nil
	}
	if err := w.tx.Create(&ds).Error; err != nil {
		return fmt.Errorf("fan out %s: %w", event, err)
	}
	w.deliveries += len(ds)
	return nil
}

// snapshot freezes the incident, its service, team and assignee names and the acting user.
func (w *incidentWriter) snapshot(inc *Incident, actor string) (Snapshot, error) {
	svcName, err := w.name("service:"+inc.ServiceID, func() (string, error) {
		var sv Service
		if err := w.tx.Select("name").First(&sv, "id = ?", inc.ServiceID).Error; err != nil {
			return "", fmt.Errorf("snapshot service: %w", err)
		}
		return sv.Name, nil
	})
	if err != nil {
		return Snapshot{}, err
	}
	teamName, err := w.name("team:"+inc.TeamID, func() (string, error) {
		var t Team
		if err := w.tx.Select("name").First(&t, "id = ?", inc.TeamID).Error; err != nil {
			return "", fmt.Errorf("snapshot team: %w", err)
		}
		return t.Name, nil
	})
	if err != nil {
		return Snapshot{}, err
	}
	var assignee string
	if inc.AssigneeID != nil {
		if assignee, err = w.userName(*inc.AssigneeID); err != nil {
			return Snapshot{}, fmt.Errorf("snapshot assignee: %w", err)
		}
	}
	return w.s.snapshotOf(inc, actor, svcName, teamName, assignee), nil
}

// snapshotOf freezes an incident as an event sends it, with the names looked up by the caller.
func (s *Store) snapshotOf(inc *Incident, actor, svcName, teamName, assignee string) Snapshot {
	text := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return Snapshot{
		EventAt:        s.Now(),
		User:           actor,
		IncidentID:     inc.ID,
		Title:          inc.Title,
		Description:    text(inc.Description),
		Urgency:        inc.Urgency,
		Status:         inc.Status,
		MappedWith:     text(inc.MappedWith),
		URL:            s.IncidentURL(inc.ID),
		AlertSource:    text(inc.AlertSource),
		ServiceID:      inc.ServiceID,
		ServiceName:    svcName,
		TeamID:         inc.TeamID,
		TeamName:       teamName,
		Assignee:       assignee,
		CreatedAt:      inc.CreatedAt,
		AcknowledgedAt: inc.AcknowledgedAt,
		ResolvedAt:     inc.ResolvedAt,
	}
}
