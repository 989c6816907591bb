package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/webhook"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// incidentCounter names the Counter row that numbers incidents.
const incidentCounter = "incident"

// Page sizes of the list operations.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// NewIncident is what CreateIncident needs.
type NewIncident struct {
	ServiceID   string
	Title       string
	Description *string
	// Urgency is HIGH or LOW; empty means HIGH.
	Urgency     string
	MappedWith  *string
	AssigneeID  *string
	AlertSource *string
}

// IncidentFilter narrows ListIncidents.
type IncidentFilter struct {
	Status    *string
	ServiceID *string
	// TeamIDs limits the incidents to these teams; nil means every team.
	TeamIDs []string
}

// IncidentURL returns the public link of an incident.
func (s *Store) IncidentURL(id string) string { return s.baseURL + "/incidents/" + id }

// CreateIncident opens an incident, numbered INC-N, and writes the deliveries of its
// INCIDENT_CREATED event in the same transaction; actor is the user named in the event.
// VALIDATION for a blank or too long title, a bad urgency, a mappedWith an open incident of
// the service already has, or an assignee who is neither a member of the service's team nor a
// GLOBAL_ADMIN (checkAssignee), NOT_FOUND for an unknown service.
func (s *Store) CreateIncident(ctx context.Context, actor string, in NewIncident) (*Incident, error) {
	title := strings.TrimSpace(in.Title)
	switch {
	case title == "":
		return nil, Invalid("title", "title is required")
	}
	if err := CheckLine("title", title, MaxTitleChars); err != nil {
		return nil, err
	}
	urgency := strings.ToUpper(strings.TrimSpace(in.Urgency))
	if urgency == "" {
		urgency = webhook.UrgencyHigh
	}
	if urgency != webhook.UrgencyHigh && urgency != webhook.UrgencyLow {
		return nil, Invalid("urgency", "urgency must be HIGH or LOW")
	}
	var mapped *string
	if in.MappedWith != nil && strings.TrimSpace(*in.MappedWith) != "" {
		m := strings.TrimSpace(*in.MappedWith)
		if err := CheckLine("mappedWith", m, payload.MaxMappingLen); err != nil {
			return nil, err
		}
		if len(m) > payload.MaxMappingLen {
			return nil, Invalid("mappedWith", "mappedWith is longer than %d bytes", payload.MaxMappingLen)
		}
		mapped = &m
	}
	var description *string
	if in.Description != nil {
		if err := CheckText("description", *in.Description, MaxDescriptionChars); err != nil {
			return nil, err
		}
		description = in.Description
	}
	var source *string
	if in.AlertSource != nil {
		source = nilIfEmpty(payload.CleanSource(*in.AlertSource))
	}
	inc := &Incident{
		ServiceID:   in.ServiceID,
		Title:       title,
		Description: description,
		Urgency:     urgency,
		MappedWith:  mapped,
		AlertSource: source,
		AssigneeID:  in.AssigneeID,
	}
	err := s.writeIncidents(ctx, func(w *incidentWriter) error {
		if mapped != nil {
			// The lock findOpenMapped takes keeps a concurrent create or incoming payload with
			// the same mapping value from passing this check too.
			open, err := w.findOpenMapped(in.ServiceID, *mapped)
			if err != nil {
				return err
			}
			if open != nil {
				return Invalid("mappedWith", "%s is open with this mappedWith: a resolve payload would close only one of the two", open.ID)
			}
		}
		return w.create(inc, actor)
	})
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// AcknowledgeIncident moves a TRIGGERED incident to ACKNOWLEDGED and writes the deliveries of
// INCIDENT_ACKNOWLEDGED. NOT_FOUND for an unknown incident, VALIDATION in any other status.
func (s *Store) AcknowledgeIncident(ctx context.Context, actor, id string) (*Incident, error) {
	return s.transition(ctx, actor, id, webhook.EventAcknowledged)
}

// UnacknowledgeIncident moves an ACKNOWLEDGED incident back to TRIGGERED and writes the
// deliveries of INCIDENT_UNACKNOWLEDGED. NOT_FOUND for an unknown incident, VALIDATION in any
// other status.
func (s *Store) UnacknowledgeIncident(ctx context.Context, actor, id string) (*Incident, error) {
	return s.transition(ctx, actor, id, webhook.EventUnacknowledged)
}

// ResolveIncident resolves a TRIGGERED or ACKNOWLEDGED incident and writes the deliveries of
// INCIDENT_RESOLVED. NOT_FOUND for an unknown incident, VALIDATION when it is already resolved.
func (s *Store) ResolveIncident(ctx context.Context, actor, id string) (*Incident, error) {
	return s.transition(ctx, actor, id, webhook.EventResolved)
}

// ReassignIncident gives an open incident to another user and writes the deliveries of
// INCIDENT_REASSIGNED. NOT_FOUND for an unknown incident, VALIDATION for a user who may not
// hold it (checkAssignee), a resolved incident or the user it is already assigned to.
func (s *Store) ReassignIncident(ctx context.Context, actor, id, userID string) (*Incident, error) {
	var inc *Incident
	err := s.writeIncidents(ctx, func(w *incidentWriter) error {
		var err error
		if inc, err = w.lock(id); err != nil {
			return err
		}
		if err := checkTransition(id, inc.Status, webhook.EventReassigned); err != nil {
			return err
		}
		if err := w.checkAssignee("userId", userID, inc.TeamID); err != nil {
			return err
		}
		name, err := w.userName(userID)
		if err != nil {
			return err
		}
		if inc.AssigneeID != nil && *inc.AssigneeID == userID {
			return Invalid("userId", "incident %s is already assigned to %s", id, name)
		}
		inc.AssigneeID = &userID
		return w.move(inc, webhook.EventReassigned, actor)
	})
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// transition applies a status change inside its own transaction.
func (s *Store) transition(ctx context.Context, actor, id, event string) (*Incident, error) {
	var inc *Incident
	err := s.writeIncidents(ctx, func(w *incidentWriter) error {
		var err error
		if inc, err = w.lock(id); err != nil {
			return err
		}
		return w.move(inc, event, actor)
	})
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// checkTransition returns VALIDATION when the event cannot happen to an incident in status.
func checkTransition(id, status, event string) error {
	allowed := map[string][]string{
		webhook.EventAcknowledged:   {IncidentTriggered},
		webhook.EventUnacknowledged: {IncidentAcknowledged},
		webhook.EventResolved:       {IncidentTriggered, IncidentAcknowledged},
		webhook.EventReassigned:     {IncidentTriggered, IncidentAcknowledged},
	}
	for _, st := range allowed[event] {
		if st == status {
			return nil
		}
	}
	verb := map[string]string{
		webhook.EventAcknowledged:   "acknowledged only when TRIGGERED",
		webhook.EventUnacknowledged: "unacknowledged only when ACKNOWLEDGED",
		webhook.EventResolved:       "resolved only when TRIGGERED or ACKNOWLEDGED",
		webhook.EventReassigned:     "reassigned only while open",
	}[event]
	return Invalid("id", "incident %s is %s: it can be %s", id, status, verb)
}

// FindIncidentByID returns an incident: NOT_FOUND when there is none.
func (s *Store) FindIncidentByID(ctx context.Context, id string) (*Incident, error) {
	var inc Incident
	if err := s.db.WithContext(ctx).First(&inc, "id = ?", id).Error; err != nil {
		return nil, translate(err, "incident")
	}
	return &inc, nil
}

// ListIncidents returns incidents newest first, at most first of them (default 50, at most
// 200), after the incident whose id is after. VALIDATION for a bad status, first or after.
func (s *Store) ListIncidents(ctx context.Context, f IncidentFilter, first int, after string) ([]*Incident, error) {
	limit, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	q := s.db.WithContext(ctx).Order("number DESC").Limit(limit)
	if f.Status != nil {
		switch *f.Status {
		case IncidentTriggered, IncidentAcknowledged, IncidentResolved:
		default:
			return nil, Invalid("status", "unknown status %q", *f.Status)
		}
		q = q.Where("status = ?", *f.Status)
	}
	if f.ServiceID != nil {
		q = q.Where("service_id = ?", *f.ServiceID)
	}
	if f.TeamIDs != nil {
		q = q.Where("team_id IN ?", nonEmpty(f.TeamIDs))
	}
	if after != "" {
		n, ok := incidentNumber(after)
		if !ok {
			return nil, Invalid("after", "after must be an incident id such as INC-42")
		}
		q = q.Where("number < ?", n)
	}
	var out []*Incident
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// incidentNumber reads N out of INC-N.
func incidentNumber(id string) (int64, bool) {
	rest, ok := strings.CutPrefix(id, "INC-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil && n > 0
}

// pageSize turns a requested page size into a limit: VALIDATION when it is negative or too large.
func pageSize(first int) (int, error) {
	switch {
	case first == 0:
		return DefaultPageSize, nil
	case first < 0 || first > MaxPageSize:
		return 0, Invalid("first", "first must be between 1 and %d", MaxPageSize)
	}
	return first, nil
}

// ListRequests returns requests newest first, at most first of them (default 50, at most 200),
// after the request whose id is after, of one service when serviceID is set, limited to the
// services of teamIDs unless it is nil. VALIDATION for a bad first.
func (s *Store) ListRequests(ctx context.Context, serviceID *string, teamIDs []string, first int, after string) ([]*Request, error) {
	limit, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if serviceID != nil {
		q = q.Where("service_id = ?", *serviceID)
	}
	if teamIDs != nil {
		q = q.Where("service_id IN (?)", s.db.Model(&Service{}).Select("id").Where("team_id IN ?", nonEmpty(teamIDs)))
	}
	if after != "" {
		q = q.Where("id < ?", after)
	}
	var out []*Request
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out, nil
}

// incidentWriter is one transaction that changes incidents: every change fans out into
// deliveries inside it, and the worker is woken after commit.
type incidentWriter struct {
	s          *Store
	tx         *gorm.DB
	deliveries int
	names      map[string]string
}

// writeIncidents runs f in a transaction; deliveries written there are announced after commit.
func (s *Store) writeIncidents(ctx context.Context, f func(w *incidentWriter) error) error {
	w := &incidentWriter{s: s, names: map[string]string{}}
	err := s.writer.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		w.tx, w.deliveries = tx, 0
		return f(w)
	})
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return de
		}
		return err
	}
	if w.deliveries > 0 {
		s.announceDeliveries()
	}
	return nil
}

// locking adds FOR UPDATE on PostgreSQL; SQLite transactions hold the write lock already.
func (w *incidentWriter) locking(strength string) *gorm.DB {
	if w.s.dialect == DialectPostgres {
		return w.tx.Clauses(clause.Locking{Strength: strength})
	}
	return w.tx
}

// lock reads an incident for update: NOT_FOUND when there is none.
func (w *incidentWriter) lock(id string) (*Incident, error) {
	var inc Incident
	if err := w.locking(clause.LockingStrengthUpdate).First(&inc, "id = ?", id).Error; err != nil {
		return nil, translate(err, "incident")
	}
	return &inc, nil
}

// findOpenMapped returns the newest open incident of the service with the mapping value, or
// nil. On PostgreSQL it first takes a transaction lock on the pair, so that two payloads with
// the same new mapping value cannot both create an incident.
func (w *incidentWriter) findOpenMapped(serviceID, mapping string) (*Incident, error) {
	if w.s.dialect == DialectPostgres {
		if err := w.tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", serviceID+"\x1f"+mapping).Error; err != nil {
			return nil, fmt.Errorf("lock mapping: %w", err)
		}
	}
	var incs []Incident
	err := w.locking(clause.LockingStrengthUpdate).
		Where("service_id = ? AND mapped_with = ? AND status <> ?", serviceID, mapping, IncidentResolved).
		Order("number DESC").Limit(1).Find(&incs).Error
	if err != nil {
		return nil, fmt.Errorf("find mapped incident: %w", err)
	}
	if len(incs) == 0 {
		return nil, nil
	}
	return &incs[0], nil
}

