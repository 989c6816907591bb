package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/herald-hq/herald/models/webhook"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Group commit of ingested incidents (PostgreSQL).
const (
	// createBatch bounds the incidents one ingest transaction creates.
	createBatch = 64
	// createCommitters is how many ingest transactions may be in flight at once: one is
	// waiting for its commit while the next gathers the alerts that arrived meanwhile.
	createCommitters = 2
	// createTimeout bounds one ingest transaction.
	createTimeout = 15 * time.Second
)

// The statements of an ingest transaction, fixed texts with arrays for parameters so that each
// is prepared once per connection whatever the batch size. The first numbers the incidents
// from the sequence, takes their teams from their services and returns the names their
// snapshots need; an alert whose service is gone returns no row. The webhooks are held for
// share, as in fanOut, so that a concurrent deactivation waits for this commit.
const (
	pgInsertIncidents = `WITH v AS (
			SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
				AS v(ord, service_id, title, description, urgency, alert_source)),
		n AS (
			SELECT v.*, s.team_id, s.name AS service_name, t.name AS team_name, nextval('` + incidentSequence + `') AS num
			FROM v JOIN services s ON s.id = v.service_id JOIN teams t ON t.id = s.team_id),
		ins AS (
			INSERT INTO incidents (id, number, service_id, team_id, title, description, urgency, status,
				alert_source, created_at, updated_at)
			SELECT 'INC-' || num, num, service_id, team_id, title, description, urgency, $7, alert_source, $8, $8 FROM n
			RETURNING id, number)
		SELECT ord, ins.id, num, team_id, service_name, team_name FROM n JOIN ins ON ins.number = n.num`
	pgFanOutHooks = `SELECT id, scope, team_id, service_id, events, urls, filter FROM webhooks
		WHERE status = $1 AND (scope = $2
			OR (scope = $3 AND team_id IN (SELECT team_id FROM services WHERE id = ANY($5::text[])))
			OR (scope = $4 AND service_id = ANY($5::text[])))
		ORDER BY created_at, id FOR SHARE`
	pgInsertDeliveries = `INSERT INTO deliveries (id, webhook_id, incident_id, event, url, status, snapshot, attempts,
			retry_base, next_attempt_at, lease_token, lease_expires_at, created_at, updated_at)
		SELECT id, webhook_id, incident_id, $1, url, $2, snapshot, CASE WHEN leased THEN 1 ELSE 0 END, 0, $3,
			CASE WHEN leased THEN $4 END, CASE WHEN leased THEN $5::timestamptz END, $3, $3
		FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bool[])
			AS d(id, webhook_id, incident_id, url, snapshot, leased)`
)

// createRequest is one new incident waiting for an ingest transaction.
type createRequest struct {
	ctx   context.Context
	inc   *Incident
	actor string
	done  chan error
}

// creator shares ingest transactions among concurrent alerts on PostgreSQL: what arrives
// while a transaction commits goes into the next one, so that under load one commit (and its
// WAL flush) serves many alerts, while an alert alone is committed at once.
type creator struct {
	s    *Store
	reqs chan *createRequest
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newCreator(s *Store) *creator {
	c := &creator{s: s, reqs: make(chan *createRequest), stop: make(chan struct{})}
	for range createCommitters {
		c.wg.Go(c.run)
	}
	return c
}

// close stops the committers once their transactions are done.
func (c *creator) close() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
}

func (c *creator) run() {
	batch := make([]*createRequest, 0, createBatch)
	for {
		select {
		case r := <-c.reqs:
			batch = append(batch[:0], r)
		case <-c.stop:
			return
		}
	gather:
		for len(batch) < createBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		c.commit(batch)
	}
}

// commit creates a batch's incidents in one transaction and answers each request. When the
// transaction fails, each request is tried alone, so that one bad alert cannot fail others.
func (c *creator) commit(batch []*createRequest) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), createTimeout)
	defer cancel()
	errs, err := c.s.createIncidentsPG(ctx, live)
	if err != nil && len(live) > 1 {
		for _, r := range live {
			c.commit([]*createRequest{r})
		}
		return
	}
	for i, r := range live {
		if err != nil {
			r.done <- err
			continue
		}
		r.done <- errs[i]
	}
}

