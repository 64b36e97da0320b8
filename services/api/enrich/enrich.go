// Package enrich keeps enrichment datasets (IP ranges, threat lists) in
// ClickHouse in step with their sources: each due dataset is fetched
// (http(s) URL or a file under the configured directory), checked against
// its SHA-256, loaded whole into a new table and swapped in with one atomic
// RENAME, so readers see the old rows or the new ones, never a mix.
//
// Formats: "csv" (a header row names the columns, IPinfo-style range files
// among them) and "list" (one indicator per line, # comments).
//
// A dataset belongs to a tenant or to the platform (Dataset.Tenant ""):
// its table is named by its id (events.EnrichmentTable), and a lookup
// resolves a name to the tenant's own dataset or the platform's
// (metadb.Datasets). URL sources are fetched through the SSRF guard
// (fetchguard): never from the deployment's own services or any internal
// address, on the first request or a redirect. Files under the configured
// directory are the operator's: only platform datasets may name them.
package enrich

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/api/leader"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/fetchguard"
	"github.com/nanosiem/nano/services/fielderr"
)

// Limits of one dataset: its size, rows and columns, and how long one
// fetch may take.
const (
	MaxBytes     = 512 << 20
	MaxRows      = 20_000_000
	MaxColumns   = 64
	FetchTimeout = 5 * time.Minute
)

// Dataset is a configured source.
type Dataset struct {
	ID int64
	// Tenant owns the dataset; "" is the platform's (every tenant may look
	// it up).
	Tenant   string
	Name     string
	Source   string
	Format   string
	SHA256   string
	Interval time.Duration
	Last     string // checksum of the data in ClickHouse
}

// Syncer syncs due datasets.
type Syncer struct {
	DB   *pgxpool.Pool
	Conn driver.Conn
	// Engine is the events schema's layout: its database holds the
	// datasets' tables, on every server of a cluster.
	Engine events.Engine
	// Dir is the only directory file sources may name ("" forbids files).
	Dir string
	// Guard decides where URL sources may be fetched from; nil is the
	// production guard (fetchguard.New).
	Guard *fetchguard.Guard
	Now   func() time.Time

	client *http.Client
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var reName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// ValidateSource checks a dataset's definition (d's name, source, format
// and checksum; d.Tenant "" is a platform dataset); each problem is a
// *fielderr.Error naming the field. A URL's host is checked by g (nil: the
// production guard): an internal address or name is refused here, and
// again, on the resolved address, at every fetch.
func ValidateSource(d Dataset, dir string, g *fetchguard.Guard) error {
	if g == nil {
		g = fetchguard.New()
	}
	name, source, format, sum := d.Name, d.Source, d.Format, d.SHA256
	var errs []error
	if !reName.MatchString(name) {
		errs = append(errs, fielderr.New("name", "lower-case letters, digits and _, starting with a letter (at most 41)"))
	}
	switch {
	case strings.HasPrefix(source, "https://"), strings.HasPrefix(source, "http://"):
		u, err := url.Parse(source)
		switch {
		case err != nil || u.Host == "":
			errs = append(errs, fielderr.New("source", "not a URL with a host"))
		case len(source) > 2048:
			errs = append(errs, fielderr.New("source", "at most 2048 characters"))
		default:
			if err := g.CheckHost(u.Hostname()); err != nil {
				errs = append(errs, fielderr.Wrap("source", err))
			}
		}
	case d.Tenant == "" && filepath.IsAbs(source) && dir != "" && strings.HasPrefix(filepath.Clean(source), filepath.Clean(dir)+string(filepath.Separator)):
	case d.Tenant == "":
		errs = append(errs, fielderr.New("source", "an http(s) URL or a file under %q", dir))
	default:
		errs = append(errs, fielderr.New("source", "an http(s) URL (files on the server are for platform datasets)"))
	}
	if format != "csv" && format != "list" {
		errs = append(errs, fielderr.New("format", "csv or list"))
	}
	if sum != "" {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			errs = append(errs, fielderr.New("sha256", "64 hex digits"))
		}
	}
	return errors.Join(errs...)
}

