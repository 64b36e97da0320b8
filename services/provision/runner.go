package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"sigs.k8s.io/yaml"

	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/stacks/model/settings"
)

// Request creates or updates a deployment.
type Request struct {
	Name     string `json:"name"`
	Tier     string `json:"tier"`
	Provider string `json:"provider"`
	Region   string `json:"region"`
	// Config and Secrets are overrides: "key" means "nano:key"; "ns:key"
	// is any namespace (e.g. "hcloud:token"). Secrets are stored encrypted
	// and never returned.
	Config  map[string]string `json:"config"`
	Secrets map[string]string `json:"secrets"`
	// Credentials are the customer's own cloud credentials (BYOC), by name
	// (hcloudToken, awsAccessKeyId, gcpServiceAccountKey, ...): stored
	// encrypted, never returned, replaced by a later request's.
	Credentials map[string]string `json:"credentials"`
}

// ValidationError lists what is wrong with a request, each problem naming
// its field or config key; the endpoint answers them as its 400's error
// envelope.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "; ")
}

// Problem is one thing wrong with a request: its field ("name",
// "config.nano:tier", "move.sourceClickhouse") and what is wrong with it,
// as the error envelope carries it (docs/reference/errors.md).
type Problem = jsonhttp.Problem

// problem is a Problem of field with a formatted message.
func problem(field, format string, args ...any) Problem {
	return Problem{Field: field, Message: fmt.Sprintf(format, args...)}
}

func fullKey(k string) string {
	if strings.Contains(k, ":") {
		return k
	}
	return "nano:" + k
}

// opFunc is what an operation does, given its record and where its
// engine events go.
type opFunc func(ctx context.Context, op *Operation, events chan<- []byte) error

// Create validates the request, records the deployment and starts its
// first update.
func (m *Manager) Create(req Request) (*Operation, error) {
	if err := m.CLIError(); err != nil {
		return nil, err
	}
	d, secrets, err := m.plan(req, nil)
	if err != nil {
		return nil, err
	}
	if err := m.claimNew(d.Name); err != nil {
		return nil, err
	}
	if err := m.isolate(d); err != nil {
		m.release(d.Name)
		return nil, err
	}
	d.Status = "creating"
	if err := m.store.putDeployment(d); err != nil {
		m.release(d.Name)
		return nil, err
	}
	return issued(m.start(d, KindCreate, "", m.upFunc(d, secrets)))(secrets)
}

// isolate gives a new deployment the endpoint's isolation: under
// IsolationUID a uid of its own, never used before.
func (m *Manager) isolate(d *Deployment) error {
	d.Isolation = m.cfg.Isolation
	if d.Isolation != IsolationUID {
		return nil
	}
	n, err := m.store.nextUID()
	if err != nil {
		return fmt.Errorf("cannot allocate the deployment's uid: %w", err)
	}
	if n < 1 || n > uint64(m.cfg.UIDs.Count) {
		return fmt.Errorf("cannot allocate the deployment's uid: the %d uids from %d are used up (--operation-uids)", m.cfg.UIDs.Count, m.cfg.UIDs.First)
	}
	d.UID = m.cfg.UIDs.First + uint32(n-1)
	return nil
}

// issued adds the AWS external id a request generated (in secrets) to the
// operation it started, for its answer only.
func issued(op *Operation, err error) func(map[string]string) (*Operation, error) {
	return func(secrets map[string]string) (*Operation, error) {
		if op != nil {
			op.issuedExternalID = secrets[externalIDKey]
		}
		return op, err
	}
}

// claimNew claims the name of a deployment to create: ExistsError when
// one has it.
func (m *Manager) claimNew(name string) error {
	if _, err := m.claim(name); err != nil {
		var be *BusyError
		if errors.As(err, &be) {
			return &ExistsError{Name: name}
		}
		return err
	}
	// Destroy removes the record, so any record is a live deployment.
	if _, err := m.store.getDeployment(name); err == nil {
		m.release(name)
		return &ExistsError{Name: name}
	}
	return nil
}

