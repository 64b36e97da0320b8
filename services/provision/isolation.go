package provision

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Isolation modes: how a deployment's operations are kept from the
// endpoint's own secrets and from every other deployment's.
const (
	// IsolationUID runs each deployment's Pulumi CLI, and so its provider
	// plugins and whatever they start, as a uid of its own (never reused),
	// in a workspace, state backend, PULUMI_HOME, HOME and TMPDIR that uid
	// owns (0700), with a secrets passphrase derived for the deployment
	// and an environment reduced to what its providers need. The data
	// directory is 0711 (no listing) and everything of the server's in it
	// 0600/0700. Needs root (CAP_SETUID, CAP_SETGID, CAP_CHOWN).
	IsolationUID = "uid"
	// IsolationNone runs operations as the server's own user with one
	// state backend and one passphrase (a single-customer machine).
	IsolationNone = "none"
)

// UIDRange is where the deployments' uids come from: First is the first
// deployment's, each later one gets the next; a uid is never reused, even
// after its deployment is destroyed (files it left behind stay its own).
type UIDRange struct{ First, Count uint32 }

// DefaultUIDs is far above the uids of people, services and the
// subordinate ranges of user namespaces.
var DefaultUIDs = UIDRange{First: 1_900_000_000, Count: 100_000_000}

// IsolationError refuses an operation the deployment's isolation does not
// allow here.
type IsolationError struct{ Reason string }

func (e *IsolationError) Error() string { return e.Reason }

// isolationProblem says why a deployment's operations cannot run on this
// endpoint (nil: they can).
func (m *Manager) isolationProblem(d *Deployment) error {
	switch {
	case d.Isolation == IsolationUID && os.Geteuid() != 0:
		return &IsolationError{Reason: fmt.Sprintf("deployment %q runs its operations under a uid of its own (%d), which needs the endpoint to run as root", d.Name, d.UID)}
	case d.Isolation != IsolationUID && m.cfg.Isolation == IsolationUID:
		return &IsolationError{Reason: fmt.Sprintf("deployment %q was created without per-deployment isolation: its stack is in the shared state backend "+
			"under the master passphrase, and this endpoint runs every operation isolated (--isolation uid). Operate on it with an endpoint "+
			"started with --isolation none (destroy it, or upgrade it into a new deployment, which is created isolated)", d.Name)}
	}
	return nil
}

// layout is where a deployment's operations live and who they run as.
type layout struct {
	isolated bool
	uid      uint32
	// dir is the workspace (Pulumi.yaml, stacks/); home is PULUMI_HOME
	// (and HOME), tmp TMPDIR, backend the state backend's URL.
	dir, home, tmp, backend string
	// backendDir is the file backend's directory ("" for others).
	backendDir string
}

// Directories inside an isolated workspace.
const (
	stateDirName = ".state"
	homeDirName  = ".home"
	tmpDirName   = ".tmp"
)

func (m *Manager) layoutOf(d *Deployment) layout {
	dir := m.workspaceDir(d.Name)
	l := layout{dir: dir, home: filepath.Join(m.cfg.DataDir, "pulumi-home"), backend: m.cfg.BackendURL}
	if d.Isolation == IsolationUID {
		l.isolated, l.uid = true, d.UID
		l.home, l.tmp = filepath.Join(dir, homeDirName), filepath.Join(dir, tmpDirName)
		switch p, ok := strings.CutPrefix(m.cfg.BackendURL, "file://"); {
		case m.defaultBackend:
			l.backend = "file://" + filepath.Join(dir, stateDirName)
		case ok:
			// Each deployment's stack in a directory of its own.
			l.backend = "file://" + filepath.Join(p, d.Name)
		}
	}
	l.backendDir, _ = strings.CutPrefix(l.backend, "file://")
	if l.backendDir == l.backend {
		l.backendDir = ""
	}
	return l
}

