package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// docker is the docker CLI on PATH, talking to the engine DOCKER_HOST (or
// the CLI's context) names.
type docker struct{ bin string }

// findDocker checks that Docker is installed, its engine answers and it
// has Compose v2, saying what to do when not.
func findDocker(ctx context.Context) (*docker, error) {
	bin, err := exec.LookPath("docker")
	if err != nil {
		return nil, errors.New("Docker is not installed here (no docker command on PATH): install Docker Engine with its Compose plugin " +
			"(https://docs.docker.com/engine/install/) or Docker Desktop, then run this again")
	}
	d := &docker{bin: bin}
	if _, err := d.run(ctx, nil, "version", "--format", "{{.Server.Version}}"); err != nil {
		hint := "start it (e.g. sudo systemctl start docker, or open Docker Desktop)"
		if strings.Contains(err.Error(), "permission denied") {
			hint = "you may not use its socket: add yourself to the docker group (sudo usermod -aG docker $USER, then log in again)"
		}
		return nil, fmt.Errorf("cannot reach the Docker engine: %s; %w", hint, err)
	}
	if _, err := d.run(ctx, nil, "compose", "version", "--short"); err != nil {
		return nil, fmt.Errorf("Docker Compose v2 (docker compose) is missing: install Docker's docker-compose-plugin package (Compose 2.24 or newer): %w", err)
	}
	return d, nil
}

// run runs the CLI with args (stdin: nil for none) and returns its trimmed
// output; an error carries the CLI's own message.
func (d *docker) run(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.bin, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		return out.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(firstArgs(args), " "), err, msg)
	}
	return strings.TrimSpace(out.String()), nil
}

// stream runs the CLI with args, its output on w (compose's progress).
func (d *docker) stream(ctx context.Context, w io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker %s: %w", strings.Join(firstArgs(args), " "), err)
	}
	return nil
}

func firstArgs(args []string) []string {
	if len(args) > 6 {
		return append(args[:6:6], "...")
	}
	return args
}
