package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ClusterName is the cluster's name in remote_servers, as the Altinity
// operator names nano's (components/kubeobjects).
const ClusterName = "events"

// Cluster is ClickHouse servers laid out as shards x replicas: one
// remote_servers cluster with internal replication, macros {shard} and
// {replica} (unique across the cluster, as the operator's pod names are),
// coordinated by one ZooKeeper; all on loopback.
type Cluster struct {
	ZooKeeper *ZooKeeper
	// Shards[s][r] is replica r of shard s, in remote_servers order.
	Shards [][]*ClickHouse
}

// StartCluster starts ZooKeeper and shards x replicas ClickHouse servers.
func StartCluster(shards, replicas int) (*Cluster, error) {
	zk, err := StartZooKeeper()
	if err != nil {
		return nil, err
	}
	c := &Cluster{ZooKeeper: zk}
	ports, err := freePorts(3 * shards * replicas)
	if err != nil {
		c.Stop()
		return nil, err
	}
	port := func(s, r, kind int) int { return ports[3*(s*replicas+r)+kind] }
	var remote strings.Builder
	fmt.Fprintf(&remote, "<remote_servers><%s>", ClusterName)
	for s := 0; s < shards; s++ {
		remote.WriteString("<shard><internal_replication>true</internal_replication>")
		for r := 0; r < replicas; r++ {
			fmt.Fprintf(&remote, "<replica><host>127.0.0.1</host><port>%d</port></replica>", port(s, r, 0))
		}
		remote.WriteString("</shard>")
	}
	fmt.Fprintf(&remote, "</%s></remote_servers>", ClusterName)
	c.Shards = make([][]*ClickHouse, shards)
	for s := 0; s < shards; s++ {
		for r := 0; r < replicas; r++ {
			extra := fmt.Sprintf(clusterConfig, port(s, r, 2), zk.Port, remote.String(), s+1, s+1, r+1)
			node, err := startClickHouse(port(s, r, 0), port(s, r, 1), extra)
			if err != nil {
				c.Stop()
				return nil, fmt.Errorf("shard %d replica %d: %w", s+1, r+1, err)
			}
			node.Shard, node.Replica = s+1, r+1
			c.Shards[s] = append(c.Shards[s], node)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.waitZooKeeper(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// clusterConfig is a node's replication configuration: its interserver
// port (replicas fetch parts over it), ZooKeeper, the cluster and its
// macros; a query log, so tests can see which replica served a query.
const clusterConfig = `    <interserver_http_port>%d</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <zookeeper>
        <node><host>127.0.0.1</host><port>%d</port></node>
        <session_timeout_ms>5000</session_timeout_ms>
    </zookeeper>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
    %s
    <macros><shard>%d</shard><replica>s%dr%d</replica></macros>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <flush_interval_milliseconds>500</flush_interval_milliseconds>
    </query_log>`

// Nodes are every server, shard by shard.
func (c *Cluster) Nodes() []*ClickHouse {
	var out []*ClickHouse
	for _, s := range c.Shards {
		out = append(out, s...)
	}
	return out
}

// Addrs are every server's native address, as a client that may reach any
// of them is configured (NANO_CLICKHOUSE_ADDR takes a comma-separated list).
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.Addr)
	}
	return out
}

// Open connects to every server, failing over in order.
func (c *Cluster) Open() (driver.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr: c.Addrs(),
		Auth: clickhouse.Auth{Database: "default", Username: "default"},
	})
}

// Stop stops every server and ZooKeeper and deletes their data.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes() {
		n.Stop()
	}
	if c.ZooKeeper != nil {
		c.ZooKeeper.Stop()
	}
}

// waitZooKeeper waits until every server has a ZooKeeper session (a server
// answers queries before it).
func (c *Cluster) waitZooKeeper(ctx context.Context) error {
	for _, n := range c.Nodes() {
		conn, err := n.Open()
		if err != nil {
			return err
		}
		var last error
		for {
			var k uint64
			if last = conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&k); last == nil {
				break
			}
			select {
			case <-ctx.Done():
				conn.Close()
				return fmt.Errorf("%s has no ZooKeeper session: %v", n.Addr, last)
			case <-time.After(100 * time.Millisecond):
			}
		}
		conn.Close()
	}
	return nil
}

// SyncReplicas waits until every replica of table has fetched what its
// shard's other replicas committed (SYSTEM SYNC REPLICA on each server).
func (c *Cluster) SyncReplicas(ctx context.Context, table string) error {
	for _, n := range c.Nodes() {
		conn, err := n.Open()
		if err != nil {
			return err
		}
		err = conn.Exec(ctx, "SYSTEM SYNC REPLICA "+table)
		conn.Close()
		if err != nil {
			return fmt.Errorf("shard %d replica %d: %w", n.Shard, n.Replica, err)
		}
	}
	return nil
}

// Count runs a count query on one server.
func (n *ClickHouse) Count(ctx context.Context, sql string, args ...any) (uint64, error) {
	conn, err := n.Open()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var v uint64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		return 0, fmt.Errorf("%s on %s: %w", sql, n.Addr, err)
	}
	return v, nil
}

// StartClusterFor starts a shards x replicas cluster for a test: it fails
// the test if the cluster cannot start, stops it when the test ends (after
// the test's own cleanups registered later), prints its servers' logs when
// the test failed, and returns a connection that fails over across every
// server, closed with the test.
func StartClusterFor(t testing.TB, shards, replicas int) (*Cluster, driver.Conn) {
	t.Helper()
	c, err := StartCluster(shards, replicas)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("shard %d replica %d:\n%s", n.Shard, n.Replica, n.Logs())
			}
		}
		c.Stop()
	})
	conn, err := c.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return c, conn
}