// incidentSequence is the PostgreSQL sequence that numbers incidents (see migrateIncidentSequence).
const incidentSequence = "incident_number_seq"

// counterNumber hands out the next incident number on SQLite, from the counters row, whose
// UPDATE is cheap there because the transaction already holds the database's one write lock.
// PostgreSQL numbers incidents from a sequence instead (see create).
func (w *incidentWriter) counterNumber() (int64, error) {
	var n int64
	if err := w.tx.Exec("INSERT INTO counters (name, value) VALUES (?, 0) ON CONFLICT (name) DO NOTHING", incidentCounter).Error; err != nil {
		return 0, fmt.Errorf("number incident: %w", err)
	}
	if err := w.tx.Raw("UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", incidentCounter).Row().Scan(&n); err != nil {
		return 0, fmt.Errorf("number incident: %w", err)
	}
	return n, nil
}

// migrateIncidentSequence creates the PostgreSQL sequence of incident numbers once, starting
// after the highest number handed out so far (by the counters row of earlier versions or by
// an incident row), under an advisory lock so that processes starting together agree. From
// then on the counters row is no longer used on PostgreSQL.
func (s *Store) migrateIncidentSequence(ctx context.Context) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "herald:"+incidentSequence).Error; err != nil {
			return err
		}
		var exists bool
		if err := tx.Raw("SELECT to_regclass(?) IS NOT NULL", incidentSequence).Row().Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		if err := tx.Exec("CREATE SEQUENCE " + incidentSequence).Error; err != nil {
			return err
		}
		// setval(seq, 1, false) makes the next value 1; setval(seq, n, true) makes it n+1.
		return tx.Exec(`SELECT setval(?::regclass, GREATEST(m, 1), m > 0) FROM (SELECT GREATEST(
			(SELECT COALESCE(MAX(number), 0) FROM incidents),
			(SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = ?)) AS m) AS last`,
			incidentSequence, incidentCounter).Error
	})
	if err != nil {
		return fmt.Errorf("migrate: incident sequence: %w", err)
	}
	return nil
}

