package tiermove

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
)

// ClickHouseAddress is a deployment's ClickHouse as the move reaches it:
// a clickhouse:// DSN whose path names nano's database
// (clickhouse://USER:PASSWORD@HOST:9000/nano[?secure=true]) and, when it
// runs as a cluster, the cluster's name.
type ClickHouseAddress struct {
	DSN     string
	Cluster string
}

// Parse checks the address and returns the options to open it with and
// its events engine (version unknown until Open).
func (a ClickHouseAddress) Parse() (*clickhouse.Options, events.Engine, error) {
	opts, err := clickhouse.ParseDSN(a.DSN)
	if err != nil {
		return nil, events.Engine{}, fmt.Errorf("not a clickhouse:// DSN: %w", err)
	}
	e := events.Engine{Database: opts.Auth.Database, Cluster: a.Cluster}
	if err := e.Validate(); err != nil {
		return nil, events.Engine{}, fmt.Errorf("the DSN's path names nano's database: %w", err)
	}
	opts.Auth.Database = "default"
	opts.DialTimeout, opts.ReadTimeout = 10*time.Second, 10*time.Minute
	return opts, e, nil
}

// Open connects and reads the server's version into the engine.
func (a ClickHouseAddress) Open(ctx context.Context) (driver.Conn, events.Engine, error) {
	opts, e, err := a.Parse()
	if err != nil {
		return nil, e, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, e, err
	}
	if e.Version, err = events.DetectVersion(ctx, conn); err != nil {
		conn.Close()
		return nil, e, err
	}
	return conn, e, nil
}
