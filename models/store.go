// Package models is Herald's store: the GORM models and their rows, the only SQL, migrations,
// transactions, the outbox (the deliveries an incident change writes in its own transaction)
// and its queue (handoff, claim, completion), LISTEN/NOTIFY between processes, and the domain
// error type (Error, with the codes of SPEC and INTERNAL).
//
// It must not do HTTP or GraphQL, hold the rules about webhooks, payloads or user text (it
// calls their owners, models/webhook, models/payload and models/text, and turns their
// FieldError into VALIDATION), keep in-memory pub/sub (models/hub does, fed by the store), or
// import the worker or the API (layering_test.go).
package models

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"github.com/herald-hq/herald/models/hub"
	"github.com/herald-hq/herald/models/webhook"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialects.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Options configure a Store.
type Options struct {
	// DatabaseURL is `sqlite:PATH` or `postgres://…`.
	DatabaseURL string
	// SecretKey is the 32-byte key (hex or base64); empty with SQLite means a key file beside
	// the database; required with PostgreSQL.
	SecretKey string
	// BaseURL is Herald's public URL, used for incident links and integration URLs.
	BaseURL string
	// Language is the code of generated incident and request titles (see Languages); empty
	// means English.
	Language string
	Logger   *slog.Logger

	// CheckTargetHost, when set, is asked about the host of each webhook URL saved (a URL the
	// webhook already has is kept): a host it refuses refuses the URL with VALIDATION, the
	// error's text as the message. nil allows every host; the process sets it to the egress
	// guard's check unless HERALD_ALLOW_PRIVATE_TARGETS.
	CheckTargetHost func(host string) error

	// Now is the store's clock; nil means the wall clock in UTC, to the microsecond.
	Now func() time.Time
	// OnCancelled, when set, is called after each commit that made n > 0 deliveries
	// CANCELLED (a deactivation, or a claimed delivery of a webhook no longer active); the
	// worker's metrics count them.
	OnCancelled func(n int)
}

// Store is the one place that talks SQL.
type Store struct {
	db *gorm.DB
	// bk runs the worker's claims and completions: on PostgreSQL its own pool (see
	// openBookkeeping), on SQLite writer.
	bk *gorm.DB
	// writer runs the busy write transactions (incident changes with their fan-out; on SQLite
	// also claims and completions): on SQLite one connection, on PostgreSQL db (see Open).
	writer   *gorm.DB
	dialect  string
	cipher   *Cipher
	baseURL  string
	language string
	logger   *slog.Logger
	wake     chan struct{}
	hub      *hub.Hub
	dsn      string

	// statusHub fans out webhook status changes (StatusHub).
	statusHub *hub.Hub
	// autovacuum says whether PostgreSQL's autovacuum is on (see NeedsVacuum).
	autovacuum bool
	// checkTargetHost is Options.CheckTargetHost.
	checkTargetHost func(host string) error
	// notifier sends PostgreSQL notifications after commit; nil on SQLite.
	notifier *notifier
	// creator shares ingest transactions among concurrent alerts (see ingest_pg.go); nil on
	// SQLite.
	creator *creator
	// handoffs takes new deliveries to this process's worker (see handoff.go).
	handoffs handoffs
	// integrations remembers integrations by token (see integration_cache.go).
	integrations *integrationCache
	// clock is Options.Now and onCancelled Options.OnCancelled.
	clock       func() time.Time
	onCancelled func(n int)
}

// Open connects to the database, runs the migrations and returns the store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	dialect, dsn, keyPath, err := parseDatabaseURL(opts.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if dialect == DialectSQLite {
		// SQLite creates the database file but not its directory, and says only "unable to
		// open database file" when the directory is missing.
		if err := checkDir(filepath.Dir(keyPath)); err != nil {
			return nil, fmt.Errorf("HERALD_DATABASE_URL: %w", err)
		}
	}
	c, err := openCipher(dialect, keyPath, opts.SecretKey)
	if err != nil {
		return nil, err
	}
	db, bk, writer, err := openPools(dialect, dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:       db,
		bk:       bk,
		writer:   writer,
		dialect:  dialect,
		cipher:   c,
		baseURL:  strings.TrimRight(opts.BaseURL, "/"),
		language: strings.ToLower(strings.TrimSpace(opts.Language)),
		logger:   opts.Logger,
		wake:     make(chan struct{}, 1),
		hub:      hub.New(),
		dsn:      dsn,

		statusHub:       hub.New(),
		integrations:    newIntegrationCache(dialect == DialectSQLite),
		checkTargetHost: opts.CheckTargetHost,
		clock:           opts.Now,
		onCancelled:     opts.OnCancelled,
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.closeDBs()
		return nil, err
	}
	if dialect == DialectPostgres {
		if err := s.startPostgres(ctx); err != nil {
			_ = s.closeDBs()
			return nil, err
		}
	}
	return s, nil
}

