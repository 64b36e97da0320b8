package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ClickHouseBinary is Debian's clickhouse-server; NANO_CLICKHOUSE_SERVER
// overrides it.
const ClickHouseBinary = "/usr/sbin/clickhouse-server"

// ClickHouse is a running ClickHouse server.
type ClickHouse struct {
	server
	// NativePort is the native protocol port (clickhouse-go); HTTPPort the
	// HTTP interface.
	NativePort, HTTPPort int
	Addr                 string
	// Shard and Replica number a cluster's server from 1 (0 alone).
	Shard, Replica int
	// SecurePort is the native protocol over TLS (StartClickHouseTLS).
	SecurePort int
}

// StartClickHouse starts a ClickHouse server with its own configuration,
// data and log directories and free loopback ports. User "default" has no
// password and full access.
func StartClickHouse() (*ClickHouse, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	return startClickHouse(ports[0], ports[1], "")
}

// StartClickHouseTLS is StartClickHouse with the native protocol over TLS
// too, on SecurePort, serving the PEM certificate and key files (as
// ClickHouse Cloud serves 9440).
func StartClickHouseTLS(certFile, keyFile string) (*ClickHouse, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c, err := startClickHouse(ports[0], ports[1], fmt.Sprintf(tlsConfig, ports[2], certFile, keyFile))
	if err != nil {
		return nil, err
	}
	c.SecurePort = ports[2]
	return c, nil
}

const tlsConfig = `    <tcp_port_secure>%d</tcp_port_secure>
    <openSSL><server>
        <certificateFile>%s</certificateFile>
        <privateKeyFile>%s</privateKeyFile>
        <verificationMode>none</verificationMode>
        <loadDefaultCAFile>false</loadDefaultCAFile>
        <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
        <preferServerCiphers>true</preferServerCiphers>
    </server></openSSL>`

// ClickHouseOptions change how StartClickHouseWith starts the server.
type ClickHouseOptions struct {
	// UsersD are more users files (name -> content) put in users.d beside
	// the server's users.xml, as a deployment's users.d files are; a
	// <clickhouse> root is read as the <yandex> 18.16 wants.
	UsersD map[string][]byte
}

// StartClickHouseWith is StartClickHouse with options.
func StartClickHouseWith(o ClickHouseOptions) (*ClickHouse, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	return startClickHouse(ports[0], ports[1], "", o.UsersD)
}

// startClickHouse starts a server on the given ports; extra is more
// configuration (elements of the root), usersD more users files.
func startClickHouse(nativePort, httpPort int, extra string, usersD ...map[string][]byte) (*ClickHouse, error) {
	bin := ClickHouseBinary
	if v := os.Getenv("NANO_CLICKHOUSE_SERVER"); v != "" {
		bin = v
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("ClickHouse server not found at %s (run tests/run, which installs it): %w", bin, err)
	}
	dir, err := os.MkdirTemp("", "nano-ch-")
	if err != nil {
		return nil, fmt.Errorf("cannot create ClickHouse directory: %w", err)
	}
	c := &ClickHouse{server: server{name: "clickhouse-server", dir: dir}, NativePort: nativePort, HTTPPort: httpPort}
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			c.stop()
			return nil, err
		}
	}
	users := filepath.Join(dir, "users.xml")
	config := filepath.Join(dir, "config.xml")
	if err := os.WriteFile(users, []byte(clickhouseUsers), 0o644); err != nil {
		c.stop()
		return nil, err
	}
	for _, files := range usersD {
		if err := os.MkdirAll(filepath.Join(dir, "users.d"), 0o755); err != nil {
			c.stop()
			return nil, err
		}
		for name, content := range files {
			text := strings.NewReplacer("<clickhouse>", "<yandex>", "</clickhouse>", "</yandex>").Replace(string(content))
			if err := os.WriteFile(filepath.Join(dir, "users.d", name), []byte(text), 0o644); err != nil {
				c.stop()
				return nil, err
			}
		}
	}
	r := strings.NewReplacer("{dir}", dir, "{tcp}", strconv.Itoa(c.NativePort), "{http}", strconv.Itoa(c.HTTPPort), "{users}", users, "{extra}", extra)
	if err := os.WriteFile(config, []byte(r.Replace(clickhouseConfig)), 0o644); err != nil {
		c.stop()
		return nil, err
	}
	c.cmd = exec.Command(bin, "--config-file="+config)
	c.cmd.Dir = dir
	if err := c.start(); err != nil {
		c.stop()
		return nil, err
	}
	c.Addr = fmt.Sprintf("127.0.0.1:%d", c.NativePort)
	err = c.waitReady(c.ping)
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// Open connects to the server over the native protocol as "default".
func (c *ClickHouse) Open() (driver.Conn, error) { return c.OpenAs("default", "") }

