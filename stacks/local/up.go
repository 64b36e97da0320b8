package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/images/imageload"
	"github.com/nanosiem/nano/stacks/model/settings"
)

// Local is the local nano of one state directory.
type Local struct {
	// Dir holds the project's files (project/), its secrets and its images'
	// build (images/).
	Dir string
	// Checkout is the repository's root, whose services are built.
	Checkout string
	Out      io.Writer
	// ClickHouseNofile overrides ClickHouse's open-files limit (0: the
	// Hobby tier's).
	ClickHouseNofile int
}

// Result is what Up prints.
type Result struct {
	WebURL, AdminToken, CACert string
	IngestURL, IngestToken     string
}

// ImageRef is the name nano's image of service svc gets in the engine.
func ImageRef(svc string) string { return "nano-local/" + svc + ":" + settings.DefaultImageVersion }

func (l *Local) project() string { return filepath.Join(l.Dir, "project") }

// composeArgs are docker's arguments for the project (compose.yaml and
// the override, in the project directory, as the Hobby host's unit runs).
func (l *Local) composeArgs() []string {
	return []string{"compose", "--project-directory", l.project(), "-p", Project, "-f", filepath.Join(l.project(), "compose.yaml"), "-f", filepath.Join(l.project(), overrideFile)}
}

func (l *Local) compose(ctx context.Context, d *docker, args ...string) (string, error) {
	return d.run(ctx, nil, append(l.composeArgs(), args...)...)
}

// Up builds and loads nano's images, renders the project, checks its ports
// are free, starts it, waits until every container is healthy and the web
// UI answers over HTTPS, and prints how to reach it.
func (l *Local) Up(ctx context.Context) (*Result, error) {
	started := time.Now()
	d, err := findDocker(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, err
	}
	secrets, fresh, err := loadOrMakeSecrets(l.Dir)
	if err != nil {
		return nil, err
	}
	images, err := l.images(ctx, d)
	if err != nil {
		return nil, err
	}
	p, err := params(images)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.project(), 0o755); err != nil {
		return nil, err
	}
	published, err := render(l.project(), p, secrets, l.ClickHouseNofile)
	if err != nil {
		return nil, err
	}
	running, _ := l.compose(ctx, d, "ps", "--quiet", "--status", "running")
	if running == "" {
		if err := portsFree(published); err != nil {
			return nil, err
		}
	}
	if fresh {
		fmt.Fprintf(l.Out, "nano local: starting a new nano (project %s; files and secrets in %s)\n", Project, l.Dir)
	} else {
		fmt.Fprintf(l.Out, "nano local: starting nano (project %s) with the data it has\n", Project)
	}
	if err := d.stream(ctx, l.Out, append(l.composeArgs(), "up", "--detach", "--remove-orphans", "--wait", "--wait-timeout", "600")...); err != nil {
		ps, _ := l.compose(ctx, d, "ps", "--all")
		logs, _ := l.compose(ctx, d, "logs", "--no-color", "--tail", "20")
		return nil, fmt.Errorf("cannot start nano: %w\n%s\n%s", err, ps, logs)
	}
	ca, err := l.caddyCA(ctx, d)
	if err != nil {
		return nil, err
	}
	res := &Result{WebURL: "https://" + Host + "/", AdminToken: secrets.AdminToken, CACert: ca,
		IngestURL: fmt.Sprintf("https://%s:%d/v1/events", Host, contract.Ports.IngestHTTP), IngestToken: secrets.IngestToken}
	if err := waitWeb(ctx, res); err != nil {
		return nil, err
	}
	fmt.Fprintf(l.Out, `
nano is running on this machine (%s):
  Web UI:       %s
  Admin token:  %s
                (sign in with it; keep it secret: it is in %s)
  TLS:          Caddy's local CA for %s signs the certificate: trust %s, or accept the browser's warning
  Ingest:       curl --cacert %s -H "Authorization: Bearer %s" --data-binary '{"message":"hello"}' %s
  Stop:         go run . local stop   (keeps the data)
  Remove:       go run . local down   (deletes the containers and all their data)
`, time.Since(started).Round(time.Second), res.WebURL, res.AdminToken, filepath.Join(l.Dir, secretsFile), Host, ca, ca, res.IngestToken, res.IngestURL)
	return res, nil
}

