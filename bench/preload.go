package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", as Herald's GORM dialect uses
	"github.com/jackc/pgx/v5"
)

// preloadTarget is where preloaded history belongs: a team, service and webhook of its own,
// created through the GraphQL API.
type preloadTarget struct {
	TeamID, TeamName, ServiceID, ServiceName, WebhookID, URL string
}

// preloadEvent is the preload webhook's one event. The bench's alerts only create incidents
// (on another team), so the webhook stays ACTIVE, as real webhooks are, and gets no new traffic.
const preloadEvent = "INCIDENT_RESOLVED"

// preloadSpan is how far back the preloaded history reaches (inside the default 720 h log
// retention, so the janitor keeps it).
const preloadSpan = 25 * 24 * time.Hour

// createPreloadTarget creates the preload team, service and webhook: TEAM-scoped,
// INCIDENT_RESOLVED only, retryCount 0 (each preloaded delivery has exactly one attempt), to a
// URL nothing listens on (it is never called).
func createPreloadTarget(ctx context.Context, c *gqlClient, runID string) (preloadTarget, error) {
	t := preloadTarget{TeamName: "bench preload " + runID, ServiceName: "bench preload " + runID + " db", URL: "http://127.0.0.1:9/preload"}
	var team struct {
		CreateTeam struct{ ID string } `json:"createTeam"`
	}
	if err := c.do(ctx, `mutation createTeam($n: String!) { createTeam(name: $n) { id } }`, map[string]any{"n": t.TeamName}, &team); err != nil {
		return t, err
	}
	t.TeamID = team.CreateTeam.ID
	var svc struct {
		CreateService struct{ ID string } `json:"createService"`
	}
	if err := c.do(ctx, `mutation createService($t: ID!, $n: String!) { createService(teamId: $t, name: $n) { id } }`,
		map[string]any{"t": t.TeamID, "n": t.ServiceName}, &svc); err != nil {
		return t, err
	}
	t.ServiceID = svc.CreateService.ID
	in := map[string]any{
		"name": "bench preload", "scope": "TEAM", "teamId": t.TeamID,
		"events": []string{preloadEvent}, "urls": []string{t.URL},
		"signing": map[string]any{"scheme": "STANDARD_WEBHOOKS"}, "contentType": "JSON",
		"bodyTemplate": bodyTemplate, "retryCount": 0,
	}
	var res struct {
		CreateWebhook struct{ Webhook struct{ ID string } } `json:"createWebhook"`
	}
	if err := c.do(ctx, `mutation createWebhook($in: WebhookInput!) { createWebhook(input: $in) { webhook { id } } }`,
		map[string]any{"in": in}, &res); err != nil {
		return t, err
	}
	t.WebhookID = res.CreateWebhook.Webhook.ID
	return t, nil
}

// preload writes n RESOLVED incidents of t's service, each with one finished delivery to t's
// webhook (every 33rd FAILED with HTTP 500, the rest SUCCEEDED) and its one attempt, created
// over the preloadSpan before now, oldest first, then ANALYZEs (and on PostgreSQL VACUUMs)
// the tables. dbURL is Herald's HERALD_DATABASE_URL (postgres://… or sqlite:PATH).
func preload(ctx context.Context, dbURL string, t preloadTarget, n int, now time.Time) error {
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		return preloadSQLite(ctx, strings.TrimPrefix(path, "//"), t, n, now)
	}
	return preloadPostgres(ctx, dbURL, t, n, now)
}