// claimed claims a deployment and returns its record (read while holding
// the claim, so no other operation changes it meanwhile).
func (m *Manager) claimed(name string) (*Deployment, error) {
	if _, err := m.Deployment(name); err != nil {
		return nil, err
	}
	if _, err := m.claim(name); err != nil {
		return nil, err
	}
	d, err := m.Deployment(name)
	if err != nil {
		m.release(name)
		return nil, err
	}
	if err := m.isolationProblem(d); err != nil {
		m.release(name)
		return nil, err
	}
	return d, nil
}

// Update changes a deployment's config and runs an update.
func (m *Manager) Update(name string, req Request) (*Operation, error) {
	if err := m.CLIError(); err != nil {
		return nil, err
	}
	prev, err := m.claimed(name)
	if err != nil {
		return nil, err
	}
	if err := m.upgradeGuard(prev); err != nil {
		m.release(name)
		return nil, err
	}
	req.Name = name
	d, secrets, err := m.plan(req, prev)
	if err != nil {
		m.release(name)
		return nil, err
	}
	return issued(m.start(d, KindUpdate, "", m.upFunc(d, secrets)))(secrets)
}

// upFunc runs `pulumi up` with the deployment's config and the request's
// secrets (nil when resuming: the stack's settings hold them).
func (m *Manager) upFunc(d *Deployment, secrets map[string]string) opFunc {
	return func(ctx context.Context, op *Operation, evs chan<- []byte) error {
		stack, err := m.prepare(ctx, d.Name)
		if err != nil {
			return err
		}
		d.NeedsRepair = false // prepare repaired the stack
		if err := setConfig(ctx, stack, d.Config, secrets); err != nil {
			return err
		}
		if _, ok := secrets[externalIDKey]; ok && !hasKey(d.SecretKeys, externalIDKey) {
			// The stack holds the id nano generated: later requests keep it.
			d.SecretKeys = append(d.SecretKeys, externalIDKey)
			sort.Strings(d.SecretKeys)
		}
		if err := m.useCredentials(ctx, stack, d); err != nil {
			return err
		}
		if err := m.saveSettings(d.Name); err != nil {
			return err
		}
		d.LastOp, d.Status = op.ID, "updating"
		if err := m.store.putDeployment(d); err != nil {
			return err
		}
		ch, wait := pipe(evs)
		res, err := stack.Up(ctx, optup.EventStreams(ch), optup.SuppressProgress())
		wait()
		d.Status = "ready"
		if err != nil {
			d.Status = "failed"
			if ctx.Err() != nil {
				d.NeedsRepair = true
			}
		} else {
			d.Outputs = maskOutputs(res.Outputs)
			m.update(op, func(o *Operation) { o.Summary = changes(res.Summary.ResourceChanges) })
		}
		if perr := m.store.putDeployment(d); perr != nil && err == nil {
			err = perr
		}
		return err
	}
}

