package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// The statements of createIncidentPG's first round trip. The incident takes its number from
// the sequence and its team from the service in the INSERT itself; the webhooks are held for
// share, as in fanOut, so that a concurrent deactivation waits for this commit.
const (
	pgInsertIncident = `INSERT INTO incidents (id, number, service_id, team_id, title, description, urgency, status,
		mapped_with, alert_source, created_at, updated_at)
		SELECT 'INC-' || n.v, n.v, s.id, s.team_id, $2, $3, $4, $5, $6, $7, $8, $8
		FROM services s, LATERAL (SELECT nextval('` + incidentSequence + `') AS v) n WHERE s.id = $1
		RETURNING id, number, team_id`
	pgSnapshotNames = `SELECT s.name, t.name FROM services s JOIN teams t ON t.id = s.team_id WHERE s.id = $1`
	pgFanOutHooks   = `SELECT id, events, urls, filter FROM webhooks WHERE status = $2 AND (scope = $3
		OR (scope = $4 AND team_id = (SELECT team_id FROM services WHERE id = $1)) OR (scope = $5 AND service_id = $1))
		ORDER BY created_at, id FOR SHARE`
)

// createIncidentPG is create and fanOut for a new incident on PostgreSQL (no assignee) in two
// round trips on one connection instead of seven: BEGIN, the INSERT, the snapshot's names and
// the webhooks to fan out to go in one pipelined batch; the deliveries and COMMIT in a second.
// What is stored is exactly what the writer would store. Errors: NOT_FOUND (service), the
// driver's (UNAVAILABLE when the database cannot be reached).
func (s *Store) createIncidentPG(ctx context.Context, inc *Incident, actor string) error {
	sqlDB, err := s.writer.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var deliveries int
	err = conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		n, err := s.createIncidentOn(ctx, c, inc, actor)
		if err != nil {
			// A failed statement leaves the transaction aborted; a broken connection is
			// dropped by the pool.
			if c.IsClosed() {
				return err
			}
			if _, rerr := c.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
		deliveries = n
		return nil
	})
	if err != nil {
		return err
	}
	if deliveries > 0 {
		s.announceDeliveries()
	}
	return nil
}

// createIncidentOn runs createIncidentPG's transaction on c and returns how many deliveries it
// wrote; on error the caller rolls back.
func (s *Store) createIncidentOn(ctx context.Context, c *pgx.Conn, inc *Incident, actor string) (int, error) {
	now := s.now()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(pgInsertIncident, inc.ServiceID, inc.Title, inc.Description, inc.Urgency, IncidentTriggered,
		inc.MappedWith, inc.AlertSource, now)
	b.Queue(pgSnapshotNames, inc.ServiceID)
	b.Queue(pgFanOutHooks, inc.ServiceID, WebhookActive, ScopeGlobal, ScopeTeam, ScopeService)
	res := c.SendBatch(ctx, b)
	if _, err := res.Exec(); err != nil {
		res.Close()
		return 0, fmt.Errorf("begin: %w", err)
	}
	err := res.QueryRow().Scan(&inc.ID, &inc.Number, &inc.TeamID)
	if errors.Is(err, pgx.ErrNoRows) {
		res.Close()
		return 0, NotFound("service")
	}
	if err != nil {
		res.Close()
		return 0, fmt.Errorf("create incident: %w", translate(err, "incident"))
	}
	var svcName, teamName string
	if err := res.QueryRow().Scan(&svcName, &teamName); err != nil {
		res.Close()
		return 0, fmt.Errorf("snapshot names: %w", err)
	}
	rows, err := res.Query()
	if err != nil {
		res.Close()
		return 0, fmt.Errorf("fan out %s: %w", EventCreated, err)
	}
	var hooks []Webhook
	for rows.Next() {
		var h Webhook
		if err := rows.Scan(&h.ID, &h.Events, &h.URLs, &h.Filter); err != nil {
			rows.Close()
			res.Close()
			return 0, fmt.Errorf("fan out %s: %w", EventCreated, err)
		}
		hooks = append(hooks, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		res.Close()
		return 0, fmt.Errorf("fan out %s: %w", EventCreated, err)
	}
	if err := res.Close(); err != nil {
		return 0, fmt.Errorf("create incident: %w", err)
	}
	inc.Status, inc.CreatedAt, inc.UpdatedAt = IncidentTriggered, now, now

	b = &pgx.Batch{}
	n := 0
	if len(hooks) > 0 {
		q, args, count, err := s.pgDeliveryInsert(inc, hooks, svcName, teamName, actor)
		if err != nil {
			return 0, err
		}
		if count > 0 {
			b.Queue(q, args...)
			n = count
		}
	}
	b.Queue("COMMIT")
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("fan out %s: %w", EventCreated, err)
	}
	return n, nil
}

// pgDeliveryInsert builds the multi-row INSERT of INCIDENT_CREATED's deliveries to the hooks
// that subscribe to it and whose filter matches, with the snapshot fanOut would write.
func (s *Store) pgDeliveryInsert(inc *Incident, hooks []Webhook, svcName, teamName, actor string) (string, []any, int, error) {
	snap := s.snapshotOf(inc, actor, svcName, teamName, "")
	snapJSON, err := EncodeJSON(snap)
	if err != nil {
		return "", nil, 0, fmt.Errorf("fan out %s: %w", EventCreated, err)
	}
	snapValue, err := snapJSON.Value()
	if err != nil {
		return "", nil, 0, fmt.Errorf("fan out %s: %w", EventCreated, err)
	}
	subj := FilterSubject{ServiceID: inc.ServiceID, ServiceName: svcName, AlertSource: snap.AlertSource, Urgency: inc.Urgency}
	var q strings.Builder
	q.WriteString(`INSERT INTO deliveries (id, webhook_id, incident_id, event, url, status, snapshot, attempts,
		retry_base, next_attempt_at, created_at, updated_at) VALUES `)
	args := []any{inc.ID, EventCreated, DeliveryPending, snapValue, snap.EventAt}
	count := 0
	for _, h := range hooks {
		if !slices.Contains(h.Events.V, EventCreated) || !h.Filter.V.Matches(subj) {
			continue
		}
		for _, u := range h.URLs.V {
			if count > 0 {
				q.WriteString(", ")
			}
			p := len(args)
			args = append(args, newID(), h.ID, u)
			fmt.Fprintf(&q, "($%d, $%d, $1, $2, $%d, $3, $4, 0, 0, $5, $5, $5)", p+1, p+2, p+3)
			count++
		}
	}
	return q.String(), args, count, nil
}