// createIncidentPG is create and fanOut for a new incident on PostgreSQL (no assignee, no
// mapping value), shared with the other alerts arriving meanwhile (see creator). What is stored
// is exactly what the writer would store. Errors: NOT_FOUND (service), ctx's, the driver's
// (UNAVAILABLE when the database cannot be reached).
func (s *Store) createIncidentPG(ctx context.Context, inc *Incident, actor string) error {
	r := &createRequest{ctx: ctx, inc: inc, actor: actor, done: make(chan error, 1)}
	select {
	case s.creator.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.creator.stop:
		return errors.New("create incident: the store is closed")
	}
	return <-r.done
}

// createIncidentsPG runs one ingest transaction for the requests in two round trips on one
// connection: BEGIN, the incidents and the webhooks to fan out to in one pipelined batch; the
// deliveries and COMMIT in a second. It returns each request's own error (NOT_FOUND when its
// service is gone), or an error of the whole transaction, which then created nothing.
func (s *Store) createIncidentsPG(ctx context.Context, reqs []*createRequest) ([]error, error) {
	sqlDB, err := s.writer.DB()
	if err != nil {
		return nil, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var errs []error
	var rows []*Delivery
	lease := Lease{}
	err = conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		var err error
		errs, rows, lease, err = s.createIncidentsOn(ctx, c, reqs)
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
		return nil
	})
	if err != nil {
		lease.give(nil)
		return nil, err
	}
	lease.give(rows[:lease.N])
	if len(rows) > lease.N {
		s.announceDeliveries()
	}
	return errs, nil
}

// createIncidentsOn runs createIncidentsPG's transaction on c and returns each request's error,
// the deliveries it wrote and the lease the first of them were written with (see Handoff); on
// error the caller rolls back and gives the lease back.
func (s *Store) createIncidentsOn(ctx context.Context, c *pgx.Conn, reqs []*createRequest) ([]error, []*Delivery, Lease, error) {
	now := s.Now()
	res := c.SendBatch(ctx, incidentsBatch(reqs, now))
	created, hooks, err := readIncidentsAndHooks(res, reqs, now)
	if cerr := res.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("create incidents: %w", cerr)
	}
	if err != nil {
		return nil, nil, Lease{}, err
	}
	errs := make([]error, len(reqs))
	var ds []*Delivery
	for i, r := range reqs {
		if created[i] == nil {
			errs[i] = NotFound("service")
			continue
		}
		snap := s.snapshotOf(r.inc, r.actor, created[i].service, created[i].team, "")
		snap.EventAt = now
		more, err := createdDeliveries(snap, hooks)
		if err != nil {
			return nil, nil, Lease{}, err
		}
		ds = append(ds, more...)
	}
	hookIDs := make([]string, len(ds))
	for i, d := range ds {
		hookIDs[i] = d.WebhookID
	}
	lease := s.reserve(hookIDs)
	b, err := deliveriesBatch(ds, hookIDs, lease, now)
	if err != nil {
		return nil, nil, lease, err
	}
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, lease, fmt.Errorf("fan out %s: %w", webhook.EventCreated, err)
	}
	return errs, ds, lease, nil
}

// incidentsBatch opens the transaction, inserts the incidents of reqs (numbered, at now) and
// reads the ACTIVE webhooks that may cover their services.
func incidentsBatch(reqs []*createRequest, now time.Time) *pgx.Batch {
	n := len(reqs)
	ords := make([]int32, n)
	services, titles, descriptions, urgencies := make([]string, n), make([]string, n), make([]*string, n), make([]string, n)
	sources := make([]*string, n)
	for i, r := range reqs {
		ords[i] = int32(i)
		services[i], titles[i], descriptions[i] = r.inc.ServiceID, r.inc.Title, r.inc.Description
		urgencies[i], sources[i] = r.inc.Urgency, r.inc.AlertSource
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(services)))
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(pgInsertIncidents, ords, services, titles, descriptions, urgencies, sources, IncidentTriggered, now)
	b.Queue(pgFanOutHooks, WebhookActive, webhook.ScopeGlobal, webhook.ScopeTeam, webhook.ScopeService, distinct)
	return b
}

// createdNames are the service and team names of an incident incidentsBatch created.
type createdNames struct{ service, team string }

