package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"sigs.k8s.io/yaml"
)

// Config configures the service.
type Config struct {
	// DataDir holds deployments, operations, workspaces and (by default)
	// the state backend and the secrets passphrase.
	DataDir string
	// BackendURL is where stack state goes: "" means file://<DataDir>/state;
	// production sets s3://, gs:// or Pulumi Cloud.
	BackendURL string
	// SecretsProvider encrypts stack secrets: "" means a passphrase kept in
	// PassphraseFile, or else <DataDir>/passphrase (0600, generated);
	// production sets a KMS URL (awskms://, gcpkms://, ...).
	SecretsProvider string
	// PassphraseFile holds the passphrase of the default secrets provider
	// (replicas sharing a store share it).
	PassphraseFile string
	// StoreURL is where deployments, operations and events are kept: ""
	// means files in DataDir (one process); postgres://... a PostgreSQL
	// database that several endpoint processes share.
	StoreURL string
	// PollInterval is how often a process sharing its store looks for
	// operations a stopped process left, cancel requests and changes made
	// elsewhere (2s).
	PollInterval time.Duration
	// Project is the Pulumi.yaml every workspace gets.
	Project []byte
	// Program is the program run inline (program.Run in production).
	Program pulumi.RunFunc
	// Validate checks a deployment's config ("nano:key" -> value) the way
	// the program does, naming the keys.
	Validate func(name string, config map[string]string) error
	// Keys are the config keys requests may set (ProgramConfigKeys, and
	// ProbeConfigKeys for the probe program); every other is refused.
	Keys []ConfigKey
	// Isolation is how operations are kept apart: IsolationUID (each
	// deployment's under a uid of its own from UIDs) or IsolationNone ("").
	Isolation string
	UIDs      UIDRange
	// PulumiRoot is the Pulumi CLI's install root ("" finds it on PATH).
	PulumiRoot string
	// CLIPreparing, when set, says whether the CLI at PulumiRoot is still
	// being prepared (nano serve builds it at start): while it returns an
	// error, operations are refused (503) with that error.
	CLIPreparing func() error
	// Env is added to the CLI's environment (provider credentials, PATH).
	// Of the process's own environment the CLI gets only operationEnvNames.
	Env map[string]string
	// MaxConcurrent bounds operations running at once (4).
	MaxConcurrent int
	Log           *slog.Logger
}

// Manager runs operations and keeps their records.
type Manager struct {
	cfg   Config
	store store
	keys  keyRules
	// defaultBackend: the state is the embedded file backend (each
	// isolated deployment's then lives in its workspace).
	defaultBackend bool
	// stackConfigDir is the project's (Pulumi.yaml) stackConfigDir.
	stackConfigDir string
	sem            chan struct{}
	// owner names this process in the operations it runs.
	owner string
	stop  chan struct{}
	swept sync.WaitGroup

	mu       sync.Mutex
	busy     map[string]*running      // deployment -> its operation
	claiming map[string]chan struct{} // deployments claimed, operation not started yet; closed when it starts or is given back
	subs     map[string]map[chan struct{}]bool
	ops      map[string]*Operation // live copies of running operations
}

type running struct {
	op     *Operation
	cancel context.CancelFunc
}

// ErrNotFound is an unknown deployment or operation.
var ErrNotFound = errors.New("not found")

// BusyError is a deployment with an operation under way.
type BusyError struct{ Operation string }

func (e *BusyError) Error() string {
	if e.Operation == "" {
		return "the deployment has an operation starting"
	}
	return "the deployment has an operation under way: " + e.Operation
}

// NoCLIError refuses an operation on a machine without the Pulumi CLI,
// before anything is recorded. Preparing: the CLI is being made ready
// (Config.CLIPreparing), so a retry later succeeds.
type NoCLIError struct {
	Err       error
	Preparing bool
}

func (e *NoCLIError) Error() string {
	if e.Preparing {
		return "the Pulumi CLI is being prepared, so no deployment can be created, updated or destroyed yet (reading works); retry when it is ready: " + e.Err.Error()
	}
	return "the Pulumi CLI is not installed here, so no deployment can be created, updated or destroyed: put pulumi on PATH " +
		"or set NANO_PULUMI_ROOT to its install root (bash tests/setup builds one into ~/.cache/nano/pulumi-<version>): " + e.Err.Error()
}

