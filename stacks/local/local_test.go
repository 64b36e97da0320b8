package local

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nanosiem/nano/components/composefiles"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/tests/harness"
)

var testImages = settings.Images{API: ImageRef("api"), Search: ImageRef("search"), Ingest: ImageRef("ingest"), Web: ImageRef("web")}

// renderTest renders the project into a new directory with new secrets.
func renderTest(t *testing.T, nofile int) (string, composefiles.Secrets, []Published) {
	t.Helper()
	state := t.TempDir()
	s, fresh, err := loadOrMakeSecrets(state)
	if err != nil || !fresh {
		t.Fatalf("secrets: %v (fresh %v)", err, fresh)
	}
	p, err := params(testImages)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(state, "project")
	published, err := render(dir, p, s, nofile)
	if err != nil {
		t.Fatal(err)
	}
	return dir, s, published
}

// load merges compose.yaml and the override with the compose-spec
// reference loader, as docker compose does.
func load(t *testing.T, dir string) *types.Project {
	t.Helper()
	env, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	vars, err := dotenv.UnmarshalBytesWithLookup(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	var files []types.ConfigFile
	for _, f := range []string{"compose.yaml", overrideFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, types.ConfigFile{Filename: filepath.Join(dir, f), Content: b})
	}
	proj, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{WorkingDir: dir, ConfigFiles: files, Environment: vars},
		func(o *loader.Options) { o.SetProjectName(Project, true) })
	if err != nil {
		t.Fatalf("compose-spec loader rejects the local project: %v", err)
	}
	return proj
}

// The local project is the Hobby host's (the same services, images of
// the checkout's build, files the builders render), with only the local
// differences: every data directory is a named volume, no mount reaches
// the host's /mnt/nano-data, and every published port is bound to
// 127.0.0.1; the web, api and ingest ports a user reaches are among them.
func TestLocalProjectIsTheHobbyHostsOnLoopback(t *testing.T) {
	dir, s, published := renderTest(t, 0)
	proj := load(t, dir)
	want := []string{"alertmanager", "api", "caddy", "clickhouse", "ingest", "postgres", "postgres-exporter", "postgres-roles", "prometheus", "search", "web"}
	if got := proj.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	named := map[string]bool{}
	for _, svc := range proj.Services {
		for _, v := range svc.Volumes {
			if strings.HasPrefix(v.Source, composefiles.DataDir) {
				t.Errorf("%s mounts the host's %s", svc.Name, v.Source)
			}
			if v.Type == types.VolumeTypeVolume {
				named[v.Source] = true
			}
		}
		for _, p := range svc.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s:%s beyond loopback (%q)", svc.Name, p.Published, strconv.Itoa(int(p.Target)), p.HostIP)
			}
		}
	}
	for _, v := range []string{"clickhouse", "postgres", "prometheus", "alertmanager", "caddy"} {
		if !named[v] || proj.Volumes[v].Name != Project+"_"+v {
			t.Errorf("no named volume %s (%v; %+v)", v, named, proj.Volumes[v])
		}
	}
	ports := map[int]string{}
	for _, p := range published {
		ports[p.Port] = p.Service
	}
	for port, svc := range map[int]string{443: "caddy", 80: "caddy", contract.Ports.IngestHTTP: "caddy", contract.Ports.IngestNative: "ingest"} {
		if ports[port] != svc {
			t.Errorf("port %d is published by %q, want %s (%v)", port, ports[port], svc, published)
		}
	}
	if api := proj.Services["api"]; api.Image != ImageRef("api") || api.Environment[contract.APIAdminToken] == nil || *api.Environment[contract.APIAdminToken] != s.AdminToken {
		t.Errorf("the api runs %s with admin token %v", api.Image, api.Environment[contract.APIAdminToken])
	}
	if ch := proj.Services["clickhouse"]; ch.Ulimits["nofile"].Soft != 262144 {
		t.Errorf("ClickHouse's open files: %+v, want the Hobby tier's 262144", ch.Ulimits["nofile"])
	}
	caddy, err := os.ReadFile(filepath.Join(dir, "Caddyfile"))
	if err != nil || !strings.Contains(string(caddy), "https://localhost {") || !strings.Contains(string(caddy), "tls internal") {
		t.Errorf("the Caddyfile does not serve localhost from Caddy's CA:\n%s", caddy)
	}
	// The services' secret files are theirs, as on a host (root), or
	// readable by their uids (another user).
	key := filepath.Join(dir, "tls", "server.key")
	st, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65532 || st.Mode().Perm() != 0o600 {
			t.Errorf("tls/server.key: uid %d mode %v, want ingest's 65532 and 0600", uid, st.Mode().Perm())
		}
	} else if st.Mode().Perm()&0o004 == 0 {
		t.Errorf("tls/server.key: mode %v is not readable by ingest's uid", st.Mode().Perm())
	}
}

