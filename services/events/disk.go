package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The range of the ts column (DateTime: seconds since 1970 in a UInt32).
var (
	MinTime = time.Unix(0, 0).UTC()
	MaxTime = time.Unix(1<<32-1, 0).UTC()
)

// Day is the partition an event at t goes to (toYYYYMMDD(ts)).
func Day(t time.Time) uint32 {
	y, m, d := t.UTC().Date()
	return uint32(y*10000 + int(m)*100 + d)
}

// ErrNoDiskView means the server has no SQL view of its disk (system.disks
// exists from ClickHouse 19.15; every tier's pinned server has it).
var ErrNoDiskView = errors.New("this ClickHouse has no system.disks (before 19.15): its free disk space cannot be read")

// HasDiskView reports whether the server has system.disks.
func (e Engine) HasDiskView() bool {
	return e.Version[0] > 19 || (e.Version[0] == 19 && e.Version[1] >= 15)
}

// DiskFreeSQL reads the free share (0-1) of the default disk and the
// number of disks it was read from: on a cluster the smallest of every
// replica's (the fullest server decides), else the server's own.
func (e Engine) DiskFreeSQL() string {
	from := "system.disks"
	if e.Replicated() {
		// The cluster name is an identifier (Validate).
		from = fmt.Sprintf("clusterAllReplicas('%s', system.disks)", e.Cluster)
	}
	return "SELECT min(free_space / total_space), count() FROM " + from + " WHERE name = 'default' AND total_space > 0"
}

// DiskFree is the free share (0-1) of ClickHouse's default disk (see
// DiskFreeSQL); ErrNoDiskView on servers without system.disks.
func DiskFree(ctx context.Context, conn driver.Conn, e Engine) (float64, error) {
	if !e.HasDiskView() {
		return 0, ErrNoDiskView
	}
	var free float64
	var disks uint64
	if err := conn.QueryRow(ctx, e.DiskFreeSQL()).Scan(&free, &disks); err != nil {
		return 0, fmt.Errorf("cannot read ClickHouse's disk space: %w", err)
	}
	if disks == 0 {
		return 0, errors.New("ClickHouse lists no default disk with a size")
	}
	return free, nil
}
