package pgbackup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// minMajor is the first PostgreSQL whose BASE_BACKUP sends every archive in
// one COPY stream of typed messages, as read here.
const minMajor = 15

// position is a base backup's start or end: a WAL location on a timeline.
type position struct {
	LSN      uint64
	Timeline uint32
}

// parseLSN reads PostgreSQL's X/Y form of a WAL location.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("not a WAL location: %q", s)
	}
	return h<<32 | l, nil
}

func formatLSN(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn)) }

// walFile is the name of the WAL segment holding lsn on timeline.
func walFile(timeline uint32, lsn, segmentSize uint64) string {
	perID := (uint64(1) << 32) / segmentSize
	seg := lsn / segmentSize
	return fmt.Sprintf("%08X%08X%08X", timeline, seg/perID, seg%perID)
}

// replicationConn connects to url as a physical replication client.
func replicationConn(ctx context.Context, url string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("the PostgreSQL URL: %w", err)
	}
	cfg.RuntimeParams["replication"] = "true"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot open a replication connection to PostgreSQL (the role needs REPLICATION and pg_hba.conf a replication line for this client): %w", err)
	}
	return conn, nil
}

// serverMajor is the connection's server major version, or why it cannot
// be backed up here.
func serverMajor(conn *pgconn.PgConn) (string, error) {
	v := conn.ParameterStatus("server_version")
	digits, _, _ := strings.Cut(v, ".")
	major, err := strconv.Atoi(strings.Fields(digits + " ")[0])
	if err != nil {
		return v, fmt.Errorf("unreadable PostgreSQL version %q", v)
	}
	if major < minMajor {
		return v, fmt.Errorf("PostgreSQL %s: base backups here need %d or later", v, minMajor)
	}
	return v, nil
}

// segmentSize is the server's wal_segment_size in bytes.
func segmentSize(ctx context.Context, conn *pgconn.PgConn) (uint64, error) {
	res, err := conn.Exec(ctx, "SHOW wal_segment_size").ReadAll()
	if err != nil {
		return 0, err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return 0, errors.New("SHOW wal_segment_size returned no row")
	}
	s := strings.TrimSpace(string(res[0].Rows[0][0]))
	n, err := strconv.ParseUint(strings.TrimSuffix(s, "MB"), 10, 64)
	if err != nil || !strings.HasSuffix(s, "MB") || n == 0 || n&(n-1) != 0 {
		return 0, fmt.Errorf("unreadable wal_segment_size %q", s)
	}
	return n << 20, nil
}

// baseBackup runs BASE_BACKUP on conn and writes the data directory's tar
// (with the WAL from start to end in pg_wal/) to w.
func baseBackup(ctx context.Context, conn *pgconn.PgConn, label string, w io.Writer) (start, end position, err error) {
	sql := "BASE_BACKUP (LABEL '" + strings.ReplaceAll(label, "'", "''") + "', CHECKPOINT 'fast', WAL true, WAIT false, MANIFEST 'no')"
	conn.Frontend().Send(&pgproto3.Query{String: sql})
	if err := conn.Frontend().Flush(); err != nil {
		return start, end, fmt.Errorf("BASE_BACKUP: %w", err)
	}
	if start, err = readPosition(ctx, conn); err != nil {
		return start, end, fmt.Errorf("BASE_BACKUP's start: %w", err)
	}
	archives := 0
	for copying := true; copying; {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return start, end, fmt.Errorf("BASE_BACKUP: %w", err)
		}
		switch msg := msg.(type) {
		case *pgproto3.RowDescription, *pgproto3.DataRow, *pgproto3.CommandComplete, *pgproto3.NoticeResponse, *pgproto3.CopyOutResponse:
			// The tablespaces' result set (only the data directory's row
			// here: any other archive is refused below), then the copy.
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				continue
			}
			switch msg.Data[0] {
			case 'n': // a new archive: name, tablespace location
				if archives++; archives > 1 {
					return start, end, errors.New("BASE_BACKUP sent a second archive: tablespaces outside the data directory are not backed up here")
				}
			case 'd':
				if archives == 0 {
					return start, end, errors.New("BASE_BACKUP sent data before its archive")
				}
				if _, err := w.Write(msg.Data[1:]); err != nil {
					return start, end, err
				}
			case 'p': // progress
			default:
				return start, end, fmt.Errorf("BASE_BACKUP sent an unknown message %q", msg.Data[0])
			}
		case *pgproto3.CopyDone:
			copying = false
		case *pgproto3.ErrorResponse:
			return start, end, fmt.Errorf("BASE_BACKUP: %w", pgconn.ErrorResponseToPgError(msg))
		default:
			return start, end, fmt.Errorf("BASE_BACKUP: unexpected %T", msg)
		}
	}
	if archives == 0 {
		return start, end, errors.New("BASE_BACKUP sent no archive")
	}
	if end, err = readPosition(ctx, conn); err != nil {
		return start, end, fmt.Errorf("BASE_BACKUP's end: %w", err)
	}
	for {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return start, end, err
		}
		switch msg := msg.(type) {
		case *pgproto3.ReadyForQuery:
			return start, end, nil
		case *pgproto3.ErrorResponse:
			return start, end, fmt.Errorf("BASE_BACKUP: %w", pgconn.ErrorResponseToPgError(msg))
		}
	}
}

// readPosition reads a result set of one (recptr, tli) row, through its
// CommandComplete.
func readPosition(ctx context.Context, conn *pgconn.PgConn) (position, error) {
	var p position
	rows := 0
	for {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return p, err
		}
		switch msg := msg.(type) {
		case *pgproto3.RowDescription, *pgproto3.NoticeResponse:
		case *pgproto3.DataRow:
			if len(msg.Values) != 2 {
				return p, fmt.Errorf("%d columns, want recptr and tli", len(msg.Values))
			}
			if p.LSN, err = parseLSN(string(msg.Values[0])); err != nil {
				return p, err
			}
			tli, err := strconv.ParseUint(string(msg.Values[1]), 10, 32)
			if err != nil {
				return p, fmt.Errorf("timeline %q: %w", msg.Values[1], err)
			}
			p.Timeline = uint32(tli)
			rows++
		case *pgproto3.CommandComplete:
			if rows != 1 {
				return p, fmt.Errorf("%d rows, want one", rows)
			}
			return p, nil
		case *pgproto3.ErrorResponse:
			return p, pgconn.ErrorResponseToPgError(msg)
		default:
			return p, fmt.Errorf("unexpected %T", msg)
		}
	}
}