// prepareDirs creates an isolated deployment's directories, owned by its
// uid (0700), and returns its workspace opened as a root every later file
// operation of the server stays inside: the uid may have replaced any
// entry with a symbolic link, which must not lead the server (root)
// elsewhere.
func (m *Manager) prepareDirs(l layout) (*os.Root, error) {
	if err := mkdirOwned(l.dir, l); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, err
	}
	if !l.isolated {
		return root, nil
	}
	for _, d := range []string{homeDirName, tmpDirName} {
		if err := mkdirIn(root, d, l); err != nil {
			root.Close()
			return nil, err
		}
	}
	if l.backendDir != "" && !strings.HasPrefix(l.backendDir, l.dir+string(filepath.Separator)) {
		// A configured file backend: its directory (the server's) is only
		// traversed by the deployments' uids, each into its own.
		if err := os.MkdirAll(filepath.Dir(l.backendDir), 0o711); err != nil {
			root.Close()
			return nil, fmt.Errorf("backend: %w", err)
		}
		if err := mkdirOwned(l.backendDir, l); err != nil {
			root.Close()
			return nil, fmt.Errorf("backend: %w", err)
		}
	} else if l.backendDir != "" {
		if err := mkdirIn(root, stateDirName, l); err != nil {
			root.Close()
			return nil, err
		}
	}
	return root, nil
}

// mkdirOwned creates dir (its parent is the server's) 0700 for l's uid.
func mkdirOwned(dir string, l layout) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if !l.isolated {
		return nil
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return os.Lchown(dir, int(l.uid), int(l.uid))
}

// mkdirIn creates a directory inside a workspace, owned by its uid.
func mkdirIn(root *os.Root, name string, l layout) error {
	if err := root.MkdirAll(name, 0o700); err != nil {
		return err
	}
	if l.isolated {
		return root.Lchown(name, int(l.uid), int(l.uid))
	}
	return nil
}

// writeIn writes a file inside a workspace (0600, owned by its uid).
func writeIn(root *os.Root, name string, b []byte, l layout) error {
	if dir := filepath.Dir(name); dir != "." {
		if err := mkdirIn(root, dir, l); err != nil {
			return err
		}
	}
	f, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if l.isolated {
		if err := f.Chown(int(l.uid), int(l.uid)); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// derivedPassphrase is a deployment's secrets passphrase: an HMAC of its
// name under the master passphrase. One deployment's passphrase (which its
// operations hold) decrypts its own stack only.
func derivedPassphrase(master []byte, name string) string {
	mac := hmac.New(sha256.New, bytes.TrimSpace(master))
	mac.Write([]byte("nano provisioning: the secrets passphrase of deployment " + name))
	return hex.EncodeToString(mac.Sum(nil))
}

// operationEnvNames are the variables of the server's environment an
// operation's CLI gets (its workspace's own are added): the locale, CA
// bundles and proxies, and the cloud credentials and settings its providers
// and a cloud state backend read (a BYOC deployment's operations get its
// own credentials in their place). Everything else, the endpoint's token,
// store URL and passphrase file included, is withheld.
var operationEnvNames = []string{
	"PATH", "LANG", "LANGUAGE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"HCLOUD_TOKEN", "CIVO_TOKEN", "VULTR_API_KEY",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_SDK_LOAD_CONFIG",
	"GOOGLE_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT",
	"GOOGLE_REGION", "GOOGLE_ZONE", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "CLOUDSDK_CORE_PROJECT",
	"PULUMI_ACCESS_TOKEN", "PULUMI_API", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
}

// operationEnv filters the server's environment to operationEnvNames and
// the LC_* locale variables.
func operationEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LC_") || containsString(operationEnvNames, k) {
			out = append(out, kv)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// opCommand is the Pulumi CLI as a deployment's operations run it: with
// the environment operationEnv leaves plus the workspace's, and, isolated,
// as the deployment's uid with its own HOME, TMPDIR and PULUMI_HOME. It
// replaces the Automation API's own command (auto.Pulumi).
type opCommand struct {
	version semver.Version
	path    string
	l       layout
}

func (m *Manager) command(l layout) (auto.PulumiCommand, error) {
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: m.cfg.PulumiRoot, SkipVersionCheck: true})
	if err != nil {
		return nil, fmt.Errorf("cannot find the Pulumi CLI: %w", err)
	}
	path := "pulumi"
	if m.cfg.PulumiRoot != "" {
		path = filepath.Join(m.cfg.PulumiRoot, "bin", "pulumi")
	} else if path, err = exec.LookPath("pulumi"); err != nil {
		return nil, fmt.Errorf("cannot find the Pulumi CLI: %w", err)
	}
	return &opCommand{version: cli.Version(), path: path, l: l}, nil
}

