package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// single is the single-node end-to-end result the cluster run is compared
// with.
type single struct{ eps, p50, p99 float64 }

// benchCluster runs the same end-to-end load against the ingest binary
// writing to a replicated ClickHouse (2 shards x 2 replicas of the
// harness's server, ZooKeeper; all on this machine's cores) and prints
// events/s, latency and the ratio to the single-node run.
func benchCluster(bin, self string, d time.Duration, rounds, clients, batch int, base single) error {
	c, err := harness.StartCluster(2, 2)
	if err != nil {
		return err
	}
	defer c.Stop()
	if err := migrate(c.Addrs(), harness.ClusterName); err != nil {
		return err
	}
	svc, addr, err := startIngest(bin, contract.ClickHouseAddr+"="+strings.Join(c.Addrs(), ","), contract.ClickHouseCluster+"="+harness.ClusterName)
	if err != nil {
		return err
	}
	defer func() { _ = svc.Process.Kill(); _ = svc.Wait() }()
	conn, err := c.Open()
	if err != nil {
		return err
	}
	defer conn.Close()
	var events int64
	var seconds float64
	var p50, p99 []float64
	failures := 0
	for round := 1; round <= rounds; round++ {
		r, _, err := runLoad(self, addr, d, clients, batch)
		if err != nil {
			return err
		}
		fmt.Printf("cluster round %d: end to end %.0f events/s (p50 %.0f ms, p99 %.0f ms)\n", round, float64(r.Events)/r.Seconds, r.P50Millis, r.P99Millis)
		events += r.Events
		seconds += r.Seconds
		failures += r.Failures
		p50, p99 = append(p50, r.P50Millis), append(p99, r.P99Millis)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.SyncReplicas(ctx, "bench.events_local"); err != nil {
		return err
	}
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM bench.events").Scan(&stored); err != nil {
		return err
	}
	eps := float64(events) / seconds
	fmt.Printf("ingest end to end on a 2 shards x 2 replicas cluster (same events and clients; synchronous insert, ack after every shard committed):\n")
	fmt.Printf("  events/s       %.0f\n", eps)
	fmt.Printf("  latency        p50 %.1f ms, p99 %.1f ms (median of rounds; %d failed requests)\n", median(p50), median(p99), failures)
	fmt.Printf("  acknowledged   %d events; the cluster stored %d\n", events, stored)
	fmt.Printf("ratio cluster / single node: events/s %.2f, p50 %.2f, p99 %.2f\n", eps/base.eps, median(p50)/base.p50, median(p99)/base.p99)
	if uint64(events) > stored {
		return fmt.Errorf("%d events acknowledged but only %d stored on the cluster", events, stored)
	}
	return nil
}