// The PostgreSQL statements take named arguments: n, first (the first incident number), now,
// webhook, url, service, serviceName, team, teamName. Row g (1…n) is created at
// now − 1 h − span·(n−g+1)/n and resolved 5 to 60 minutes later, before now; the delivery is
// made at the resolution and its attempt starts 3 ms after it. Ids are UUIDv7-shaped: the
// time in milliseconds, then 7, a kind (1 delivery, 2 attempt) and g, so they sort by time.
const (
	pgRows     = `SELECT g, @first::bigint + g - 1 AS num, c, c + make_interval(secs => 300 + g %% 3300) AS r FROM (SELECT g, @now::timestamptz - interval '1 hour' - make_interval(secs => %f * (@n::bigint - g + 1) / @n::bigint) AS c FROM generate_series(1, @n::bigint) g) s`
	pgUUID     = `(substr(lpad(to_hex((extract(epoch FROM %[1]s) * 1000)::bigint), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex((extract(epoch FROM %[1]s) * 1000)::bigint), 12, '0'), 9, 4) || '-700%[2]d-8000-' || lpad(to_hex(g), 12, '0'))`
	pgJSONTime = `to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
)

func preloadPostgres(ctx context.Context, dbURL string, t preloadTarget, n int, now time.Time) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	defer tx.Rollback(context.Background())
	// Herald numbers incidents from incident_number_seq on PostgreSQL: take n numbers from it.
	var first int64
	if err := tx.QueryRow(ctx, `SELECT nextval('incident_number_seq')`).Scan(&first); err != nil {
		return fmt.Errorf("preload: incident numbers: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT setval('incident_number_seq', $1::bigint)`, first+int64(n)-1); err != nil {
		return fmt.Errorf("preload: incident numbers: %w", err)
	}
	rows := fmt.Sprintf(pgRows, preloadSpan.Seconds())
	dID, aID := fmt.Sprintf(pgUUID, "r", 1), fmt.Sprintf(pgUUID, "r", 2)
	failed := `g % 33 = 0`
	stmts := []struct{ name, sql string }{
		{"incidents", `INSERT INTO incidents (id, number, service_id, team_id, title, urgency, status, alert_source, created_at, updated_at, resolved_at)
			SELECT 'INC-' || num, num, @service::text, @team::text, 'disk usage above 90% on db-' || (g % 50) || ' (preload #' || g || ')',
				CASE WHEN g % 4 = 0 THEN 'LOW' ELSE 'HIGH' END, 'RESOLVED', 'bench-preload', c, r, r FROM (` + rows + `) x`},
		{"deliveries", `INSERT INTO deliveries (id, webhook_id, incident_id, event, url, status, snapshot, attempts, retry_base, last_error, created_at, updated_at)
			SELECT ` + dID + `, @webhook::text, 'INC-' || num, '` + preloadEvent + `', @url::text,
				CASE WHEN ` + failed + ` THEN 'FAILED' ELSE 'SUCCEEDED' END,
				json_build_object('eventAt', ` + fmt.Sprintf(pgJSONTime, "r") + `, 'user', 'bench-preload', 'incidentId', 'INC-' || num,
					'title', 'disk usage above 90% on db-' || (g % 50) || ' (preload #' || g || ')', 'description', '',
					'urgency', CASE WHEN g % 4 = 0 THEN 'LOW' ELSE 'HIGH' END, 'status', 'RESOLVED', 'mappedWith', '', 'url', '',
					'alertSource', 'bench-preload', 'serviceId', @service::text, 'serviceName', @serviceName::text, 'teamId', @team::text, 'teamName', @teamName::text, 'assignee', '',
					'createdAt', ` + fmt.Sprintf(pgJSONTime, "c") + `, 'resolvedAt', ` + fmt.Sprintf(pgJSONTime, "r") + `)::text,
				1, 0, CASE WHEN ` + failed + ` THEN 'HTTP 500 Internal Server Error' END,
				r, r + make_interval(secs => (43 + g % 200) / 1000.0) FROM (` + rows + `) x`},
		{"attempts", `INSERT INTO attempts (id, delivery_id, webhook_id, event, number, test, outcome, request, response, duration_ms, error, error_kind, remote_ip, started_at, truncated, response_truncated)
			SELECT ` + aID + `, ` + dID + `, @webhook::text, '` + preloadEvent + `', 1, false,
				CASE WHEN ` + failed + ` THEN 'FAILED' ELSE 'SUCCEEDED' END,
				json_build_object('method', 'POST', 'url', @url::text, 'headers', json_build_array(
					json_build_object('name', 'Content-Type', 'value', 'application/json'),
					json_build_object('name', 'User-Agent', 'value', 'Herald-Webhooks/1.0'),
					json_build_object('name', 'webhook-id', 'value', ` + dID + `),
					json_build_object('name', 'webhook-timestamp', 'value', floor(extract(epoch FROM r))::bigint::text),
					json_build_object('name', 'webhook-signature', 'value', 'v1,' || encode(sha256(('' || g)::bytea), 'base64'))),
					'body', json_build_object('title', 'disk usage above 90% on db-' || (g % 50) || ' (preload #' || g || ')',
						'incident', 'INC-' || num, 'event', 'incident.resolved')::text)::text,
				json_build_object('status', CASE WHEN ` + failed + ` THEN 500 ELSE 200 END, 'headers', json_build_array(
					json_build_object('name', 'Content-Type', 'value', 'application/json'),
					json_build_object('name', 'Date', 'value', to_char(r AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS "GMT"'))),
					'body', CASE WHEN ` + failed + ` THEN '{"error":"internal"}' ELSE '{"ok":true}' END)::text,
				43 + g % 200, CASE WHEN ` + failed + ` THEN 'HTTP 500 Internal Server Error' END,
				CASE WHEN ` + failed + ` THEN 'HTTP_STATUS' END, '127.0.0.1', r + interval '3 milliseconds', false, false FROM (` + rows + `) x`},
	}
	args := pgx.NamedArgs{"n": n, "first": first, "now": now.UTC(), "webhook": t.WebhookID, "url": t.URL,
		"service": t.ServiceID, "serviceName": t.ServiceName, "team": t.TeamID, "teamName": t.TeamName}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s.sql, args); err != nil {
			return fmt.Errorf("preload %s: %w", s.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("preload: commit: %w", err)
	}
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) incidents, deliveries, attempts`); err != nil {
		return fmt.Errorf("preload: vacuum: %w", err)
	}
	return nil
}

// The SQLite statements take ?1 n, ?2 the first incident number, ?3 now in Unix
// milliseconds, ?4 webhook, ?5 URL, ?6 service, ?7 its name, ?8 team, ?9 its name; rows are
// shaped as on PostgreSQL (times in ms: c creation, r resolution), and times are written as
// the driver writes time.Time ("2006-01-02 15:04:05.999+00:00").
const (
	sqliteRows = `WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?1),
		x AS (SELECT g, ?2 + g - 1 AS num, c, c + (300 + g %% 3300) * 1000 AS r FROM (SELECT g, ?3 - 3600000 - %d * (?1 - g + 1) / ?1 AS c FROM s))`
	sqliteUUID     = `(substr(printf('%%012x', %[1]s), 1, 8) || '-' || substr(printf('%%012x', %[1]s), 9, 4) || '-700%[2]d-8000-' || printf('%%012x', g))`
	sqliteTime     = `(strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s / 1000.0, 'unixepoch') || '+00:00')`
	sqliteJSONTime = `strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', %s / 1000.0, 'unixepoch')`
)

