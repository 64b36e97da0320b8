package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ZooKeeperJar is Debian's ZooKeeper 3.8 (package zookeeper), whose manifest
// names the libraries it needs; NANO_ZOOKEEPER_JAR overrides it.
const ZooKeeperJar = "/usr/share/java/zookeeper.jar"

// ZooKeeper is a running standalone ZooKeeper server, as ClickHouse's
// replicated tables and ON CLUSTER DDL coordinate through it.
type ZooKeeper struct {
	server
	Port int
}

// StartZooKeeper starts a standalone server on a free loopback port with
// its data in a temporary directory.
func StartZooKeeper() (*ZooKeeper, error) {
	jar := ZooKeeperJar
	if v := os.Getenv("NANO_ZOOKEEPER_JAR"); v != "" {
		jar = v
	}
	if _, err := os.Stat(jar); err != nil {
		return nil, fmt.Errorf("ZooKeeper not found at %s (run tests/run, which installs it): %w", jar, err)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("ZooKeeper needs java (Debian's zookeeper package depends on it): %w", err)
	}
	dir, err := os.MkdirTemp("", "nano-zk-")
	if err != nil {
		return nil, fmt.Errorf("cannot create ZooKeeper directory: %w", err)
	}
	z := &ZooKeeper{server: server{name: "zookeeper", dir: dir}}
	if z.Port, err = FreePort(); err != nil {
		z.stop()
		return nil, err
	}
	cfg := filepath.Join(dir, "zoo.cfg")
	// A short tick keeps session expiry (2-20 ticks) short when a
	// ClickHouse server is killed; no admin server (it would take 8080).
	conf := strings.Join([]string{
		"tickTime=500",
		"dataDir=" + filepath.Join(dir, "data"),
		"clientPort=" + strconv.Itoa(z.Port),
		"clientPortAddress=127.0.0.1",
		"admin.enableServer=false",
		"4lw.commands.whitelist=srvr",
		"",
	}, "\n")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		z.stop()
		return nil, err
	}
	z.cmd = exec.Command(java, "-Xmx256m", "-cp", jar, "-Dzookeeper.log.dir="+dir,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg)
	z.cmd.Dir = dir
	if err := z.start(); err != nil {
		z.stop()
		return nil, err
	}
	if err := z.waitReady(z.serving); err != nil {
		z.stop()
		return nil, err
	}
	return z, nil
}

// Stop stops the server and deletes its data.
func (z *ZooKeeper) Stop() { z.stop() }

// serving asks the server's four-letter "srvr", which names the mode once
// the server takes sessions ("imok" to "ruok" comes earlier: a ClickHouse
// server whose first session fails then leaves its DDL worker broken).
func (z *ZooKeeper) serving(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", z.Port))
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("srvr")); err != nil {
		return err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), "Mode: standalone") {
		return fmt.Errorf("zookeeper is not serving yet: %q", b)
	}
	return nil
}
