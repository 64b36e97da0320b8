package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The alerting tests' real parts, built by tests/setup into the Compose
// rig's bin directory (NANO_COMPOSE_RIG): Prometheus's Alertmanager and
// Mailpit, an SMTP server whose API lists what it received.

func rigBin(name string) (string, error) {
	dir := os.Getenv("NANO_COMPOSE_RIG")
	if dir == "" {
		return "", fmt.Errorf("NANO_COMPOSE_RIG is not set: run the tests through tests/run (tests/setup builds %s)", name)
	}
	bin := filepath.Join(dir, "bin", name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is missing (run tests/setup): %w", name, err)
	}
	return bin, nil
}

// Mailpit is a running Mailpit: SMTPAddr takes mail (no authentication,
// no TLS), API lists it.
type Mailpit struct {
	server
	SMTPAddr, API string
}

// StartMailpit starts Mailpit on free loopback ports with its database in
// a temporary directory.
func StartMailpit() (*Mailpit, error) {
	bin, err := rigBin("mailpit")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nano-mailpit-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m := &Mailpit{server: server{name: "mailpit", dir: dir},
		SMTPAddr: "127.0.0.1:" + strconv.Itoa(ports[0]), API: "http://127.0.0.1:" + strconv.Itoa(ports[1])}
	m.cmd = exec.Command(bin, "--smtp", m.SMTPAddr, "--listen", strings.TrimPrefix(m.API, "http://"),
		"--database", filepath.Join(dir, "mailpit.db"), "--disable-version-check")
	if err := m.start(); err != nil {
		m.stop()
		return nil, err
	}
	if err := m.waitReady(func(ctx context.Context) error { return getJSON(ctx, m.API+"/api/v1/info", nil) }); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// Stop stops Mailpit and removes its database.
func (m *Mailpit) Stop() { m.stop() }

// Mail is one message Mailpit received.
type Mail struct {
	ID      string `json:"ID"`
	Subject string `json:"Subject"`
	To      []struct {
		Address string `json:"Address"`
	} `json:"To"`
	Created time.Time `json:"Created"`
	// Text and HTML are the bodies (Message fills them).
	Text string `json:"Text"`
	HTML string `json:"HTML"`
}

// Messages lists what Mailpit received, the newest first (at most 500).
func (m *Mailpit) Messages(ctx context.Context) ([]Mail, error) {
	var out struct {
		Messages []Mail `json:"messages"`
	}
	err := getJSON(ctx, m.API+"/api/v1/messages?limit=500", &out)
	return out.Messages, err
}

// Message reads one message with its bodies.
func (m *Mailpit) Message(ctx context.Context, id string) (Mail, error) {
	var out Mail
	err := getJSON(ctx, m.API+"/api/v1/message/"+id, &out)
	return out, err
}

// Alertmanager is a running Alertmanager: URL is its API's base
// (http://127.0.0.1:port), Mesh its cluster listener ("" when alone).
type Alertmanager struct {
	server
	URL, Mesh  string
	ConfigFile string
}

// AlertmanagerOptions: Peers are other members' Mesh addresses; Cluster
// turns the gossip listener on (a member of a cluster); PeerTimeout is how
// long a member waits for the one before it to notify (Alertmanager's
// default 15s).
type AlertmanagerOptions struct {
	Cluster     bool
	Peers       []string
	PeerTimeout time.Duration
}

// StartAlertmanager starts Alertmanager with config (its YAML) and its
// storage in a temporary directory.
func StartAlertmanager(config string, o AlertmanagerOptions) (*Alertmanager, error) {
	bin, err := rigBin("alertmanager")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nano-alertmanager-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	a := &Alertmanager{server: server{name: "alertmanager", dir: dir}, URL: "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		ConfigFile: filepath.Join(dir, "alertmanager.yml")}
	if err := os.WriteFile(a.ConfigFile, []byte(config), 0o600); err != nil {
		a.stop()
		return nil, err
	}
	args := []string{"--config.file=" + a.ConfigFile, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + strings.TrimPrefix(a.URL, "http://"), "--log.level=debug"}
	if o.Cluster {
		a.Mesh = "127.0.0.1:" + strconv.Itoa(ports[1])
		args = append(args, "--cluster.listen-address="+a.Mesh, "--cluster.advertise-address="+a.Mesh)
		for _, p := range o.Peers {
			args = append(args, "--cluster.peer="+p)
		}
		if o.PeerTimeout > 0 {
			args = append(args, "--cluster.peer-timeout="+o.PeerTimeout.String())
		}
	} else {
		args = append(args, "--cluster.listen-address=")
	}
	a.cmd = exec.Command(bin, args...)
	if err := a.start(); err != nil {
		a.stop()
		return nil, err
	}
	if err := a.waitReady(func(ctx context.Context) error { return getJSON(ctx, a.URL+"/-/ready", nil) }); err != nil {
		a.stop()
		return nil, err
	}
	return a, nil
}

// Stop stops Alertmanager and removes its storage.
func (a *Alertmanager) Stop() { a.stop() }

// Log is Alertmanager's output so far.
func (a *Alertmanager) Log() string { return a.log.String() }

// getJSON GETs url and decodes its JSON answer into out (nil: any 200).
func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, body)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// Alertmanager is the prom/alertmanager image: /bin/alertmanager as
// nobody in /alertmanager, the official entrypoint and default flags.
func (r ComposeRig) Alertmanager(ref string) ImageSpec {
	return ImageSpec{Ref: ref, Rootfs: r.rootfs("base"),
		Files: []ImageFile{{Path: "bin/alertmanager", Mode: 0o755, From: r.bin("alertmanager")},
			{Path: "etc/alertmanager/alertmanager.yml", Mode: 0o644, Data: []byte("route: {receiver: x}\nreceivers: [{name: x}]\n")},
			// nobody's, as in the official image (a named volume there starts so).
			{Path: "alertmanager", Dir: true, Mode: 0o755, UID: 65534}},
		Config: v1.Config{
			Env:          []string{basePath},
			Entrypoint:   []string{"/bin/alertmanager"},
			Cmd:          []string{"--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"},
			User:         "65534:65534",
			WorkingDir:   "/alertmanager",
			ExposedPorts: ports("9093/tcp"),
		}}
}

// MailpitRigImage is the rig's SMTP server as an image (a service of the
// rig's override file, standing in for the operator's mail relay).
func (r ComposeRig) Mailpit(ref string) ImageSpec {
	return ImageSpec{Ref: ref, Rootfs: r.rootfs("base"),
		Files: []ImageFile{{Path: "bin/mailpit", Mode: 0o755, From: r.bin("mailpit")}},
		Config: v1.Config{
			Env:          []string{basePath},
			Entrypoint:   []string{"/bin/mailpit"},
			Cmd:          []string{"--smtp", "0.0.0.0:1025", "--listen", "0.0.0.0:8025", "--disable-version-check", "--database", "/tmp/mailpit.db"},
			User:         "65534:65534",
			ExposedPorts: ports("1025/tcp", "8025/tcp"),
		}}
}