// CLIError says why operations cannot run here (nil: the Pulumi CLI is
// found). It looks again each time, so a CLI installed later is used.
func (m *Manager) CLIError() error {
	if m.cfg.CLIPreparing != nil {
		if err := m.cfg.CLIPreparing(); err != nil {
			return &NoCLIError{Err: err, Preparing: true}
		}
	}
	if _, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: m.cfg.PulumiRoot, SkipVersionCheck: true}); err != nil {
		return &NoCLIError{Err: err}
	}
	return nil
}

// ExistsError is a create for a deployment that exists.
type ExistsError struct{ Name string }

func (e *ExistsError) Error() string { return fmt.Sprintf("deployment %q exists", e.Name) }

// New opens the store and takes over the operations a stopped process
// left unfinished: they are marked failed, their deployments repaired, and
// an update, create or destroy that had reached the engine is resumed.
func New(cfg Config) (*Manager, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	var project struct {
		StackConfigDir string `json:"stackConfigDir"`
	}
	if err := yaml.Unmarshal(cfg.Project, &project); err != nil {
		return nil, fmt.Errorf("provision: the project: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", cfg.DataDir, err)
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	defaultBackend := cfg.BackendURL == ""
	if defaultBackend {
		cfg.BackendURL = "file://" + filepath.Join(cfg.DataDir, "state")
	}
	if err := prepareDirs(cfg, defaultBackend); err != nil {
		st.close()
		return nil, err
	}
	m := &Manager{cfg: cfg, store: st, keys: newKeyRules(cfg.Keys), defaultBackend: defaultBackend, stackConfigDir: project.StackConfigDir, sem: make(chan struct{}, cfg.MaxConcurrent), owner: ownerName(), stop: make(chan struct{}),
		busy: map[string]*running{}, claiming: map[string]chan struct{}{}, subs: map[string]map[chan struct{}]bool{}, ops: map[string]*Operation{}}
	if err := m.CLIError(); err != nil {
		var ne *NoCLIError
		if errors.As(err, &ne) && ne.Preparing {
			cfg.Log.Warn("operations will be refused (503) until the Pulumi CLI is ready; reading deployments works", "error", err)
		} else {
			cfg.Log.Error("operations will be refused (503) until the Pulumi CLI is installed; reading deployments works", "error", err)
		}
	}
	if err := m.sweep(); err != nil {
		st.close()
		return nil, err
	}
	if st.shared() {
		m.swept.Add(1)
		go m.janitor()
	}
	return m, nil
}

// complete checks what New needs and fills the defaults: no isolation,
// the default uid range when isolating, 4 operations at once, a 2 s poll,
// the default logger.
func (cfg *Config) complete() error {
	if cfg.DataDir == "" || cfg.Program == nil || len(cfg.Project) == 0 || cfg.Validate == nil || len(cfg.Keys) == 0 {
		return errors.New("provision: data directory, program, project, validation and config keys are required")
	}
	switch cfg.Isolation {
	case "", IsolationNone:
		cfg.Isolation = IsolationNone
	case IsolationUID:
		if cfg.UIDs.Count == 0 {
			cfg.UIDs = DefaultUIDs
		}
	default:
		return fmt.Errorf("isolation: %q is not %s or %s", cfg.Isolation, IsolationUID, IsolationNone)
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 4
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return nil
}

// openStore opens the deployments' store: files in the data directory, or
// the PostgreSQL database replicas share; with uid isolation, only once
// the uids are usable.
func openStore(cfg Config) (store, error) {
	var st store
	if cfg.StoreURL == "" {
		fs, err := newFileStore(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		st = fs
	} else {
		if err := sharedStoreProblems(cfg); err != nil {
			return nil, err
		}
		ps, err := newPGStore(cfg.StoreURL)
		if err != nil {
			return nil, err
		}
		st = ps
	}
	if cfg.Isolation == IsolationUID {
		if err := isolationProblems(cfg); err != nil {
			st.close()
			return nil, err
		}
	}
	return st, nil
}

// prepareDirs makes a file backend's directory and, with uid isolation,
// the data directory traversable (never listable) by the deployments'
// uids, which reach only their own workspaces and state directories.
func prepareDirs(cfg Config, defaultBackend bool) error {
	isolated := cfg.Isolation == IsolationUID
	if dir, ok := strings.CutPrefix(cfg.BackendURL, "file://"); ok {
		perm := os.FileMode(0o700)
		if isolated && !defaultBackend {
			perm = 0o711
		}
		if err := os.MkdirAll(dir, perm); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
		if isolated && !defaultBackend {
			// Each deployment's state is in a directory of its own in it,
			// which its uid reaches.
			if blocked := unreachable(filepath.Join(dir, "x")); blocked != "" {
				return fmt.Errorf("backend: the deployments' uids cannot reach their state directories in %s: %s is not searchable by others (chmod o+x it)", dir, blocked)
			}
		}
	}
	if !isolated {
		return nil
	}
	for _, dir := range []string{cfg.DataDir, filepath.Join(cfg.DataDir, "workspaces")} {
		err := os.MkdirAll(dir, 0o711)
		if err == nil {
			err = os.Chmod(dir, 0o711)
		}
		if err != nil {
			return fmt.Errorf("cannot prepare %s: %w", dir, err)
		}
	}
	return nil
}

// isolationProblems checks, at start, that the deployments' uids can be
// used: the process can switch to them, and reach the data directory and
// the Pulumi CLI.
func isolationProblems(cfg Config) error {
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "isolation uid: runs each deployment's operations as a uid of its own, which needs the endpoint to run as root "+
			"(or with CAP_SETUID, CAP_SETGID and CAP_CHOWN); --isolation none runs them as this user, for a machine that serves one customer")
	}
	if uint64(cfg.UIDs.First)+uint64(cfg.UIDs.Count) > 1<<32-1 || cfg.UIDs.First < 1000 {
		problems = append(problems, fmt.Sprintf("operation-uids: %d-%d is not a range of unprivileged uids", cfg.UIDs.First, uint64(cfg.UIDs.First)+uint64(cfg.UIDs.Count)-1))
	}
	if dir := unreachable(cfg.DataDir); dir != "" {
		problems = append(problems, fmt.Sprintf("data-dir: the deployments' uids cannot reach %s: %s is not searchable by others (chmod o+x it, or choose a data directory such as /var/lib/nano)", cfg.DataDir, dir))
	}
	cli := filepath.Join(cfg.PulumiRoot, "bin", "pulumi")
	if cfg.PulumiRoot == "" {
		cli, _ = exec.LookPath("pulumi")
	}
	if cli != "" {
		if dir := unreachable(cli); dir != "" {
			problems = append(problems, fmt.Sprintf("the Pulumi CLI %s cannot be run by the deployments' uids: %s is not searchable by others; install it (and the provider plugins) where every user can run them, e.g. /usr/local/bin", cli, dir))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// SharedStoreURL says whether url names a store several processes can
// share: a PostgreSQL database (postgres:// or postgresql://).
func SharedStoreURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// sharedStoreProblems checks that processes sharing a store also share
// the stacks' state and can decrypt each other's secrets.
func sharedStoreProblems(cfg Config) error {
	var problems []string
	if !SharedStoreURL(cfg.StoreURL) {
		problems = append(problems, "store: is not a postgres:// or postgresql:// URL")
	}
	if cfg.BackendURL == "" {
		problems = append(problems, "backend: a shared store needs a state backend every replica reaches (s3://, gs://, Pulumi Cloud, or a shared file:// path), not the data directory's")
	}
	if cfg.SecretsProvider == "" && cfg.PassphraseFile == "" {
		problems = append(problems, "secrets-provider: a shared store needs every replica to decrypt the same secrets: set a KMS secrets provider or a passphrase file every replica reads")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func ownerName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Close stops looking for other processes' work and closes the store;
// operations still running are interrupted (the next process resumes
// them).
func (m *Manager) Close() {
	close(m.stop)
	m.swept.Wait()
	m.store.close()
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// start records an operation on a deployment this process claimed and
// runs fn for it in the background; resumes names the interrupted
// operation it carries on ("" for none).
func (m *Manager) start(dep *Deployment, kind, resumes string, fn opFunc) (*Operation, error) {
	op := &Operation{ID: newID(), Deployment: dep.Name, Kind: kind, State: StateQueued, Created: time.Now().UTC(), Owner: m.owner, Resumes: resumes}
	m.mu.Lock()
	if err := m.store.putOp(op); err != nil {
		m.mu.Unlock()
		m.release(dep.Name)
		return nil, fmt.Errorf("cannot record the operation: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.unclaim(dep.Name)
	m.busy[dep.Name] = &running{op: op, cancel: cancel}
	m.ops[op.ID] = op
	snapshot := *op
	m.mu.Unlock()
	go m.execute(ctx, cancel, dep.Name, op, fn)
	return &snapshot, nil
}

func (m *Manager) execute(ctx context.Context, cancel context.CancelFunc, name string, op *Operation, fn opFunc) {
	defer cancel()
	var err error
	select {
	case m.sem <- struct{}{}:
		defer func() { <-m.sem }()
		m.update(op, func(o *Operation) { now := time.Now().UTC(); o.State, o.Started = StateRunning, &now })
		events := make(chan []byte, 64)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for e := range events {
				if werr := m.store.appendEvent(op.ID, e); werr != nil {
					m.cfg.Log.Error("cannot record an engine event", "operation", op.ID, "error", werr)
					continue
				}
				m.update(op, func(o *Operation) { o.Events++ })
			}
		}()
		err = fn(ctx, op, events)
		close(events)
		<-done
		// Credential files live only while an operation runs.
		if rerr := os.RemoveAll(m.credentialsDir(name)); rerr != nil {
			m.cfg.Log.Error("cannot remove the operation's credential files", "deployment", name, "error", rerr)
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	// A deployment's status follows its last operation: one that failed
	// before the engine ran (preparing the stack, setting config) or was
	// canceled in the queue leaves it "failed", not "creating".
	if err != nil {
		if d, gerr := m.store.getDeployment(name); gerr == nil && (d.LastOp != op.ID || d.Status != "failed") {
			d.LastOp, d.Status = op.ID, "failed"
			if perr := m.store.putDeployment(d); perr != nil {
				m.cfg.Log.Error("cannot record the deployment's status", "deployment", name, "error", perr)
			}
		}
	}
	// The final state and the deployment's release are one step: whoever
	// sees the operation ended may start the next one.
	m.mu.Lock()
	now := time.Now().UTC()
	op.Finished = &now
	switch {
	case err == nil:
		op.State = StateSucceeded
	case ctx.Err() != nil:
		op.State, op.Error = StateCanceled, "canceled"
	default:
		op.State, op.Error = StateFailed, err.Error()
	}
	snapshot := *op
	if perr := m.store.putOp(&snapshot); perr != nil {
		m.cfg.Log.Error("cannot record the operation", "operation", op.ID, "error", perr)
	}
	// Released after the final record: a process that takes the lock then
	// finds the operation ended, not interrupted.
	if uerr := m.store.unlock(name); uerr != nil {
		m.cfg.Log.Error("cannot release the deployment", "deployment", name, "error", uerr)
	}
	delete(m.busy, name)
	delete(m.ops, op.ID)
	m.mu.Unlock()
	m.notify(op.ID)
	m.cfg.Log.Info("operation finished", "operation", op.ID, "deployment", name, "kind", op.Kind, "state", op.State)
}

// update changes a live operation, persists it and wakes its watchers.
func (m *Manager) update(op *Operation, f func(*Operation)) {
	m.mu.Lock()
	f(op)
	snapshot := *op
	m.mu.Unlock()
	if err := m.store.putOp(&snapshot); err != nil {
		m.cfg.Log.Error("cannot record the operation", "operation", op.ID, "error", err)
	}
	m.notify(op.ID)
}

// Operation returns an operation's current record.
func (m *Manager) Operation(id string) (*Operation, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	m.mu.Lock()
	if op, ok := m.ops[id]; ok {
		snapshot := *op
		m.mu.Unlock()
		return &snapshot, nil
	}
	m.mu.Unlock()
	op, err := m.store.getOp(id)
	if err != nil {
		return nil, ErrNotFound
	}
	return op, nil
}

// Cancel stops a queued or running operation.
func (m *Manager) Cancel(id string) (*Operation, error) {
	op, err := m.Operation(id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	local := m.cancelLocal(op.Deployment, id)
	m.mu.Unlock()
	if !local && !op.Done() {
		// Another process runs it: it sees the request on its next look.
		if err := m.store.requestCancel(id); err != nil {
			return nil, fmt.Errorf("cannot record the cancel request: %w", err)
		}
	}
	return op, nil
}

// cancelLocal cancels operation id on deployment when this process runs
// it, and says whether it does; m.mu is held.
func (m *Manager) cancelLocal(deployment, id string) bool {
	r, ok := m.busy[deployment]
	if ok && r.op.ID == id {
		r.cancel()
		return true
	}
	return false
}

// watch returns a channel that is signalled when the operation changes,
// and a function to stop watching.
func (m *Manager) watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	if m.subs[id] == nil {
		m.subs[id] = map[chan struct{}]bool{}
	}
	m.subs[id][ch] = true
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs[id], ch)
		if len(m.subs[id]) == 0 {
			delete(m.subs, id)
		}
		m.mu.Unlock()
	}
}

func (m *Manager) notify(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subs[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-')
	}) < 0
}