// openCipher returns the cipher of the secret key: secretKey, or with SQLite and no secretKey
// the key in the file at keyPath (made on first use).
func openCipher(dialect, keyPath, secretKey string) (*Cipher, error) {
	var key []byte
	var err error
	switch {
	case secretKey != "":
		if key, err = ParseKey(secretKey); err != nil {
			return nil, fmt.Errorf("HERALD_SECRET_KEY: %w", err)
		}
	case dialect == DialectPostgres:
		return nil, errors.New("HERALD_SECRET_KEY is required with PostgreSQL")
	default:
		if key, err = LoadOrCreateKeyFile(keyPath); err != nil {
			return nil, fmt.Errorf("HERALD_SECRET_KEY: unset, so the key is kept in a file beside the database: %w", err)
		}
	}
	return NewCipher(key)
}

// openPools opens the store's connection pools: the main one (db), the bookkeeping one (bk)
// and the busy writes' (writer); see Store.
func openPools(dialect, dsn string) (db, bk, writer *gorm.DB, err error) {
	cfg := &gorm.Config{
		TranslateError:         true,
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	if dialect == DialectPostgres {
		db, err = openPool(postgres.Open(dsn), cfg, 32)
	} else {
		db, err = openPool(sqlite.Open(dsn), cfg, 8)
	}
	if err != nil {
		// The driver's message shows the user, host and database but not the password.
		return nil, nil, nil, fmt.Errorf("HERALD_DATABASE_URL: %w", err)
	}
	// SQLite has one write lock for the whole database, and a writer that finds it taken
	// sleeps in SQLite's busy handler (up to 100 ms a time) before it tries again. The busy
	// writes therefore queue in-process for one connection of their own, handed from one to the
	// next at once; the main pool keeps the reads and the rare writes of the API.
	bk, writer = db, db
	if dialect == DialectPostgres {
		bk, err = openBookkeeping(dsn, cfg)
	} else {
		bk, err = openPool(sqlite.Open(dsn), cfg, 1)
		writer = bk
	}
	if err != nil {
		_ = closePool(db)
		return nil, nil, nil, fmt.Errorf("HERALD_DATABASE_URL: %w", err)
	}
	return db, bk, writer, nil
}

// startPostgres reads whether autovacuum is on and starts the notifier and the ingest creator.
func (s *Store) startPostgres(ctx context.Context) error {
	var setting string
	if err := s.db.WithContext(ctx).Raw("SHOW autovacuum").Scan(&setting).Error; err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	s.notifier = newNotifier(s)
	s.creator = newCreator(s)
	if s.autovacuum = setting == "on"; !s.autovacuum {
		s.logger.Warn("PostgreSQL's autovacuum is off: the worker vacuums deliveries and attempts itself; turn autovacuum on in production")
	}
	return nil
}

// DatabaseDialect checks a HERALD_DATABASE_URL as Open reads it and returns its dialect; the
// error names the variable and never shows the URL's password.
func DatabaseDialect(raw string) (string, error) {
	dialect, _, _, err := parseDatabaseURL(raw)
	return dialect, err
}

// parseDatabaseURL returns the dialect, the driver DSN and, for SQLite, the key file path.
func parseDatabaseURL(raw string) (dialect, dsn, keyPath string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, perr := url.Parse(raw); perr != nil {
			// url.Error repeats the URL, password included: only its reason is shown.
			var uerr *url.Error
			if errors.As(perr, &uerr) {
				perr = uerr.Err
			}
			return "", "", "", fmt.Errorf("HERALD_DATABASE_URL: not a URL: %w", perr)
		}
		return DialectPostgres, raw, "", nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return "", "", "", errors.New("HERALD_DATABASE_URL: sqlite: needs a file path")
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		return DialectSQLite, "file:" + path + "?" + q.Encode(), filepath.Clean(path) + ".key", nil
	}
	return "", "", "", fmt.Errorf("HERALD_DATABASE_URL: %q is neither sqlite:PATH nor postgres://…", raw)
}

