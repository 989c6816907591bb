package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	sqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "modernc.org/sqlite/lib"
)

// unavailableMessage is what a caller is told when the database cannot be reached.
const unavailableMessage = "the database is unavailable; try again shortly"

// unavailable says whether err, returned by the database driver or the connection pool, means
// that the database cannot be reached or cannot take the work now, rather than that the work is
// wrong: a connection that cannot be opened (refused, reset, unreachable, the server starting
// or shutting down, too many connections), a connection lost mid-statement, a wait for a pooled
// connection or an answer cut short by its deadline, and SQLite's write lock still taken once
// its busy timeout is over. A caller may retry such work later as it is.
func unavailable(err error) bool {
	var (
		connect *pgconn.ConnectError
		pg      *pgconn.PgError
		netErr  net.Error
		lite    *sqlite.Error
	)
	switch {
	case errors.As(err, &pg):
		// Class 08 is connection exceptions; 57P01-57P03 a server shutting down or not yet
		// up; 53300 no connection slot left.
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" ||
			pg.Code == "57P03" || pg.Code == "53300"
	case errors.As(err, &lite):
		return lite.Code()&0xff == sqlite3.SQLITE_BUSY
	case errors.As(err, &connect), errors.As(err, &netErr):
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