// OpenAs connects to the server over the native protocol as user.
func (c *ClickHouse) OpenAs(user, password string) (driver.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr: []string{c.Addr},
		Auth: clickhouse.Auth{Database: "default", Username: user, Password: password},
	})
}

// Stop stops the server and deletes its data.
func (c *ClickHouse) Stop() { c.stop() }

// Crash kills the server with SIGKILL, keeping its data and ports, as a
// crashed or stopped ClickHouse would; Restart brings it back.
func (c *ClickHouse) Crash() error {
	if err := c.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("cannot kill clickhouse-server: %w", err)
	}
	<-c.done
	return nil
}

// Restart starts a crashed server again on the same data and ports and
// waits until it answers.
func (c *ClickHouse) Restart() error {
	c.cmd = exec.Command(c.cmd.Path, c.cmd.Args[1:]...)
	c.cmd.Dir = c.dir
	if err := c.start(); err != nil {
		return err
	}
	return c.waitReady(c.ping)
}

func (c *ClickHouse) ping(ctx context.Context) error {
	conn, err := c.Open()
	if err != nil {
		return err
	}
	defer conn.Close()
	var one uint8
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// The server configuration; the root element <yandex> is what Debian's
// 18.16 reads (newer servers accept it too).
const clickhouseConfig = `<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{dir}/logs/server.log</log>
        <errorlog>{dir}/logs/error.log</errorlog>
        <console>0</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp}</tcp_port>
    <http_port>{http}</http_port>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
{extra}
</yandex>
`

const clickhouseUsers = `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <!-- Logged where the config has a query_log (cluster servers). -->
            <log_queries>1</log_queries>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`

// MainWithClickHouse is a package's TestMain body: it starts ClickHouse
// into *ch, runs the tests, stops the server and exits. A server that
// cannot start fails the package loudly.
func MainWithClickHouse(m interface{ Run() int }, ch **ClickHouse) {
	os.Exit(withClickHouse(m, ch))
}

// MainWithPostgres is the same for tests that need PostgreSQL.
func MainWithPostgres(m interface{ Run() int }, pg **Postgres) {
	os.Exit(withPostgres(m, pg))
}

// MainWithBoth starts PostgreSQL and ClickHouse for a package's tests.
func MainWithBoth(m interface{ Run() int }, pg **Postgres, ch **ClickHouse) {
	os.Exit(withPostgres(runFunc(func() int { return withClickHouse(m, ch) }), pg))
}

func withClickHouse(m interface{ Run() int }, ch **ClickHouse) int {
	if Short() {
		return m.Run() // the tests that need the server skip (Servers)
	}
	var err error
	if *ch, err = StartClickHouse(); err != nil {
		fmt.Fprintln(os.Stderr, "these tests need ClickHouse:", err)
		return 1
	}
	defer (*ch).Stop()
	return m.Run()
}

func withPostgres(m interface{ Run() int }, pg **Postgres) int {
	if Short() {
		return m.Run()
	}
	var err error
	if *pg, err = StartPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, "these tests need PostgreSQL:", err)
		return 1
	}
	defer (*pg).Stop()
	return m.Run()
}

type runFunc func() int

func (f runFunc) Run() int { return f() }

// Logs is what the server printed and its error log, for a failing test.
func (c *ClickHouse) Logs() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "logs", "error.log"))
	return c.log.String() + string(b)
}