// SyncDue syncs every dataset whose time has come (a scheduler task).
func (s *Syncer) SyncDue(ctx context.Context, epoch int64) error {
	rows, err := s.DB.Query(ctx, `SELECT id, coalesce(tenant, ''), name, source, format, sha256, interval_seconds, last_checksum FROM enrichment_datasets WHERE next_sync_at <= $1 ORDER BY id`, s.now())
	if err != nil {
		return fmt.Errorf("cannot read datasets: %w", err)
	}
	sets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Dataset, error) {
		var d Dataset
		var secs int
		err := r.Scan(&d.ID, &d.Tenant, &d.Name, &d.Source, &d.Format, &d.SHA256, &secs, &d.Last)
		d.Interval = time.Duration(secs) * time.Second
		return d, err
	})
	if err != nil {
		return fmt.Errorf("cannot read datasets: %w", err)
	}
	var errs []error
	for _, d := range sets {
		rowsLoaded, sum, syncErr := s.Sync(ctx, d)
		msg := ""
		if syncErr != nil {
			msg = syncErr.Error()
			errs = append(errs, fmt.Errorf("dataset %s: %w", d.Name, syncErr))
		}
		err := leader.Fence(ctx, s.DB, epoch, func(tx pgx.Tx) error {
			if syncErr != nil {
				_, err := tx.Exec(ctx, `UPDATE enrichment_datasets SET last_error = $2, next_sync_at = $3 WHERE id = $1`, d.ID, msg, s.now().Add(d.Interval))
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE enrichment_datasets SET last_checksum = $2, last_rows = CASE WHEN $3 >= 0 THEN $3 ELSE last_rows END,
last_synced_at = $4, last_error = '', next_sync_at = $5 WHERE id = $1`, d.ID, sum, rowsLoaded, s.now(), s.now().Add(d.Interval))
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := s.collect(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

var reTable = regexp.MustCompile(`^enrich_([0-9]+)$`)

// collect drops the tables of datasets that no longer exist (deleted, or
// their tenant removed): no lookup can resolve to them any more.
func (s *Syncer) collect(ctx context.Context) error {
	rows, err := s.Conn.Query(ctx, "SELECT name FROM system.tables WHERE database = @db AND startsWith(name, 'enrich_')", clickhouse.Named("db", s.Engine.Database))
	if err != nil {
		return fmt.Errorf("cannot list the datasets' tables: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("cannot list the datasets' tables: %w", err)
		}
		if m := reTable.FindStringSubmatch(name); m != nil {
			var id int64
			fmt.Sscan(m[1], &id)
			ids = append(ids, id)
		}
	}
	rows.Close()
	if len(ids) == 0 {
		return nil
	}
	prow, err := s.DB.Query(ctx, `SELECT x FROM unnest($1::bigint[]) AS x WHERE NOT EXISTS (SELECT 1 FROM enrichment_datasets WHERE id = x)`, ids)
	if err != nil {
		return fmt.Errorf("cannot read datasets: %w", err)
	}
	gone, err := pgx.CollectRows(prow, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("cannot read datasets: %w", err)
	}
	for _, id := range gone {
		if err := s.Engine.ExecDDL(ctx, s.Conn, "DROP TABLE IF EXISTS "+s.Table(id)+s.Engine.OnCluster()); err != nil {
			return fmt.Errorf("cannot drop the table of deleted dataset %d: %w", id, err)
		}
	}
	return nil
}

// Table is the dataset's table.
func (s *Syncer) Table(id int64) string { return events.EnrichmentTable(s.Engine.Database, id) }

// Sync fetches d and swaps its table when the data changed; rows is -1
// when nothing changed.
func (s *Syncer) Sync(ctx context.Context, d Dataset) (rows int64, sum string, err error) {
	if err := ValidateSource(d, s.Dir, s.Guard); err != nil {
		return 0, "", err
	}
	data, err := s.fetch(ctx, d.Source)
	if err != nil {
		return 0, "", err
	}
	h := sha256.Sum256(data)
	sum = hex.EncodeToString(h[:])
	if d.SHA256 != "" && !strings.EqualFold(d.SHA256, sum) {
		return 0, "", fmt.Errorf("checksum %s does not match the configured %s; the table is unchanged", sum, d.SHA256)
	}
	if sum == d.Last {
		return -1, sum, nil
	}
	cols, records, err := parse(d.Format, data)
	if err != nil {
		return 0, "", err
	}
	if err := s.swap(ctx, d.ID, cols, records); err != nil {
		return 0, "", err
	}
	// Before tables were named by id, a dataset lived in enrich_<name>.
	if err := s.Engine.ExecDDL(ctx, s.Conn, "DROP TABLE IF EXISTS "+events.LegacyEnrichmentTable(s.Engine.Database, d.Name)+s.Engine.OnCluster()); err != nil {
		return 0, "", fmt.Errorf("cannot drop the dataset's table of an earlier version: %w", err)
	}
	return int64(len(records)), sum, nil
}

// Redact is a source as the api shows it: a URL without its user name,
// password, query values and fragment (sources embed credentials there);
// a file path as it is.
func Redact(source string) string {
	if filepath.IsAbs(source) {
		return source
	}
	return fetchguard.Redact(source)
}

// fetch reads a source whole (at most MaxBytes). Its errors name the
// source redacted: they are stored and shown as the dataset's last_error.
func (s *Syncer) fetch(ctx context.Context, source string) ([]byte, error) {
	var r io.ReadCloser
	shown := Redact(source)
	if strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
		if err != nil {
			return nil, fmt.Errorf("source %s: not a URL", shown)
		}
		if s.client == nil {
			g := s.Guard
			if g == nil {
				g = fetchguard.New()
			}
			s.client = g.Client(FetchTimeout)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			// url.Error repeats the whole URL: keep only its cause.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("cannot fetch %s: %w", shown, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("cannot fetch %s: %s", shown, resp.Status)
		}
		r = resp.Body
	} else {
		f, err := os.Open(source)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", source, err)
		}
		r = f
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot read %s: %w", shown, err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s is over %d bytes", shown, MaxBytes)
	}
	return data, nil
}

var reColumn = regexp.MustCompile(`[^a-z0-9_]+`)

// parse reads the records; column names become identifiers.
func parse(format string, data []byte) ([]string, [][]string, error) {
	if format == "list" {
		var out [][]string
		for _, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if len(out) == MaxRows {
				return nil, nil, fmt.Errorf("more than %d rows", MaxRows)
			}
			out = append(out, []string{l})
		}
		return []string{"indicator"}, out, nil
	}
	r := csv.NewReader(strings.NewReader(string(data)))
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the CSV header: %w", err)
	}
	if len(header) > MaxColumns {
		return nil, nil, fmt.Errorf("%d columns; at most %d", len(header), MaxColumns)
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		c := strings.Trim(reColumn.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), "_"), "_")
		if c == "" || c[0] >= '0' && c[0] <= '9' {
			c = fmt.Sprintf("c%d_%s", i, c)
		}
		if seen[c] {
			return nil, nil, fmt.Errorf("CSV header: column %q twice", c)
		}
		seen[c] = true
		cols[i] = c
	}
	var out [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("CSV: %w", err)
		}
		if len(out) == MaxRows {
			return nil, nil, fmt.Errorf("more than %d rows", MaxRows)
		}
		out = append(out, rec)
	}
	return cols, out, nil
}

// swap loads records into a new table and renames it over the old one in
// one statement. On a cluster every server holds the whole dataset (a
// lookup reads it locally): the table is replicated across all servers,
// not per shard, and the load waits until every one of them has it
// (insert_quorum), so no server swaps in a partial table; with a server
// down the load fails and the old table stays.
func (s *Syncer) swap(ctx context.Context, id int64, cols []string, records [][]string) error {
	e, on := s.Engine, s.Engine.OnCluster()
	table, next, old := s.Table(id), s.Table(id)+"_next", s.Table(id)+"_old"
	if err := e.ExecDDL(ctx, s.Conn, "DROP TABLE IF EXISTS "+next+on); err != nil {
		return fmt.Errorf("cannot clear %s: %w", next, err)
	}
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = c + " String"
	}
	engine, insertCtx := "MergeTree()", ctx
	if e.Replicated() {
		// A new ZooKeeper path per load: renamed tables keep theirs.
		engine = fmt.Sprintf("ReplicatedMergeTree('/clickhouse/tables/all/%s/enrich_%d_%s', '{replica}')", e.Database, id, generation())
		var servers uint64
		if err := s.Conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = @c", clickhouse.Named("c", e.Cluster)).Scan(&servers); err != nil || servers == 0 {
			return fmt.Errorf("cannot count the servers of cluster %s (%d, %v)", e.Cluster, servers, err)
		}
		insertCtx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_quorum": int(servers)}))
	}
	if err := e.ExecDDL(ctx, s.Conn, fmt.Sprintf("CREATE TABLE %s%s (%s) ENGINE = %s ORDER BY tuple()", next, on, strings.Join(defs, ", "), engine)); err != nil {
		return fmt.Errorf("cannot create %s: %w", next, err)
	}
	for start := 0; start < len(records); start += 100_000 {
		b, err := s.Conn.PrepareBatch(insertCtx, fmt.Sprintf("INSERT INTO %s (%s)", next, strings.Join(cols, ", ")))
		if err != nil {
			return fmt.Errorf("cannot load %s: %w", next, err)
		}
		for _, rec := range records[start:min(start+100_000, len(records))] {
			row := make([]any, len(cols))
			for i := range cols {
				if i < len(rec) {
					row[i] = rec[i]
				} else {
					row[i] = ""
				}
			}
			if err := b.Append(row...); err != nil {
				return fmt.Errorf("cannot load %s: %w", next, err)
			}
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("cannot load %s: %w", next, err)
		}
	}
	var n uint64
	if err := s.Conn.QueryRow(ctx, "SELECT count() FROM "+next).Scan(&n); err != nil || n != uint64(len(records)) {
		return fmt.Errorf("loaded %d of %d rows into %s (%v); the table is unchanged", n, len(records), next, err)
	}
	var exists uint8
	if err := s.Conn.QueryRow(ctx, "EXISTS TABLE "+table).Scan(&exists); err != nil {
		return fmt.Errorf("cannot check %s: %w", table, err)
	}
	rename := fmt.Sprintf("RENAME TABLE %s TO %s%s", next, table, on)
	if exists == 1 {
		if err := e.ExecDDL(ctx, s.Conn, "DROP TABLE IF EXISTS "+old+on); err != nil {
			return err
		}
		rename = fmt.Sprintf("RENAME TABLE %s TO %s, %s TO %s%s", table, old, next, table, on)
	}
	if err := e.ExecDDL(ctx, s.Conn, rename); err != nil {
		return fmt.Errorf("cannot swap in %s: %w", table, err)
	}
	if exists == 1 {
		if err := e.ExecDDL(ctx, s.Conn, "DROP TABLE IF EXISTS "+old+on); err != nil {
			return fmt.Errorf("cannot drop %s: %w", old, err)
		}
	}
	return nil
}

// generation is a random name part, unique per load.
func generation() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
