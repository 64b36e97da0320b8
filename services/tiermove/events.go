// Package tiermove moves a deployment's data into another deployment of a
// higher tier: the ClickHouse events (a single node's table into a
// cluster's, or any layout into any other) and the PostgreSQL metadata.
// Both moves are idempotent: run again after a crash, or again after the
// shippers were switched to the new deployment, they copy only what the
// target lacks, and they verify what they copied.
package tiermove

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
)

// DayReport is one day (YYYYMMDD, UTC) of events: the rows in the source,
// how many this run copied, and the rows in the target after it.
type DayReport struct {
	Day            uint32
	Source, Copied uint64
	Target         uint64
}

// EventsReport is what a move of the events did.
type EventsReport struct {
	Days    []DayReport
	Copied  uint64
	Elapsed time.Duration
}

// EventsMove copies the events of a source deployment into a target's.
type EventsMove struct {
	Source       driver.Conn
	SourceEngine events.Engine
	Target       driver.Conn
	TargetEngine events.Engine
	// BatchRows bounds an insert (50 000).
	BatchRows int
	// Progress, when set, is told each day as it is done.
	Progress func(DayReport)

	quorum int
}

// Run copies, day by day, every source row the target lacks (rows are
// compared by their whole content, as a multiset: an event the target
// holds twice because the source does is kept twice, never more), then
// checks that the target holds every source row of the day. A day whose
// count and checksum already match is not read at all.
func (m EventsMove) Run(ctx context.Context) (EventsReport, error) {
	start := time.Now()
	if m.BatchRows <= 0 {
		m.BatchRows = 50000
	}
	var rep EventsReport
	if m.TargetEngine.Replicated() {
		var replicas uint32
		err := m.Target.QueryRow(ctx, "SELECT toUInt32(max(replica_num)) FROM system.clusters WHERE cluster = ?", m.TargetEngine.Cluster).Scan(&replicas)
		if err != nil || replicas == 0 {
			return rep, fmt.Errorf("target: cannot read the replicas of cluster %s: %v", m.TargetEngine.Cluster, err)
		}
		m.quorum = int(replicas)
	}
	days, err := daySummaries(ctx, m.Source, m.SourceEngine.Table(), 0)
	if err != nil {
		return rep, fmt.Errorf("source: %w", err)
	}
	seed := maphash.MakeSeed()
	for _, src := range days {
		dst, err := daySummaries(ctx, m.Target, m.TargetEngine.Table(), src.day)
		if err != nil {
			return rep, fmt.Errorf("target: %w", err)
		}
		d := DayReport{Day: src.day, Source: src.rows}
		if len(dst) == 1 {
			d.Target = dst[0].rows
		}
		if len(dst) == 1 && dst[0] == src {
			rep.Days = append(rep.Days, d)
			m.report(d)
			continue
		}
		seen, copied, err := m.copyDay(ctx, src.day, seed)
		d.Copied = copied
		if err != nil {
			return rep, fmt.Errorf("day %d: %w", src.day, err)
		}
		missing, target, err := m.missing(ctx, src.day, seed, seen)
		if err != nil {
			return rep, fmt.Errorf("day %d: verifying: %w", src.day, err)
		}
		if missing > 0 {
			return rep, fmt.Errorf("day %d: after copying %d rows the target still lacks %d of the source's rows", src.day, d.Copied, missing)
		}
		d.Source, d.Target = seen.total, target
		rep.Copied += d.Copied
		rep.Days = append(rep.Days, d)
		m.report(d)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func (m EventsMove) report(d DayReport) {
	if m.Progress != nil {
		m.Progress(d)
	}
}

type daySummary struct {
	day  uint32
	rows uint64
	// sum is a checksum of the day's rows (order-independent).
	sum uint64
}

// daySummaries counts and checksums table's rows per day (only day when
// it is not 0). The checksum hashes a row's scalar columns on the server
// (old servers hash no arrays); it only decides whether a day can be
// skipped, never what is copied, which compares whole rows.
func daySummaries(ctx context.Context, conn driver.Conn, table string, day uint32) ([]daySummary, error) {
	where := ""
	args := []any{}
	if day != 0 {
		where, args = "WHERE toYYYYMMDD(ts) = ?", append(args, day)
	}
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT toUInt32(toYYYYMMDD(ts)) AS d, count(), sum(cityHash64(ts, ts_nanos, tenant, feed, severity, service, host, message, raw))
FROM %s %s GROUP BY d ORDER BY d`, table, where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []daySummary
	for rows.Next() {
		var s daySummary
		if err := rows.Scan(&s.day, &s.rows, &s.sum); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// row is one event as stored.
type row struct {
	ts                                              time.Time
	nanos                                           uint32
	tenant, feed, severity, service, host, msg, raw string
	keys, values                                    []string
}

func (r *row) dest() []any {
	return []any{&r.ts, &r.nanos, &r.tenant, &r.feed, &r.severity, &r.service, &r.host, &r.msg, &r.keys, &r.values, &r.raw}
}

func (r *row) args() []any {
	return []any{r.ts, r.nanos, r.tenant, r.feed, r.severity, r.service, r.host, r.msg, r.keys, r.values, r.raw}
}

// hash identifies a row by its whole content, independent of how either
// server types its columns.
func (r *row) hash(seed maphash.Seed) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(r.ts.Unix()))
	binary.LittleEndian.PutUint32(b[8:], r.nanos)
	h.Write(b[:])
	str := func(s string) {
		binary.LittleEndian.PutUint32(b[:4], uint32(len(s)))
		h.Write(b[:4])
		h.WriteString(s)
	}
	for _, s := range []string{r.tenant, r.feed, r.severity, r.service, r.host, r.msg, r.raw} {
		str(s)
	}
	binary.LittleEndian.PutUint32(b[:4], uint32(len(r.keys)))
	h.Write(b[:4])
	for i := range r.keys {
		str(r.keys[i])
		if i < len(r.values) {
			str(r.values[i])
		}
	}
	return h.Sum64()
}

// scanDay calls f with each row of the day in table.
func scanDay(ctx context.Context, conn driver.Conn, table string, day uint32, f func(*row) error) error {
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE toYYYYMMDD(ts) = ?", columnList, table), day)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r row
	for rows.Next() {
		if err := rows.Scan(r.dest()...); err != nil {
			return err
		}
		if err := f(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

var columnList = strings.Join(events.Columns, ", ")

// targetHashes is the multiset of the target's rows of a day.
func (m EventsMove) targetHashes(ctx context.Context, day uint32, seed maphash.Seed) (map[uint64]uint32, uint64, error) {
	have := map[uint64]uint32{}
	var n uint64
	err := scanDay(ctx, m.Target, m.TargetEngine.Table(), day, func(r *row) error {
		have[r.hash(seed)]++
		n++
		return nil
	})
	return have, n, err
}

// multiset is rows by hash, and how many.
type multiset struct {
	n     map[uint64]uint32
	total uint64
}

// copyDay inserts the source rows of a day the target lacks; it returns
// the source rows it read (a day still being written to grows while it
// is copied: those are what the copy answers for).
func (m EventsMove) copyDay(ctx context.Context, day uint32, seed maphash.Seed) (multiset, uint64, error) {
	seen := multiset{n: map[uint64]uint32{}}
	have, _, err := m.targetHashes(ctx, day, seed)
	if err != nil {
		return seen, 0, err
	}
	var copied uint64
	var batch driver.Batch
	pending := 0
	flush := func() error {
		if batch == nil {
			return nil
		}
		err := batch.Send()
		batch, pending = nil, 0
		return err
	}
	// The source's rows are read while the batches go out on another
	// connection of the target's pool.
	settings := m.TargetEngine.InsertSettings("")
	if m.quorum > 1 {
		// Every replica of a shard has the rows when the insert returns, so
		// a read of the target (any replica) sees them: the verification
		// and a later run never copy a row twice.
		settings["insert_quorum"] = m.quorum
	}
	ictx := clickhouse.Context(ctx, clickhouse.WithSettings(settings))
	err = scanDay(ctx, m.Source, m.SourceEngine.Table(), day, func(r *row) error {
		h := r.hash(seed)
		seen.n[h]++
		seen.total++
		if have[h] > 0 {
			have[h]--
			return nil
		}
		if batch == nil {
			var err error
			if batch, err = m.Target.PrepareBatch(ictx, events.InsertSQL(m.TargetEngine.InsertTable())); err != nil {
				return err
			}
		}
		if err := batch.Append(r.args()...); err != nil {
			return err
		}
		copied++
		if pending++; pending >= m.BatchRows {
			return flush()
		}
		return nil
	})
	if err != nil {
		if batch != nil {
			_ = batch.Abort()
		}
		return seen, copied, err
	}
	return seen, copied, flush()
}

// missing counts the rows of seen (source rows of a day) the target
// lacks, and the target's rows of that day.
func (m EventsMove) missing(ctx context.Context, day uint32, seed maphash.Seed, seen multiset) (uint64, uint64, error) {
	have, n, err := m.targetHashes(ctx, day, seed)
	if err != nil {
		return 0, 0, err
	}
	var missing uint64
	for h, want := range seen.n {
		if got := have[h]; got < want {
			missing += uint64(want - got)
		}
	}
	return missing, n, nil
}