// images builds nano's images from the checkout (services/images, as
// `make images` does) and loads them into the engine.
func (l *Local) images(ctx context.Context, d *docker) (settings.Images, error) {
	out := filepath.Join(l.Dir, "images")
	fmt.Fprintf(l.Out, "nano local: building nano's images from %s (api, search, ingest, web; the first build takes minutes)\n", absPath(l.Checkout))
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "run", "./services/images", "-out", out, "-version", settings.DefaultImageVersion)
	cmd.Dir, cmd.Stdout, cmd.Stderr = l.Checkout, l.Out, l.Out
	if err := cmd.Run(); err != nil {
		return settings.Images{}, fmt.Errorf("cannot build nano's images (go run ./services/images in %s): %w", absPath(l.Checkout), err)
	}
	load := func(ctx context.Context, stdin []byte, args ...string) (string, error) {
		return d.run(ctx, stdin, args...)
	}
	imgs := settings.Images{API: ImageRef("api"), Search: ImageRef("search"), Ingest: ImageRef("ingest"), Web: ImageRef("web")}
	for svc, ref := range map[string]string{"api": imgs.API, "search": imgs.Search, "ingest": imgs.Ingest, "web": imgs.Web} {
		img, err := imageload.LayoutImage(out, svc+":"+settings.DefaultImageVersion)
		if err != nil {
			return settings.Images{}, err
		}
		if err := imageload.Load(ctx, load, img, ref); err != nil {
			return settings.Images{}, fmt.Errorf("cannot load %s into the Docker engine: %w", ref, err)
		}
	}
	fmt.Fprintf(l.Out, "nano local: images built and loaded in %s\n", time.Since(start).Round(time.Second))
	return imgs, nil
}

// portsFree says which of the ports the project publishes (on 127.0.0.1)
// something else holds. A port this user may not bind (below 1024 without
// root) is left to the engine, which binds it as root.
func portsFree(ports []Published) error {
	var taken []string
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)))
		if err == nil {
			ln.Close()
			continue
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			taken = append(taken, fmt.Sprintf("%d (%s)", p.Port, p.Service))
		}
	}
	if len(taken) > 0 {
		return fmt.Errorf("cannot start nano: port %s is taken on this machine: stop what listens there (ss -ltnp or lsof -i shows it) and run this again", strings.Join(taken, ", "))
	}
	return nil
}

// caddyCA copies the root of Caddy's internal CA out of its volume into
// the state directory (Caddy writes it when it issues its first
// certificate, a moment after it starts).
func (l *Local) caddyCA(ctx context.Context, d *docker) (string, error) {
	dst := filepath.Join(l.Dir, "caddy-root.crt")
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var out string
		if out, err = l.compose(ctx, d, "exec", "-T", "caddy", "cat", "/data/caddy/pki/authorities/local/root.crt"); err == nil && strings.Contains(out, "BEGIN CERTIFICATE") {
			return dst, os.WriteFile(dst, []byte(out+"\n"), 0o644)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("Caddy did not write its root certificate: %v", err)
}

// waitWeb waits until the web UI answers over HTTPS on 127.0.0.1:443 with
// a certificate of Caddy's CA for localhost.
func waitWeb(ctx context.Context, r *Result) error {
	pem, err := os.ReadFile(r.CACert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no certificate", r.CACert)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	var last error
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", r.WebURL, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("nano started, but its web UI does not answer at %s: %v", r.WebURL, last)
}

// Stop stops the project's containers; its volumes (the data) stay.
func (l *Local) Stop(ctx context.Context) error {
	d, err := findDocker(ctx)
	if err != nil {
		return err
	}
	if err := l.needProject(); err != nil {
		return err
	}
	fmt.Fprintf(l.Out, "nano local: stopping %s (its data stays; `go run . local up` starts it again)\n", Project)
	if _, err := l.compose(ctx, d, "stop"); err != nil {
		return err
	}
	fmt.Fprintln(l.Out, "nano local: stopped")
	return nil
}

// Down removes the project: containers, network, volumes and the state
// directory (the secrets), saying so first.
func (l *Local) Down(ctx context.Context) error {
	d, err := findDocker(ctx)
	if err != nil {
		return err
	}
	if err := l.needProject(); err != nil {
		return err
	}
	fmt.Fprintf(l.Out, "nano local: removing %s: its containers, its network and its volumes (all its data: events, metadata, metrics, Caddy's CA), and %s\n", Project, l.Dir)
	if _, err := l.compose(ctx, d, "down", "--volumes", "--remove-orphans"); err != nil {
		return err
	}
	if err := os.RemoveAll(l.Dir); err != nil {
		return err
	}
	fmt.Fprintln(l.Out, "nano local: removed")
	return nil
}

func (l *Local) needProject() error {
	if _, err := os.Stat(filepath.Join(l.project(), overrideFile)); err != nil {
		return fmt.Errorf("no local nano in %s (`go run . local up` starts one; -dir names another directory)", l.Dir)
	}
	return nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