// setConfig writes the stack's config. A value that is a JSON array of
// strings is set element by element (the CLI's --path form), as Pulumi.yaml
// declares array keys. Secrets are given to `pulumi config set` on its
// standard input, one at a time: auto's SetAllConfig would put them on the
// CLI's command line, which every local user can read (/proc/PID/cmdline).
func setConfig(ctx context.Context, stack auto.Stack, plain, secrets map[string]string) error {
	cfg, paths := auto.ConfigMap{}, auto.ConfigMap{}
	for k, v := range plain {
		var items []string
		if strings.HasPrefix(strings.TrimSpace(v), "[") && json.Unmarshal([]byte(v), &items) == nil {
			if err := stack.RemoveConfig(ctx, k); err != nil {
				return fmt.Errorf("cannot reset %s: %w", k, err)
			}
			for i, item := range items {
				paths[fmt.Sprintf("%s[%d]", k, i)] = auto.ConfigValue{Value: item}
			}
			continue
		}
		cfg[k] = auto.ConfigValue{Value: v}
	}
	if err := stack.SetAllConfig(ctx, cfg); err != nil {
		return fmt.Errorf("cannot set the stack's config: %w", err)
	}
	ws, ok := stack.Workspace().(*auto.LocalWorkspace)
	if !ok && len(secrets) > 0 {
		return fmt.Errorf("workspace %T cannot take secrets", stack.Workspace())
	}
	var env []string
	if ok {
		env = append(env, "PULUMI_HOME="+ws.PulumiHome())
		for k, v := range ws.GetEnvVars() {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range sortedKeys(secrets) {
		// The CLI drops one trailing newline of what it reads.
		_, stderr, _, err := ws.PulumiCommand().Run(ctx, ws.WorkDir(), strings.NewReader(secrets[k]+"\n"), nil, nil, env,
			"config", "set", "--stack", stack.Name(), "--secret", "--non-interactive", "--", k)
		if err != nil {
			return fmt.Errorf("cannot set the stack's secret %s: %w: %s", k, err, strings.TrimSpace(stderr))
		}
	}
	if len(paths) > 0 {
		if err := stack.SetAllConfigWithOptions(ctx, paths, &auto.ConfigOptions{Path: true}); err != nil {
			return fmt.Errorf("cannot set the stack's list config: %w", err)
		}
	}
	return nil
}

// Preview previews a deployment's next update.
func (m *Manager) Preview(name string) (*Operation, error) {
	d, err := m.claimed(name)
	if err != nil {
		return nil, err
	}
	return m.start(d, KindPreview, "", func(ctx context.Context, op *Operation, evs chan<- []byte) error {
		stack, err := m.prepare(ctx, name)
		if err != nil {
			return err
		}
		if err := m.useCredentials(ctx, stack, d); err != nil {
			return err
		}
		ch, wait := pipe(evs)
		res, err := stack.Preview(ctx, optpreview.EventStreams(ch), optpreview.SuppressProgress())
		wait()
		if err == nil {
			m.update(op, func(o *Operation) { o.Summary = summaryOps(res.ChangeSummary) })
		}
		return err
	})
}

// Refresh refreshes a deployment's state, clearing pending creates.
func (m *Manager) Refresh(name string) (*Operation, error) {
	d, err := m.claimed(name)
	if err != nil {
		return nil, err
	}
	return m.start(d, KindRefresh, "", func(ctx context.Context, op *Operation, evs chan<- []byte) error {
		stack, err := m.prepare(ctx, name)
		if err != nil {
			return err
		}
		if err := m.useCredentials(ctx, stack, d); err != nil {
			return err
		}
		ch, wait := pipe(evs)
		_, err = stack.Refresh(ctx, optrefresh.EventStreams(ch), optrefresh.ClearPendingCreates(), optrefresh.SuppressProgress())
		wait()
		return err
	})
}

// Destroy destroys a deployment's resources, then removes its stack.
func (m *Manager) Destroy(name string) (*Operation, error) {
	if err := m.CLIError(); err != nil {
		return nil, err
	}
	d, err := m.claimed(name)
	if err != nil {
		return nil, err
	}
	if err := m.upgradeGuard(d); err != nil {
		m.release(name)
		return nil, err
	}
	return m.start(d, KindDestroy, "", m.destroyFunc(d))
}

// destroyFunc lifts the protection and destroys the deployment's
// resources, then removes its stack and record.
func (m *Manager) destroyFunc(d *Deployment) opFunc {
	name := d.Name
	return func(ctx context.Context, op *Operation, evs chan<- []byte) error {
		stack, err := m.prepare(ctx, name)
		if err != nil {
			return err
		}
		if err := m.useCredentials(ctx, stack, d); err != nil {
			return err
		}
		d.LastOp, d.Status, d.NeedsRepair = op.ID, "destroying", false
		if err := m.store.putDeployment(d); err != nil {
			return err
		}
		// DELETE is the operator's decision to destroy: the protection
		// nano:protectData puts on the resources that hold data guards
		// against accidents, not against it.
		if err := unprotect(ctx, stack); err != nil {
			d.Status = "failed"
			_ = m.store.putDeployment(d)
			return fmt.Errorf("cannot lift the resources' protection: %w", err)
		}
		ch, wait := pipe(evs)
		res, err := stack.Destroy(ctx, optdestroy.EventStreams(ch), optdestroy.SuppressProgress())
		wait()
		if err != nil {
			d.Status = "failed"
			d.NeedsRepair = ctx.Err() != nil
			_ = m.store.putDeployment(d)
			return err
		}
		m.update(op, func(o *Operation) { o.Summary = changes(res.Summary.ResourceChanges) })
		if err := stack.Workspace().RemoveStack(ctx, name); err != nil {
			return fmt.Errorf("destroyed, but cannot remove the stack: %w", err)
		}
		if l := m.layoutOf(d); l.isolated && l.backendDir != "" {
			_ = os.RemoveAll(l.backendDir)
		}
		_ = os.RemoveAll(m.workspaceDir(name))
		if err := m.store.deleteTokens(name); err != nil {
			return fmt.Errorf("destroyed, but cannot revoke the deployment's tokens: %w", err)
		}
		return m.store.deleteDeployment(name)
	}
}

// Deployment returns a deployment's record.
func (m *Manager) Deployment(name string) (*Deployment, error) {
	if !settings.ValidDeploymentName(name) {
		return nil, ErrNotFound
	}
	d, err := m.store.getDeployment(name)
	if err != nil {
		return nil, ErrNotFound
	}
	return d, nil
}

// Deployments lists the deployments.
func (m *Manager) Deployments() ([]*Deployment, error) { return m.store.deployments() }

func (m *Manager) workspaceDir(name string) string {
	return filepath.Join(m.cfg.DataDir, "workspaces", name)
}

// prepare returns the deployment's stack in its own workspace directory
// (workspaces must not share a directory: pulumi/pulumi#8186), repairing
// it first when an operation was interrupted. Isolated, the workspace is
// the deployment's uid's, and so untrusted: the project file is written
// again and the stack's config keys are checked against the allow-list
// before anything runs.
func (m *Manager) prepare(ctx context.Context, name string) (auto.Stack, error) {
	d, err := m.store.getDeployment(name)
	if err != nil {
		return auto.Stack{}, fmt.Errorf("cannot read the deployment: %w", err)
	}
	if err := m.isolationProblem(d); err != nil {
		return auto.Stack{}, err
	}
	l := m.layoutOf(d)
	root, err := m.prepareDirs(l)
	if err != nil {
		return auto.Stack{}, fmt.Errorf("cannot prepare the workspace: %w", err)
	}
	defer root.Close()
	if b, err := root.ReadFile("Pulumi.yaml"); err != nil || !bytes.Equal(b, m.cfg.Project) {
		if err := writeIn(root, "Pulumi.yaml", m.cfg.Project, l); err != nil {
			return auto.Stack{}, err
		}
	}
	cmd, err := m.command(l)
	if err != nil {
		return auto.Stack{}, err
	}
	env := map[string]string{"PULUMI_BACKEND_URL": l.backend, "PULUMI_SKIP_UPDATE_CHECK": "true"}
	secrets := m.cfg.SecretsProvider
	if secrets == "" {
		pass, err := m.passphraseFile()
		if err != nil {
			return auto.Stack{}, err
		}
		if l.isolated {
			master, err := os.ReadFile(pass)
			if err != nil {
				return auto.Stack{}, fmt.Errorf("cannot read the secrets passphrase: %w", err)
			}
			env["PULUMI_CONFIG_PASSPHRASE"] = derivedPassphrase(master, name)
		} else {
			env["PULUMI_CONFIG_PASSPHRASE_FILE"] = pass
		}
		secrets = "passphrase"
	}
	for k, v := range m.cfg.Env {
		env[k] = v
	}
	if err := m.restoreStackSettings(root, l, name); err != nil {
		return auto.Stack{}, err
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(l.dir), auto.Program(m.cfg.Program), auto.Pulumi(cmd),
		auto.PulumiHome(l.home), auto.EnvVars(env), auto.SecretsProvider(secrets))
	if err != nil {
		return auto.Stack{}, fmt.Errorf("cannot open the workspace: %w", err)
	}
	stack, err := auto.UpsertStack(ctx, name, ws)
	if err != nil {
		return auto.Stack{}, fmt.Errorf("cannot select the stack: %w", err)
	}
	// A new stack's settings carry its secrets provider's state (the
	// passphrase's salt): every process must use the same.
	if err := m.saveStackSettings(root, name); err != nil {
		return auto.Stack{}, err
	}
	if err := m.dropUnknownKeys(ctx, root, stack, d); err != nil {
		return auto.Stack{}, err
	}
	if d.NeedsRepair {
		if err := m.repair(ctx, stack, l, name); err != nil {
			return auto.Stack{}, fmt.Errorf("cannot repair the stack after an interrupted operation: %w", err)
		}
		d.NeedsRepair = false
		if err := m.store.putDeployment(d); err != nil {
			return auto.Stack{}, err
		}
	}
	return stack, nil
}

// stackSettingsFile is the stack's settings file in its workspace.
func (m *Manager) stackSettingsFile(name string) string {
	return filepath.Join(m.stackConfigDir, "Pulumi."+name+".yaml")
}

// dropUnknownKeys removes from the stack's config every key a request may
// not set (and nano does not set itself): one an older endpoint accepted,
// or one written into the workspace since.
func (m *Manager) dropUnknownKeys(ctx context.Context, root *os.Root, stack auto.Stack, d *Deployment) error {
	b, err := root.ReadFile(m.stackSettingsFile(d.Name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read the stack's settings: %w", err)
	}
	var settings struct {
		Config map[string]any `json:"config"`
	}
	if err := yaml.Unmarshal(b, &settings); err != nil {
		return fmt.Errorf("cannot read the stack's settings: %w", err)
	}
	var drop []string
	for k := range settings.Config {
		if !internalKey(k) && m.keys.problem("", k, d.Provider) != nil {
			drop = append(drop, k)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	sort.Strings(drop)
	m.cfg.Log.Warn("removing config keys the endpoint does not accept from the stack", "deployment", d.Name, "keys", drop)
	if err := stack.RemoveAllConfig(ctx, drop); err != nil {
		return fmt.Errorf("cannot remove config keys the endpoint does not accept (%s): %w", strings.Join(drop, ", "), err)
	}
	return nil
}

// restoreStackSettings writes the stack's settings the store keeps into
// the workspace; with a shared store, a workspace file the store does not
// know (left by an earlier deployment of the name) is removed.
func (m *Manager) restoreStackSettings(root *os.Root, l layout, name string) error {
	if !m.store.shared() {
		return nil
	}
	b, err := m.store.stackSettings(name)
	if err != nil {
		return fmt.Errorf("cannot read the stack's settings: %w", err)
	}
	path := m.stackSettingsFile(name)
	if b == nil {
		if err := root.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if cur, err := root.ReadFile(path); err == nil && bytes.Equal(cur, b) {
		return nil
	}
	return writeIn(root, path, b, l)
}

// saveStackSettings gives the workspace's stack settings to a shared
// store.
func (m *Manager) saveStackSettings(root *os.Root, name string) error {
	if !m.store.shared() {
		return nil
	}
	b, err := root.ReadFile(m.stackSettingsFile(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.store.putStackSettings(name, b); err != nil {
		return fmt.Errorf("cannot keep the stack's settings: %w", err)
	}
	return nil
}

// saveSettings is saveStackSettings for a deployment's workspace.
func (m *Manager) saveSettings(name string) error {
	if !m.store.shared() {
		return nil
	}
	root, err := os.OpenRoot(m.workspaceDir(name))
	if err != nil {
		return err
	}
	defer root.Close()
	return m.saveStackSettings(root, name)
}

// repair makes a stack usable after an interrupted operation: it removes
// the locks the dead CLI left (file backends; only the holder of the
// deployment's claim runs operations on it) and the pending operations
// recorded in its state.
func (m *Manager) repair(ctx context.Context, stack auto.Stack, l layout, name string) error {
	if l.backendDir != "" {
		locks := filepath.Join(l.backendDir, ".pulumi", "locks")
		err := filepath.WalkDir(locks, func(path string, de fs.DirEntry, err error) error {
			if err == nil && de.IsDir() && de.Name() == name {
				m.awaitLockHolders(ctx, path)
				m.cfg.Log.Warn("removing a stale stack lock", "deployment", name, "path", path)
				return errors.Join(os.RemoveAll(path), fs.SkipDir)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.SkipDir) && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	dep, err := stack.Export(ctx)
	if err != nil {
		return err
	}
	var state map[string]json.RawMessage
	if err := json.Unmarshal(dep.Deployment, &state); err != nil {
		return err
	}
	if pending, ok := state["pending_operations"]; ok && string(pending) != "null" && string(pending) != "[]" {
		m.cfg.Log.Warn("clearing pending operations of an interrupted update", "deployment", name)
		delete(state, "pending_operations")
		b, err := json.Marshal(state)
		if err != nil {
			return err
		}
		dep.Deployment = b
		if err := stack.Import(ctx, dep); err != nil {
			return err
		}
	}
	return nil
}

// awaitLockHolders waits, up to a minute, for the CLIs on this host that
// hold the stack locks in dir to exit: a CLI whose endpoint process was
// killed ends its update on its own (it loses the program) and must not
// write the state after the next operation took over.
func (m *Manager) awaitLockHolders(ctx context.Context, dir string) {
	host, _ := os.Hostname()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	deadline := time.Now().Add(time.Minute)
	for _, f := range files {
		var lock struct {
			Pid      int    `json:"pid"`
			Hostname string `json:"hostname"`
		}
		if b, err := os.ReadFile(f); err != nil || json.Unmarshal(b, &lock) != nil || lock.Hostname != host || lock.Pid <= 0 {
			continue
		}
		for syscall.Kill(lock.Pid, 0) == nil && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// unprotect clears the protect flag of every resource in the stack's
// state, as `pulumi state unprotect --all` does.
func unprotect(ctx context.Context, stack auto.Stack) error {
	dep, err := stack.Export(ctx)
	if err != nil {
		return err
	}
	var state map[string]json.RawMessage
	if err := json.Unmarshal(dep.Deployment, &state); err != nil {
		return err
	}
	// UseNumber: outputs' integers round-trip exactly.
	var resources []map[string]any
	if raw, ok := state["resources"]; ok {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&resources); err != nil {
			return err
		}
	}
	changed := false
	for _, r := range resources {
		if p, _ := r["protect"].(bool); p {
			delete(r, "protect")
			changed = true
		}
	}
	if !changed {
		return nil
	}
	b, err := json.Marshal(resources)
	if err != nil {
		return err
	}
	state["resources"] = b
	if dep.Deployment, err = json.Marshal(state); err != nil {
		return err
	}
	return stack.Import(ctx, dep)
}

// passphraseFile returns the embedded default's passphrase file, creating
// it (0600, random) on first use.
func (m *Manager) passphraseFile() (string, error) {
	if m.cfg.PassphraseFile != "" {
		st, err := os.Stat(m.cfg.PassphraseFile)
		if err != nil {
			return "", fmt.Errorf("passphrase file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("passphrase file: %s is readable by others; chmod 600 it", m.cfg.PassphraseFile)
		}
		return m.cfg.PassphraseFile, nil
	}
	path := filepath.Join(m.cfg.DataDir, "passphrase")
	if st, err := os.Stat(path); err == nil {
		if st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s is readable by others; chmod 600 it", path)
		}
		return path, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot create the secrets passphrase: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(newID() + newID()); err != nil {
		return "", err
	}
	return path, nil
}

// pipe turns engine events into JSON lines on evs; wait, called once the
// Automation API call that was given the channel has returned, returns once
// all events of the operation were passed on.
//
// wait must not rely on the channel being closed: the Automation API closes
// it when the CLI's event stream ends, and with CLIs after v3.205 that stream
// is a gRPC call the CLI opens only once the engine starts. An operation the
// CLI refuses before that (its config validation, a locked stack, a wrong
// passphrase) never opens it, the channel is never closed, and waiting for
// the close hung the operation, and the deployment's claim, for good. By the
// time the call returns every event was delivered (the SDK stops its event
// server, or its log watcher, before returning, and each send completed when
// this goroutine received it), so wait stops the goroutine instead.
func pipe(evs chan<- []byte) (chan<- events.EngineEvent, func()) {
	ch := make(chan events.EngineEvent)
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			var e events.EngineEvent
			var ok bool
			select {
			case e, ok = <-ch:
			case <-stop:
				return
			}
			if !ok {
				return
			}
			var b []byte
			if e.Error != nil {
				b, _ = json.Marshal(map[string]string{"error": e.Error.Error()})
			} else {
				b, _ = json.Marshal(e.EngineEvent)
			}
			evs <- b
		}
	}()
	return ch, func() { close(stop); <-done }
}

func maskOutputs(out auto.OutputMap) map[string]string {
	res := map[string]string{}
	for k, v := range out {
		if v.Secret {
			res[k] = "[secret]"
			continue
		}
		switch x := v.Value.(type) {
		case string:
			res[k] = x
		default:
			b, _ := json.Marshal(x)
			res[k] = string(b)
		}
	}
	return res
}

func changes(m *map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	return *m
}

func summaryOps[K ~string](m map[K]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}