// migrationLock names the PostgreSQL advisory lock that serialises migrations (see lockMigration).
const migrationLock = "herald:migrate"

// migrate brings the schema up to date. On PostgreSQL the whole of it runs under the migration
// lock, so processes starting together on one database take turns: the first migrates, the
// others then find nothing left to do.
func (s *Store) migrate(ctx context.Context) error {
	if s.dialect == DialectPostgres {
		unlock, err := s.lockMigration(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer unlock()
	}
	err := s.db.WithContext(ctx).AutoMigrate(
		&Team{}, &Service{}, &User{}, &APIToken{}, &Webhook{}, &Integration{}, &Counter{},
		&Incident{}, &Request{}, &Delivery{}, &Attempt{}, &WebhookStatusChange{},
	)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if s.dialect == DialectPostgres {
		// A claim changes no indexed column of its delivery: with room left on the row's page
		// PostgreSQL updates it in place (a HOT update), adding no index entries, and prunes
		// the old version on its own, without waiting for vacuum.
		if err := s.db.WithContext(ctx).Exec("ALTER TABLE deliveries SET (fillfactor = 70)").Error; err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if err := s.migrateIncidentSequence(ctx); err != nil {
		return err
	}
	return s.migrateSecretHeaders(ctx)
}

// migrateSecretHeaders seals the header values an older Herald stored in clear: those of
// headers marked secret and those whose names look like credentials (SecretHeaderName), which
// it marks secret. On SQLite it then rewrites the file (VACUUM) and empties the write-ahead
// log, so that no page left over from before holds the old text.
func (s *Store) migrateSecretHeaders(ctx context.Context) error {
	var hooks []Webhook
	if err := s.db.WithContext(ctx).Select("id", "headers").Find(&hooks).Error; err != nil {
		return fmt.Errorf("migrate secret headers: %w", err)
	}
	sealed := 0
	for _, w := range hooks {
		headers, changed := slices.Clone(w.Headers.V), false
		for i, h := range headers {
			if !h.Secret && !webhook.SecretHeaderName(h.Name) || h.Secret && h.Value == "" {
				continue
			}
			if h.Value != "" {
				c, err := s.cipher.Seal(webhook.Secret(h.Value))
				if err != nil {
					return fmt.Errorf("migrate secret headers: %w", err)
				}
				headers[i].Sealed, headers[i].Value = c, ""
			}
			headers[i].Secret, changed = true, true
		}
		if !changed {
			continue
		}
		if err := s.db.WithContext(ctx).Model(&Webhook{}).Where("id = ?", w.ID).UpdateColumn("headers", NewJSON(headers)).Error; err != nil {
			return fmt.Errorf("migrate secret headers: %w", err)
		}
		sealed++
	}
	if sealed == 0 {
		return nil
	}
	s.logger.Info("sealed the secret header values of webhooks stored in clear", "webhooks", sealed)
	if s.dialect != DialectSQLite {
		return nil
	}
	for _, stmt := range []string{"VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if err := s.db.WithContext(ctx).Exec(stmt).Error; err != nil {
			return fmt.Errorf("migrate secret headers: %w", err)
		}
	}
	return nil
}

// lockMigration takes the migration lock, a session-level advisory lock held by one connection
// set aside for it until unlock is called. AutoMigrate checks whether a table exists and then
// creates it, so two processes migrating a fresh database at once both try to create it, and
// one fails on PostgreSQL's catalog ("pg_type_typname_nsp_index"). A transaction-scoped lock
// would not do: AutoMigrate and the incident sequence's migration run their statements on the
// pool, outside any transaction of ours. The lock needs no SQLite counterpart: a SQLite file
// belongs to one process.
func (s *Store) lockMigration(ctx context.Context) (unlock func(), err error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	// discard closes the connection instead of returning it to the pool, which ends its
	// session and so releases the lock whatever state the session is in.
	discard := func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = conn.Close()
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", migrationLock); err != nil {
		// A wait cut short by ctx may have been granted the lock all the same.
		discard()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() {
		// The lock is released even when ctx is done: the migration has stopped either way.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var released bool
		err := conn.QueryRowContext(uctx, "SELECT pg_advisory_unlock(hashtextextended($1, 0))", migrationLock).Scan(&released)
		if err != nil || !released {
			discard()
			return
		}
		_ = conn.Close()
	}, nil
}

// checkDir says why dir cannot hold the database, if it cannot.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// Dialect says which database the store runs on.
func (s *Store) Dialect() string { return s.dialect }

// DB returns the main GORM handle, for the packages of this module's tests.
func (s *Store) DB() *gorm.DB { return s.db }

// Cipher returns the cipher that seals stored secrets.
func (s *Store) Cipher() *Cipher { return s.cipher }

// BaseURL returns Herald's public URL without a trailing slash.
func (s *Store) BaseURL() string { return s.baseURL }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close sends the notifications still queued and closes the database.
func (s *Store) Close() error {
	if s.creator != nil {
		s.creator.close()
	}
	if s.notifier != nil {
		s.notifier.close()
	}
	return s.closeDBs()
}

// closeDBs closes the connection pools.
func (s *Store) closeDBs() error {
	err := closePool(s.db)
	if s.bk != s.db {
		err = errors.Join(err, closePool(s.bk))
	}
	return err
}

// openPool opens a pool of at most conns connections, all kept while in use (idle ones for five
// minutes): closing and reopening them under load would cost more than holding them.
func openPool(d gorm.Dialector, cfg *gorm.Config, conns int) (*gorm.DB, error) {
	db, err := gorm.Open(d, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(conns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// closePool closes a pool opened by openPool.
func closePool(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// openBookkeeping opens the PostgreSQL pool of the worker's claims and completions, whose
// sessions commit without waiting for the WAL flush (synchronous_commit off). A database crash
// may forget the last fraction of a second of such commits, which only puts deliveries back to
// PENDING to be sent again: at least once, never lost. The events and their deliveries, stored
// by ingest on the main pool, always wait for the flush, and PostgreSQL flushes the WAL in
// order, so a synchronous commit also makes durable every claim or completion before it. This
// takes two of the three flushes per delivery off the path from alert to webhook.
func openBookkeeping(dsn string, cfg *gorm.Config) (*gorm.DB, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	// The claim must walk idx_delivery_due in order, whatever the table's statistics say:
	// with stale ones (autovacuum off, or a backlog that grew since the last ANALYZE) the
	// planner estimates a few due rows and picks a bitmap scan that sorts the whole backlog on
	// every claim (1 s per claim at 180,000 pending). Every other statement of this pool reads
	// by primary key, so neither setting costs it anything.
	q.Set("enable_bitmapscan", "off")
	q.Set("enable_seqscan", "off")
	u.RawQuery = q.Encode()
	return openPool(postgres.Open(u.String()), cfg, 8)
}

// Now reads the store's clock (Options.Now), for code outside the store that must agree with
// the times it stores.
func (s *Store) Now() time.Time { return s.clock() }

func (s *Store) countCancelled(n int64) {
	if n > 0 && s.onCancelled != nil {
		s.onCancelled(int(n))
	}
}

// newID returns a time-ordered unique id.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// translate turns driver and GORM errors into domain errors where they mean one. The only
// unique keys a caller chooses are team names and a team's service names: a duplicate is
// VALIDATION on `name` (SPEC §4). Every other unique key (token hashes, incident numbers) is
// made by Herald, so a clash there stays internal.
func translate(err error, kind string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return NotFound(kind)
	case errors.Is(err, gorm.ErrDuplicatedKey) && kind == "team":
		return Invalid("name", "a team with this name already exists")
	case errors.Is(err, gorm.ErrDuplicatedKey) && kind == "service":
		return Invalid("name", "the team already has a service with this name")
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return Errorf(CodeValidation, "%s refers to something that does not exist", kind)
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return err
}
