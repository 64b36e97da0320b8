package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Docker is a Docker engine the harness started: Debian's dockerd (package
// docker.io, installed by tests/setup) as root, on its own socket, with its
// images and containers under the cache directory (so images built once
// are there the next run) and every published port on 127.0.0.1 unless a
// port names another address (--ip). Its client is Debian's docker CLI with
// Docker Compose v2 (built by tests/setup) as its compose plugin.
type Docker struct {
	// Host is the DOCKER_HOST of the engine.
	Host string
	// config is the client's DOCKER_CONFIG (holds cli-plugins/docker-compose).
	config string
	srv    *server
	// args are dockerd's command line (Reboot starts it again).
	args []string
}

// dockerClient is Debian's docker CLI (the docker.io package).
const dockerClient = "/usr/bin/docker"

// StartDocker starts the engine. composeBin is the docker-compose plugin
// binary (NANO_COMPOSE_BIN); dataRoot keeps the engine's state between runs.
// Containers a killed run left behind are removed: every container of this
// engine is the harness's.
func StartDocker(composeBin, dataRoot string) (*Docker, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the Docker rig needs root: dockerd runs as root")
	}
	for _, bin := range []string{"/usr/sbin/dockerd", dockerClient, composeBin} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("the Docker rig needs %s (run tests/setup): %w", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "nano-docker-")
	if err != nil {
		return nil, err
	}
	d := &Docker{Host: "unix://" + filepath.Join(dir, "docker.sock"), config: filepath.Join(dir, "client")}
	plugins := filepath.Join(d.config, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink(composeBin, filepath.Join(plugins, "docker-compose")); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataRoot, 0o711); err != nil {
		return nil, err
	}
	d.args = []string{"/usr/sbin/dockerd",
		"--host", d.Host, "--data-root", dataRoot, "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "--ip", "127.0.0.1",
		// The containers' own network, away from the usual 172.17/16.
		"--bip", "10.213.0.1/24", "--default-address-pool", "base=10.214.0.0/16,size=24",
		"--log-driver", "local"}
	if err := d.startEngine(dir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if ids, err := d.Run(ctx, "ps", "-aq"); err == nil && ids != "" {
		if _, err := d.Run(ctx, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...); err != nil {
			d.Stop()
			return nil, err
		}
	}
	return d, nil
}

// startEngine starts dockerd (d.args) with its state in dir and waits
// until it answers.
func (d *Docker) startEngine(dir string) error {
	cmd := exec.Command(d.args[0], d.args[1:]...)
	// dockerd finds containerd, runc and docker-proxy on PATH.
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	d.srv = &server{name: "dockerd", cmd: cmd, dir: dir}
	if err := d.srv.start(); err != nil {
		return err
	}
	if err := d.srv.waitReady(func(ctx context.Context) error {
		_, err := d.Run(ctx, "version", "--format", "{{.Server.Version}}")
		return err
	}); err != nil {
		d.Stop()
		return err
	}
	return nil
}

// Reboot does to the engine what a host's reboot does: it stops (its
// containers stop with it), boot runs (what a host starts before
// docker.service: the rig does what those units do), and it starts again
// on the same state, restarting the containers whose restart policy says
// so before anything else runs, as dockerd does at a boot.
func (d *Docker) Reboot(boot func() error) error {
	dir := d.srv.dir
	d.srv.dir = "" // keep the socket and exec directory
	d.srv.stop()
	if err := boot(); err != nil {
		d.srv.dir = dir
		return err
	}
	return d.startEngine(dir)
}

// Run runs the docker client with args and returns its trimmed output.
func (d *Docker) Run(ctx context.Context, args ...string) (string, error) {
	return d.RunIn(ctx, "", nil, args...)
}

// RunIn runs the docker client in dir with stdin (nil: none).
func (d *Docker) RunIn(ctx context.Context, dir string, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, dockerClient, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host, "DOCKER_CONFIG="+d.config, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// Logs is the engine's own output.
func (d *Docker) Logs() string { return d.srv.log.String() }

// Stop stops the engine (its containers stop with it) and removes its
// socket directory; the data root stays.
func (d *Docker) Stop() {
	if d.srv != nil {
		d.srv.stop()
	}
}

// ClientEnv is the environment a docker client of this engine needs
// (DOCKER_HOST, and DOCKER_CONFIG with the compose plugin), for a program
// that runs the docker CLI itself.
func (d *Docker) ClientEnv() []string {
	return []string{"DOCKER_HOST=" + d.Host, "DOCKER_CONFIG=" + d.config}
}