func preloadSQLite(ctx context.Context, path string, t preloadTarget, n int, now time.Time) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	defer tx.Rollback()
	// Herald numbers incidents from the counters row "incident" on SQLite: take n numbers from it.
	var last int64
	if _, err := tx.ExecContext(ctx, `INSERT INTO counters (name, value) VALUES ('incident', 0) ON CONFLICT (name) DO NOTHING`); err != nil {
		return fmt.Errorf("preload: incident numbers: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + ? WHERE name = 'incident' RETURNING value`, n).Scan(&last); err != nil {
		return fmt.Errorf("preload: incident numbers: %w", err)
	}
	rows := fmt.Sprintf(sqliteRows, preloadSpan.Milliseconds())
	dID, aID := fmt.Sprintf(sqliteUUID, "r", 1), fmt.Sprintf(sqliteUUID, "r", 2)
	ts := func(col string) string { return fmt.Sprintf(sqliteTime, col) }
	jt := func(col string) string { return fmt.Sprintf(sqliteJSONTime, col) }
	failed := `g % 33 = 0`
	title := `'disk usage above 90% on db-' || (g % 50) || ' (preload #' || g || ')'`
	stmts := []struct{ name, sql string }{
		{"incidents", rows + ` INSERT INTO incidents (id, number, service_id, team_id, title, urgency, status, alert_source, created_at, updated_at, resolved_at)
			SELECT 'INC-' || num, num, ?6, ?8, ` + title + `, CASE WHEN g % 4 = 0 THEN 'LOW' ELSE 'HIGH' END, 'RESOLVED', 'bench-preload',
				` + ts("c") + `, ` + ts("r") + `, ` + ts("r") + ` FROM x`},
		{"deliveries", rows + ` INSERT INTO deliveries (id, webhook_id, incident_id, event, url, status, snapshot, attempts, retry_base, last_error, created_at, updated_at)
			SELECT ` + dID + `, ?4, 'INC-' || num, '` + preloadEvent + `', ?5, CASE WHEN ` + failed + ` THEN 'FAILED' ELSE 'SUCCEEDED' END,
				json_object('eventAt', ` + jt("r") + `, 'user', 'bench-preload', 'incidentId', 'INC-' || num, 'title', ` + title + `,
					'description', '', 'urgency', CASE WHEN g % 4 = 0 THEN 'LOW' ELSE 'HIGH' END, 'status', 'RESOLVED', 'mappedWith', '',
					'url', '', 'alertSource', 'bench-preload', 'serviceId', ?6, 'serviceName', ?7, 'teamId', ?8, 'teamName', ?9,
					'assignee', '', 'createdAt', ` + jt("c") + `, 'resolvedAt', ` + jt("r") + `),
				1, 0, CASE WHEN ` + failed + ` THEN 'HTTP 500 Internal Server Error' END, ` + ts("r") + `, ` + ts("r + 43 + g % 200") + ` FROM x`},
		{"attempts", rows + ` INSERT INTO attempts (id, delivery_id, webhook_id, event, number, test, outcome, request, response, duration_ms, error, error_kind, remote_ip, started_at, truncated, response_truncated)
			SELECT ` + aID + `, ` + dID + `, ?4, '` + preloadEvent + `', 1, 0, CASE WHEN ` + failed + ` THEN 'FAILED' ELSE 'SUCCEEDED' END,
				json_object('method', 'POST', 'url', ?5, 'headers', json_array(
					json_object('name', 'Content-Type', 'value', 'application/json'),
					json_object('name', 'User-Agent', 'value', 'Herald-Webhooks/1.0'),
					json_object('name', 'webhook-id', 'value', ` + dID + `),
					json_object('name', 'webhook-timestamp', 'value', '' || (r / 1000)),
					json_object('name', 'webhook-signature', 'value', 'v1,' || hex(randomblob(32)))),
					'body', '' || json_object('title', ` + title + `, 'incident', 'INC-' || num, 'event', 'incident.resolved')),
				json_object('status', CASE WHEN ` + failed + ` THEN 500 ELSE 200 END, 'headers', json_array(
					json_object('name', 'Content-Type', 'value', 'application/json'),
					json_object('name', 'Date', 'value', strftime('%Y-%m-%d %H:%M:%S GMT', r / 1000, 'unixepoch'))),
					'body', CASE WHEN ` + failed + ` THEN '{"error":"internal"}' ELSE '{"ok":true}' END),
				43 + g % 200, CASE WHEN ` + failed + ` THEN 'HTTP 500 Internal Server Error' END,
				CASE WHEN ` + failed + ` THEN 'HTTP_STATUS' END, '127.0.0.1', ` + ts("r + 3") + `, 0, 0 FROM x`},
	}
	args := []any{n, last - int64(n) + 1, now.UnixMilli(), t.WebhookID, t.URL, t.ServiceID, t.ServiceName, t.TeamID, t.TeamName}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.sql, args...); err != nil {
			return fmt.Errorf("preload %s: %w", s.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("preload: commit: %w", err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("preload: analyze: %w", err)
	}
	return nil
}