// create numbers and inserts a new TRIGGERED incident and fans out INCIDENT_CREATED.
func (w *incidentWriter) create(inc *Incident, actor string) error {
	// One statement reads the service and its team's name (the snapshot needs both) and, on
	// PostgreSQL, takes the incident's number from the sequence: nextval takes no lock that
	// lasts until commit, so concurrent ingests (in any process) do not wait for each other; a
	// rolled-back transaction leaves a gap, which INC-N tolerates.
	var svc struct {
		TeamID, Name, TeamName string
		Number                 int64
	}
	cols := "services.team_id, services.name, teams.name AS team_name"
	var args []any
	if w.s.dialect == DialectPostgres {
		cols += ", nextval(?::regclass) AS number"
		args = append(args, incidentSequence)
	}
	err := w.tx.Table("services").Select(cols, args...).Joins("JOIN teams ON teams.id = services.team_id").
		Where("services.id = ?", inc.ServiceID).Take(&svc).Error
	if err != nil {
		return translate(err, "service")
	}
	w.names["service:"+inc.ServiceID], w.names["team:"+svc.TeamID] = svc.Name, svc.TeamName
	n := svc.Number
	if w.s.dialect != DialectPostgres {
		if n, err = w.counterNumber(); err != nil {
			return err
		}
	}
	if inc.AssigneeID != nil {
		if err := w.checkAssignee("assigneeId", *inc.AssigneeID, svc.TeamID); err != nil {
			return err
		}
	}
	now := w.s.Now()
	inc.ID, inc.Number, inc.TeamID = "INC-"+strconv.FormatInt(n, 10), n, svc.TeamID
	inc.Status, inc.CreatedAt, inc.UpdatedAt = IncidentTriggered, now, now
	if err := w.tx.Create(inc).Error; err != nil {
		return fmt.Errorf("create incident: %w", translate(err, "incident"))
	}
	return w.fanOut(inc, webhook.EventCreated, actor)
}