func (c *opCommand) Version() semver.Version { return c.version }

// Run runs the CLI as auto's own command does (non-interactive, its
// directory first on PATH, interrupted on cancel), with opCommand's
// environment and user. Files the Automation API made for the CLI in the
// server's temporary directory (the event log it tails, a state to
// import) are handed to the deployment's uid first, and nothing else of
// the server's.
func (c *opCommand) Run(ctx context.Context, workdir string, stdin io.Reader, additionalOutput, additionalErrorOutput []io.Writer,
	additionalEnv []string, args ...string) (string, string, int, error) {
	if !containsString(args, "--non-interactive") {
		// Before a "--", after which every word is an argument.
		i := len(args)
		for j, a := range args {
			if a == "--" {
				i = j
				break
			}
		}
		args = append(args[:i:i], append([]string{"--non-interactive"}, args[i:]...)...)
	}
	if c.l.isolated {
		if err := c.handOver(args); err != nil {
			return "", "", -2, err
		}
	}
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Dir = workdir
	env := append(operationEnv(os.Environ()), additionalEnv...)
	env = append(env, "PULUMI_AUTOMATION_API=true")
	if c.l.isolated {
		env = append(env, "HOME="+c.l.home, "TMPDIR="+c.l.tmp, "USER=nano-"+fmt.Sprint(c.l.uid), "LOGNAME=nano-"+fmt.Sprint(c.l.uid))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.l.uid, Gid: c.l.uid, Groups: []uint32{}}}
	}
	cmd.Env = withPathFirst(env, filepath.Dir(c.path))
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(append(additionalOutput, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(additionalErrorOutput, &stderr)...)
	cmd.Stdin = stdin
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			_ = cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 10 * time.Second
	code := -2
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err == nil {
		code = 0
	}
	if err != nil && c.l.isolated && strings.Contains(stderr.String(), "unknown userid") {
		err = fmt.Errorf("%w: the Pulumi CLI %s looks its user up through the C library (a cgo build), and the deployment's uid %d has no "+
			"passwd entry: use a CLI built without cgo (Pulumi's releases are) or with the osusergo tag (nano's build is), which takes its user from "+
			"$USER and $HOME, or give the --operation-uids entries in the system's user database", err, c.path, c.l.uid)
	}
	return stdout.String(), stderr.String(), code, err
}

// handOver gives the deployment's uid the files named by --event-log (the
// engine's event log, which the Automation API of a CLI up to v3.205 tails
// (later ones stream it to a gRPC server instead): created here, owned
// by the uid, in the API's directory (the server's, which no one else could
// write) made traversable but not writable, so the uid cannot swap it for a
// link to a file of the server's) and by
// stack import's --file.
func (c *opCommand) handOver(args []string) error {
	for i := 0; i+1 < len(args); i++ {
		switch {
		case args[i] == "--event-log" && filepath.IsAbs(args[i+1]):
			// A file with CLIs up to v3.205; later ones get a tcp:// address
			// of the Automation API's event server instead.
			path := args[i+1]
			if err := os.Chmod(filepath.Dir(path), 0o711); err != nil {
				return fmt.Errorf("cannot hand the event log over: %w", err)
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
			if err != nil {
				return fmt.Errorf("cannot hand the event log over: %w", err)
			}
			err = f.Chown(int(c.l.uid), int(c.l.uid))
			f.Close()
			if err != nil {
				return fmt.Errorf("cannot hand the event log over: %w", err)
			}
		case args[i] == "--file" && len(args) > 1 && args[0] == "stack" && args[1] == "import":
			if err := os.Lchown(args[i+1], int(c.l.uid), int(c.l.uid)); err != nil {
				return fmt.Errorf("cannot hand the state to import over: %w", err)
			}
		}
	}
	return nil
}

// withPathFirst puts dir first on env's PATH (the last PATH entry wins).
func withPathFirst(env []string, dir string) []string {
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	if path != "" {
		dir += string(os.PathListSeparator) + path
	}
	return append(env, "PATH="+dir)
}

// unreachable names the first directory on path's way that other users
// cannot traverse ("" when every one can): the deployments' uids must
// reach their workspaces and run the CLI and the plugins.
func unreachable(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o001 == 0 {
			return dir
		}
		if dir == filepath.Dir(dir) {
			return ""
		}
	}
}