// readIncidentsAndHooks reads incidentsBatch's answers: it fills in the incidents created
// (nil names where the service does not exist) and returns the webhooks read.
func readIncidentsAndHooks(res pgx.BatchResults, reqs []*createRequest, now time.Time) ([]*createdNames, []Webhook, error) {
	if _, err := res.Exec(); err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	created := make([]*createdNames, len(reqs))
	rows, err := res.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("create incidents: %w", translate(err, "incident"))
	}
	for rows.Next() {
		var ord int32
		var nm createdNames
		var id, team string
		var num int64
		if err := rows.Scan(&ord, &id, &num, &team, &nm.service, &nm.team); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("create incidents: %w", err)
		}
		inc := reqs[ord].inc
		inc.ID, inc.Number, inc.TeamID = id, num, team
		inc.Status, inc.CreatedAt, inc.UpdatedAt = IncidentTriggered, now, now
		created[ord] = &nm
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("create incidents: %w", translate(err, "incident"))
	}
	if rows, err = res.Query(); err != nil {
		return nil, nil, fmt.Errorf("fan out %s: %w", webhook.EventCreated, err)
	}
	var hooks []Webhook
	for rows.Next() {
		var h Webhook
		if err := rows.Scan(&h.ID, &h.Scope, &h.TeamID, &h.ServiceID, &h.Events, &h.URLs, &h.Filter); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("fan out %s: %w", webhook.EventCreated, err)
		}
		hooks = append(hooks, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("fan out %s: %w", webhook.EventCreated, err)
	}
	return created, hooks, nil
}

// deliveriesBatch inserts ds (of the webhooks hookIDs), the first lease.N leased to this
// process's worker, and commits.
func deliveriesBatch(ds []*Delivery, hookIDs []string, lease Lease, now time.Time) (*pgx.Batch, error) {
	b := &pgx.Batch{}
	if len(ds) > 0 {
		ids, incidents, urls, snapshots, leased := make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds)), make([]bool, len(ds))
		for i, d := range ds {
			if i < lease.N {
				d.Attempts, d.LeaseToken, d.LeaseExpiresAt = 1, &lease.Token, &lease.Expires
			}
			v, err := d.Snapshot.Value()
			if err != nil {
				return nil, fmt.Errorf("fan out %s: %w", webhook.EventCreated, err)
			}
			ids[i], incidents[i], urls[i], snapshots[i], leased[i] = d.ID, *d.IncidentID, d.URL, v.(string), i < lease.N
		}
		b.Queue(pgInsertDeliveries, webhook.EventCreated, DeliveryPending, now, lease.Token, lease.Expires,
			ids, hookIDs, incidents, urls, snapshots, leased)
	}
	b.Queue("COMMIT")
	return b, nil
}

// createdDeliveries returns INCIDENT_CREATED's deliveries of the incident snap freezes: one per
// URL of every hook whose scope covers it, which subscribes to the event and whose filter
// matches, as fanOut would write them, sharing one encoding of the snapshot.
func createdDeliveries(snap Snapshot, hooks []Webhook) ([]*Delivery, error) {
	subj := webhook.FilterSubject{ServiceID: snap.ServiceID, ServiceName: snap.ServiceName, AlertSource: snap.AlertSource, Urgency: snap.Urgency}
	var ds []*Delivery
	var shared JSON[Snapshot]
	for _, h := range hooks {
		covers := h.Scope == webhook.ScopeGlobal ||
			(h.Scope == webhook.ScopeTeam && h.TeamID != nil && *h.TeamID == snap.TeamID) ||
			(h.Scope == webhook.ScopeService && h.ServiceID != nil && *h.ServiceID == snap.ServiceID)
		if !covers || !slices.Contains(h.Events.V, webhook.EventCreated) || !h.Filter.V.Matches(subj) {
			continue
		}
		if ds == nil {
			var err error
			if shared, err = EncodeJSON(snap); err != nil {
				return nil, fmt.Errorf("fan out %s: %w", webhook.EventCreated, err)
			}
		}
		for _, u := range h.URLs.V {
			ds = append(ds, &Delivery{ID: newID(), WebhookID: h.ID, IncidentID: &snap.IncidentID, Event: webhook.EventCreated, URL: u,
				Status: DeliveryPending, Snapshot: shared, NextAttemptAt: &snap.EventAt, CreatedAt: snap.EventAt, UpdatedAt: snap.EventAt})
		}
	}
	return ds, nil
}