// -clickhouse-nofile lowers ClickHouse's open-files limit, nothing else.
func TestLocalClickHouseNofile(t *testing.T) {
	dir, _, _ := renderTest(t, 20000)
	if ch := load(t, dir).Services["clickhouse"]; ch.Ulimits["nofile"].Soft != 20000 || ch.Ulimits["nofile"].Hard != 20000 {
		t.Errorf("ClickHouse's open files: %+v", ch.Ulimits["nofile"])
	}
}

// The secrets are made once and kept: a second up renders the same
// passwords the databases were created with; a second render over the
// first (read-only files, other uids') works.
func TestLocalSecretsKept(t *testing.T) {
	state := t.TempDir()
	a, fresh, err := loadOrMakeSecrets(state)
	if err != nil || !fresh {
		t.Fatal(err, fresh)
	}
	b, fresh, err := loadOrMakeSecrets(state)
	if err != nil || fresh || a != b {
		t.Fatalf("the second load: fresh %v, same %v, %v", fresh, a == b, err)
	}
	if st, err := os.Stat(filepath.Join(state, secretsFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the secrets file: %v %v", st.Mode(), err)
	}
	if _, err := composefiles.Env(a); err != nil {
		t.Errorf("the generated secrets do not make an .env: %v", err)
	}
	p, _ := params(testImages)
	dir := filepath.Join(state, "project")
	for i := 0; i < 2; i++ {
		if _, err := render(dir, p, a, 0); err != nil {
			t.Fatalf("render %d: %v", i, err)
		}
	}
}

// A port something else listens on is named, with what needs it.
func TestLocalPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	// Reserved, so no other test process's server takes it meanwhile.
	freePort, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	err = portsFree([]Published{{"caddy", freePort}, {"ingest", port}})
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)+" (ingest) is taken") || strings.Contains(err.Error(), strconv.Itoa(freePort)) {
		t.Errorf("a taken port: %v", err)
	}
	if err := portsFree([]Published{{"caddy", freePort}}); err != nil {
		t.Errorf("a free port: %v", err)
	}
}

// fakeDocker puts a docker on PATH that answers `version` (engine) and
// `compose version` as told.
func fakeDocker(t *testing.T, engine, compose bool) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\nif [ \"$1\" = version ]; then " + answer(engine, "24.0.7", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?") +
		"; fi\nif [ \"$1\" = compose ]; then " + answer(compose, "2.29.7", "docker: 'compose' is not a docker command.") + "; fi\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

func answer(ok bool, out, fail string) string {
	if ok {
		return "echo " + out + "; exit 0"
	}
	return "echo \"" + fail + "\" >&2; exit 1"
}

// Without Docker, without its engine, or without Compose v2, up, stop and
// down say which and what to do, before anything is built or written.
func TestLocalNeedsDocker(t *testing.T) {
	for _, c := range []struct {
		name            string
		path            bool
		engine, compose bool
		want            string
	}{
		{"no docker", false, false, false, "Docker is not installed here"},
		{"engine down", true, false, true, "cannot reach the Docker engine: start it"},
		{"no compose", true, true, false, "Docker Compose v2 (docker compose) is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.path {
				fakeDocker(t, c.engine, c.compose)
			} else {
				t.Setenv("PATH", t.TempDir())
			}
			state := filepath.Join(t.TempDir(), "state")
			for _, verb := range []string{"up", "stop", "down"} {
				var out bytes.Buffer
				err := Command(&out, []string{verb, "-dir", state})
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("local %s: %v, want %q", verb, err, c.want)
				}
			}
			if _, err := os.Stat(state); err == nil {
				t.Errorf("%s was made", state)
			}
		})
	}
	fakeDocker(t, true, true)
	if err := Command(&bytes.Buffer{}, []string{"stop", "-dir", t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no local nano in") {
		t.Errorf("stop without a project: %v", err)
	}
	if err := Command(&bytes.Buffer{}, []string{"start"}); err == nil || !strings.Contains(err.Error(), `unknown command "start"`) {
		t.Errorf("an unknown verb: %v", err)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	slices.Sort(c)
	return c
}