// move applies the event to a locked incident (VALIDATION when its status forbids it), saves it
// and fans the event out.
func (w *incidentWriter) move(inc *Incident, event, actor string) error {
	if err := checkTransition(inc.ID, inc.Status, event); err != nil {
		return err
	}
	now := w.s.Now()
	switch event {
	case webhook.EventAcknowledged:
		inc.Status, inc.AcknowledgedAt = IncidentAcknowledged, &now
	case webhook.EventUnacknowledged:
		inc.Status, inc.AcknowledgedAt = IncidentTriggered, nil
	case webhook.EventResolved:
		inc.Status, inc.ResolvedAt = IncidentResolved, &now
	}
	inc.UpdatedAt = now
	err := w.tx.Model(&Incident{}).Where("id = ?", inc.ID).Updates(map[string]any{
		"status":          inc.Status,
		"assignee_id":     inc.AssigneeID,
		"acknowledged_at": inc.AcknowledgedAt,
		"resolved_at":     inc.ResolvedAt,
		"updated_at":      inc.UpdatedAt,
	}).Error
	if err != nil {
		return fmt.Errorf("update incident: %w", err)
	}
	return w.fanOut(inc, event, actor)
}

// userName returns a user's name, cached for the transaction: NOT_FOUND when there is none.
func (w *incidentWriter) userName(id string) (string, error) {
	return w.name("user:"+id, func() (string, error) {
		var u User
		if err := w.tx.Select("name").First(&u, "id = ?", id).Error; err != nil {
			return "", translate(err, "user")
		}
		return u.Name, nil
	})
}

// checkAssignee refuses, VALIDATION naming field, a user who may not hold an incident of the
// team: only a member of the team or a GLOBAL_ADMIN may. An unknown user gets the same answer,
// so that the ids of other teams' users cannot be told apart.
func (w *incidentWriter) checkAssignee(field, userID, teamID string) error {
	var n int64
	err := w.tx.Model(&User{}).Where("id = ?", userID).
		Where("role = ? OR id IN (?)", RoleGlobalAdmin, w.tx.Table("team_members").Select("user_id").Where("team_id = ?", teamID)).
		Count(&n).Error
	if err != nil {
		return fmt.Errorf("check assignee: %w", err)
	}
	if n == 0 {
		return Invalid(field, "no user of the incident's team has this id")
	}
	return nil
}

// name caches a looked-up name under key for the transaction.
func (w *incidentWriter) name(key string, load func() (string, error)) (string, error) {
	if n, ok := w.names[key]; ok {
		return n, nil
	}
	n, err := load()
	if err != nil {
		return "", err
	}
	w.names[key] = n
	return n, nil
}
