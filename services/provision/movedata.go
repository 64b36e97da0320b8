package provision

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/tiermove"
)

// DataAddresses are where the provisioning endpoint reaches the two
// deployments' databases for an upgrade (a private network, a VPN or SSH
// tunnels to the servers): ClickHouse as clickhouse:// DSNs whose path
// names nano's database, PostgreSQL as postgres:// URLs. The clusters
// default to the tiers' own (none on a Compose host). They are kept as
// secrets in the new deployment's stack until the upgrade completes, and
// never returned.
type DataAddresses struct {
	SourceClickhouse string `json:"sourceClickhouse"`
	SourceCluster    string `json:"sourceCluster"`
	SourcePostgres   string `json:"sourcePostgres"`
	TargetClickhouse string `json:"targetClickhouse"`
	TargetCluster    string `json:"targetCluster"`
	TargetPostgres   string `json:"targetPostgres"`
}

// moveNamespace is the stack config namespace the addresses are kept in.
const moveNamespace = "nanoMove"

type addressField struct {
	name, key string
	v         *string
}

func (a *DataAddresses) fields() []addressField {
	out := []addressField{
		{name: "sourceClickhouse", v: &a.SourceClickhouse}, {name: "sourceCluster", v: &a.SourceCluster},
		{name: "sourcePostgres", v: &a.SourcePostgres}, {name: "targetClickhouse", v: &a.TargetClickhouse},
		{name: "targetCluster", v: &a.TargetCluster}, {name: "targetPostgres", v: &a.TargetPostgres},
	}
	for i := range out {
		out[i].key = moveNamespace + ":" + out[i].name
	}
	return out
}

func moveConfigKeys() []string {
	var out []string
	for _, f := range (&DataAddresses{}).fields() {
		out = append(out, f.key)
	}
	return out
}

// config is the addresses as stack config (stored as secrets).
func (a DataAddresses) config() map[string]string {
	out := map[string]string{}
	for _, f := range a.fields() {
		if *f.v != "" {
			out[f.key] = *f.v
		}
	}
	return out
}

// problems checks the addresses without connecting, naming each field.
func (a DataAddresses) problems() []Problem {
	var out []Problem
	chOpts := map[string]string{}
	for _, side := range []struct {
		name, dsn, cluster string
	}{{"source", a.SourceClickhouse, a.SourceCluster}, {"target", a.TargetClickhouse, a.TargetCluster}} {
		field := "move." + side.name + "Clickhouse"
		if side.dsn == "" {
			out = append(out, problem(field, "is required: clickhouse://USER:PASSWORD@HOST:9000/nano, reachable from the provisioning endpoint"))
			continue
		}
		opts, e, err := tiermove.ClickHouseAddress{DSN: side.dsn, Cluster: side.cluster}.Parse()
		if err != nil {
			out = append(out, problem(field+"/move."+side.name+"Cluster", "%v", err))
			continue
		}
		chOpts[side.name] = fmt.Sprint(opts.Addr, e.Database)
	}
	if len(chOpts) == 2 && chOpts["source"] == chOpts["target"] {
		out = append(out, problem("move.targetClickhouse", "is the source's database"))
	}
	for _, side := range []struct{ name, url string }{{"source", a.SourcePostgres}, {"target", a.TargetPostgres}} {
		field := "move." + side.name + "Postgres"
		if side.url == "" {
			out = append(out, problem(field, "is required: postgres://USER:PASSWORD@HOST:5432/DATABASE, reachable from the provisioning endpoint"))
			continue
		}
		if _, err := pgx.ParseConfig(side.url); err != nil {
			out = append(out, problem(field, "%v", err))
		}
	}
	if a.SourcePostgres != "" && a.SourcePostgres == a.TargetPostgres {
		out = append(out, problem("move.targetPostgres", "is the source's database"))
	}
	return out
}

// moveConns are the open connections of an upgrade's data move.
type moveConns struct {
	src, dst driver.Conn
	se, te   events.Engine
	spg, tpg *pgxpool.Pool
}

func (a DataAddresses) open(ctx context.Context) (*moveConns, error) {
	c := &moveConns{}
	var err error
	if c.src, c.se, err = (tiermove.ClickHouseAddress{DSN: a.SourceClickhouse, Cluster: a.SourceCluster}).Open(ctx); err != nil {
		return nil, fmt.Errorf("the old deployment's ClickHouse: %w", err)
	}
	if c.dst, c.te, err = (tiermove.ClickHouseAddress{DSN: a.TargetClickhouse, Cluster: a.TargetCluster}).Open(ctx); err != nil {
		c.close()
		return nil, fmt.Errorf("the new deployment's ClickHouse: %w", err)
	}
	for _, p := range []struct {
		what string
		url  string
		dst  **pgxpool.Pool
	}{{"old", a.SourcePostgres, &c.spg}, {"new", a.TargetPostgres, &c.tpg}} {
		pool, err := pgxpool.New(ctx, p.url)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			if pool != nil {
				pool.Close()
			}
			c.close()
			return nil, fmt.Errorf("the %s deployment's PostgreSQL: %w", p.what, err)
		}
		*p.dst = pool
	}
	return c, nil
}

func (c *moveConns) close() {
	for _, conn := range []driver.Conn{c.src, c.dst} {
		if conn != nil {
			_ = conn.Close()
		}
	}
	for _, p := range []*pgxpool.Pool{c.spg, c.tpg} {
		if p != nil {
			p.Close()
		}
	}
}

// eventsPass copies the events the new deployment lacks, day by day,
// verified (tiermove.EventsMove), telling each day to progress.
func (c *moveConns) eventsPass(ctx context.Context, progress func(string)) (string, uint64, error) {
	move := tiermove.EventsMove{Source: c.src, SourceEngine: c.se, Target: c.dst, TargetEngine: c.te,
		Progress: func(d tiermove.DayReport) {
			progress(fmt.Sprintf("day %d: %d rows in the old deployment, %d copied, %d in the new one", d.Day, d.Source, d.Copied, d.Target))
		}}
	rep, err := move.Run(ctx)
	if err != nil {
		return "", rep.Copied, err
	}
	var source uint64
	for _, d := range rep.Days {
		source += d.Source
	}
	return fmt.Sprintf("%d rows copied over %d day(s) in %s; all %d rows of the old deployment verified in the new one",
		rep.Copied, len(rep.Days), rep.Elapsed.Round(time.Millisecond), source), rep.Copied, nil
}

func (c *moveConns) moveEvents(ctx context.Context, progress func(string)) (string, error) {
	detail, _, err := c.eventsPass(ctx, progress)
	return detail, err
}

func (c *moveConns) moveMetadata(ctx context.Context) (string, error) {
	rep, err := tiermove.MoveMetadata(ctx, c.spg, c.tpg)
	if err != nil {
		return "", err
	}
	var rows int64
	for _, t := range rep.Tables {
		rows += t.Rows
	}
	return fmt.Sprintf("%d tables (%d rows) and %d sequences moved in %s, checksums equal",
		len(rep.Tables), rows, len(rep.Sequences), rep.Elapsed.Round(time.Millisecond)), nil
}
