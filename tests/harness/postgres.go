package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// PostgresBinDir is where Debian's PostgreSQL 15 server binaries live;
// NANO_PG_BIN overrides it.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// Postgres is a running PostgreSQL server.
type Postgres struct {
	server
	Port int
	// URL connects as the superuser "postgres" to database "postgres".
	URL string
}

// StartPostgres initialises a cluster in a temporary directory and starts
// it on a free loopback port. initdb and postgres refuse to run as root, so
// as root they run as the "postgres" user Debian's package creates.
func StartPostgres() (*Postgres, error) { return StartPostgresWith(PostgresOptions{}) }

// PostgresOptions change how StartPostgresWith starts the server.
type PostgresOptions struct {
	// Settings are more -c name=value parameters.
	Settings map[string]string
	// Env is more of the server's environment (its archive and restore
	// commands inherit it).
	Env []string
	// Prepare, when set, fills the empty data directory instead of initdb
	// (a restore); it runs as the server's user would need: the directory
	// is handed to that user afterwards.
	Prepare func(data string) error
	// Ready, when set, is waited for after the server accepts connections
	// (e.g. the end of a recovery).
	Ready func(ctx context.Context, conn *pgx.Conn) error
}

// StartPostgresWith is StartPostgres with options.
func StartPostgresWith(o PostgresOptions) (*Postgres, error) {
	bin := PostgresBinDir
	if v := os.Getenv("NANO_PG_BIN"); v != "" {
		bin = v
	}
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		return nil, fmt.Errorf("PostgreSQL server not found in %s (run tests/run, which installs it): %w", bin, err)
	}
	dir, err := os.MkdirTemp("", "nano-pg-")
	if err != nil {
		return nil, fmt.Errorf("cannot create PostgreSQL directory: %w", err)
	}
	p := &Postgres{server: server{name: "postgres", dir: dir}}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			p.stop()
			return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			p.stop()
			return nil, fmt.Errorf("cannot hand %s to postgres: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	if o.Prepare != nil {
		if err := os.Mkdir(data, 0o700); err != nil {
			p.stop()
			return nil, err
		}
		if err := o.Prepare(data); err != nil {
			p.stop()
			return nil, fmt.Errorf("preparing the data directory: %w", err)
		}
		if cred != nil {
			if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", cred.Uid, cred.Gid), data).CombinedOutput(); err != nil {
				p.stop()
				return nil, fmt.Errorf("cannot hand %s to postgres: %v: %s", data, err, out)
			}
		}
		if err := os.Chmod(data, 0o700); err != nil {
			p.stop()
			return nil, err
		}
	} else {
		initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			p.stop()
			return nil, fmt.Errorf("initdb failed: %w\n%s", err, out)
		}
	}
	if p.Port, err = FreePort(); err != nil {
		p.stop()
		return nil, err
	}
	args := []string{"-D", data, "-p", strconv.Itoa(p.Port),
		"-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200"}
	names := make([]string, 0, len(o.Settings))
	for k := range o.Settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+o.Settings[k])
	}
	p.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	p.cmd.Env = append(os.Environ(), o.Env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := p.start(); err != nil {
		p.stop()
		return nil, err
	}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
	err = p.waitReady(func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		if err := conn.Ping(ctx); err != nil || o.Ready == nil {
			return err
		}
		return o.Ready(ctx, conn)
	})
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// CreateDatabase creates a fresh database and returns its URL.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		return "", fmt.Errorf("cannot connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("cannot create database %s: %w", name, err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, name), nil
}

// Stop stops the server and deletes its data.
func (p *Postgres) Stop() { p.stop() }

// Logs is the server's output so far.
func (p *Postgres) Logs() string { return p.log.String() }
