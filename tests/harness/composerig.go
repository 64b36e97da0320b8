package harness

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// standins are the entrypoints of the ClickHouse and PostgreSQL stand-ins.
//
//go:embed standins/*.sh
var standins embed.FS

// ComposeRig is what tests/setup built for the Compose rig, in the
// directory NANO_COMPOSE_RIG: Docker Compose v2 and the third-party
// binaries of nano's compose file (bin/: docker-compose, caddy, prometheus,
// postgres_exporter, alertmanager, each built from its Go module at the
// version the compose file pins, and mailpit, the rig's mail server) and Debian root filesystems made by mmdebstrap
// (rootfs/: base.tar with CA certificates; clickhouse.tar with Debian's
// clickhouse-server and -client 18.16, user clickhouse 101; postgres.tar
// with Debian's PostgreSQL 15, user postgres 999: the official images'
// ids). No registry is reachable here, so the rig builds the images the
// compose file names from these.
type ComposeRig struct{ Dir string }

// OpenComposeRig checks that dir holds what tests/setup builds.
func OpenComposeRig(dir string) (ComposeRig, error) {
	r := ComposeRig{Dir: dir}
	if dir == "" {
		return r, fmt.Errorf("NANO_COMPOSE_RIG is not set: run the tests through tests/run (tests/setup builds the Compose rig)")
	}
	for _, f := range []string{"bin/docker-compose", "bin/caddy", "bin/prometheus", "bin/postgres_exporter", "bin/alertmanager", "bin/mailpit",
		"rootfs/base.tar", "rootfs/clickhouse.tar", "rootfs/postgres.tar"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return r, fmt.Errorf("the Compose rig has no %s (run tests/setup): %w", f, err)
		}
	}
	return r, nil
}

// ComposeBin is the docker-compose plugin.
func (r ComposeRig) ComposeBin() string { return r.bin("docker-compose") }

func (r ComposeRig) bin(name string) string    { return filepath.Join(r.Dir, "bin", name) }
func (r ComposeRig) rootfs(name string) string { return filepath.Join(r.Dir, "rootfs", name+".tar") }

const basePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Caddy is the caddy image: the binary with the official image's
// configuration (XDG directories /config and /data, the Caddyfile at
// /etc/caddy/Caddyfile, root).
func (r ComposeRig) Caddy(ref string) ImageSpec {
	return ImageSpec{Ref: ref, Rootfs: r.rootfs("base"),
		Files: []ImageFile{{Path: "usr/bin/caddy", Mode: 0o755, From: r.bin("caddy")}},
		Config: v1.Config{
			Env:          []string{basePath, "XDG_CONFIG_HOME=/config", "XDG_DATA_HOME=/data"},
			Cmd:          []string{"caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"},
			WorkingDir:   "/srv",
			ExposedPorts: ports("80/tcp", "443/tcp", "443/udp", "2019/tcp"),
		}}
}

// Prometheus is the prom/prometheus image: /bin/prometheus as nobody in
// /prometheus (nobody's, as in the official image), the official
// entrypoint and default flags.
func (r ComposeRig) Prometheus(ref string) ImageSpec {
	return ImageSpec{Ref: ref, Rootfs: r.rootfs("base"),
		Files: []ImageFile{{Path: "bin/prometheus", Mode: 0o755, From: r.bin("prometheus")},
			{Path: "etc/prometheus/prometheus.yml", Mode: 0o644, Data: []byte("global: {}\n")},
			{Path: "prometheus", Dir: true, Mode: 0o755, UID: 65534}},
		Config: v1.Config{
			Env:          []string{basePath},
			Entrypoint:   []string{"/bin/prometheus"},
			Cmd:          []string{"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"},
			User:         "65534:65534",
			WorkingDir:   "/prometheus",
			ExposedPorts: ports("9090/tcp"),
		}}
}

// PostgresExporter is the postgres-exporter image: the binary as nobody.
func (r ComposeRig) PostgresExporter(ref string) ImageSpec {
	return ImageSpec{Ref: ref, Rootfs: r.rootfs("base"),
		Files: []ImageFile{{Path: "bin/postgres_exporter", Mode: 0o755, From: r.bin("postgres_exporter")}},
		Config: v1.Config{
			Env:          []string{basePath},
			Entrypoint:   []string{"/bin/postgres_exporter"},
			User:         "65534:65534",
			ExposedPorts: ports("9187/tcp"),
		}}
}

// ClickHouse is the stand-in for clickhouse/clickhouse-server: Debian's
// server behind standins/clickhouse-entrypoint.sh (which says what it
// keeps of the official image's contract and what differs).
func (r ComposeRig) ClickHouse(ref string) ImageSpec {
	script, _ := standins.ReadFile("standins/clickhouse-entrypoint.sh")
	return ImageSpec{Ref: ref, Rootfs: r.rootfs("clickhouse"),
		Files: []ImageFile{{Path: "entrypoint.sh", Mode: 0o755, Data: script}},
		Config: v1.Config{
			Env:          []string{basePath},
			Entrypoint:   []string{"/entrypoint.sh"},
			ExposedPorts: ports("8123/tcp", "9000/tcp", "9009/tcp"),
		}}
}

// Postgres is the stand-in for postgres: Debian's PostgreSQL 15 behind
// standins/postgres-entrypoint.sh; like the official image it stops on
// SIGINT (a fast shutdown).
func (r ComposeRig) Postgres(ref string) ImageSpec {
	script, _ := standins.ReadFile("standins/postgres-entrypoint.sh")
	return ImageSpec{Ref: ref, Rootfs: r.rootfs("postgres"),
		Files: []ImageFile{{Path: "usr/local/bin/docker-entrypoint.sh", Mode: 0o755, Data: script}},
		Config: v1.Config{
			Env:          []string{"PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PGDATA=/var/lib/postgresql/data", "LANG=C.UTF-8"},
			Entrypoint:   []string{"docker-entrypoint.sh"},
			StopSignal:   "SIGINT",
			ExposedPorts: ports("5432/tcp"),
		}}
}

// S3RigImage is the rig's S3 server: versitygw (NANO_VERSITYGW, a static
// binary) as an image; its command (the rig's override) gives its keys and
// directories.
func S3RigImage(ref string) (ImageSpec, error) {
	bin := os.Getenv("NANO_VERSITYGW")
	if bin == "" {
		return ImageSpec{}, fmt.Errorf("NANO_VERSITYGW is not set: run the tests through tests/run, whose setup builds versitygw")
	}
	return ImageSpec{Ref: ref, Files: []ImageFile{{Path: "versitygw", Mode: 0o755, From: bin}},
		Config: v1.Config{Entrypoint: []string{"/versitygw"}, ExposedPorts: ports("7070/tcp")}}, nil
}

func ports(ps ...string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, p := range ps {
		m[p] = struct{}{}
	}
	return m
}

// EngineDir is the Docker engine's data root (images stay between runs).
func (r ComposeRig) EngineDir() string { return filepath.Join(r.Dir, "engine") }
