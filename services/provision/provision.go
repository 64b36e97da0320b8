package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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
	// <DataDir>/passphrase (0600, generated); production sets a KMS URL
	// (awskms://, gcpkms://, ...).
	SecretsProvider string
	// Project is the Pulumi.yaml every workspace gets.
	Project []byte
	// Program is the program run inline (program.Run in production).
	Program pulumi.RunFunc
	// Validate checks a deployment's config ("nano:key" -> value) the way
	// the program does, naming the keys.
	Validate func(name string, config map[string]string) error
	// SecretKeys are config keys whose values are always stored as secrets.
	SecretKeys []string
	// PulumiRoot is the Pulumi CLI's install root ("" finds it on PATH).
	PulumiRoot string
	// Env is added to the CLI's environment (provider credentials).
	Env map[string]string
	// MaxConcurrent bounds operations running at once (4).
	MaxConcurrent int
	Log           *slog.Logger
}

// Manager runs operations and keeps their records.
type Manager struct {
	cfg   Config
	store *store
	sem   chan struct{}

	mu   sync.Mutex
	busy map[string]*running // deployment -> its operation
	subs map[string]map[chan struct{}]bool
	ops  map[string]*Operation // live copies of running operations
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
	return "the deployment has an operation under way: " + e.Operation
}

// NoCLIError refuses an operation on a machine without the Pulumi CLI,
// before anything is recorded.
type NoCLIError struct{ Err error }

func (e *NoCLIError) Error() string {
	return "the Pulumi CLI is not installed here, so no deployment can be created, updated or destroyed: put pulumi on PATH " +
		"or set NANO_PULUMI_ROOT to its install root (bash tests/setup builds one into ~/.cache/nano/pulumi-<version>): " + e.Err.Error()
}

// CLIError says why operations cannot run here (nil: the Pulumi CLI is
// found). It looks again each time, so a CLI installed later is used.
func (m *Manager) CLIError() error {
	if _, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: m.cfg.PulumiRoot, SkipVersionCheck: true}); err != nil {
		return &NoCLIError{Err: err}
	}
	return nil
}

// ExistsError is a create for a deployment that exists.
type ExistsError struct{ Name string }

func (e *ExistsError) Error() string { return fmt.Sprintf("deployment %q exists", e.Name) }

// New opens the data directory and marks operations a previous process
// left unfinished as failed, their deployments as needing repair.
func New(cfg Config) (*Manager, error) {
	if cfg.DataDir == "" || cfg.Program == nil || len(cfg.Project) == 0 || cfg.Validate == nil {
		return nil, errors.New("provision: data directory, program, project and validation are required")
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 4
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", cfg.DataDir, err)
	}
	if cfg.BackendURL == "" {
		state := filepath.Join(cfg.DataDir, "state")
		if err := os.MkdirAll(state, 0o700); err != nil {
			return nil, err
		}
		cfg.BackendURL = "file://" + state
	}
	st, err := newStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, store: st, sem: make(chan struct{}, cfg.MaxConcurrent),
		busy: map[string]*running{}, subs: map[string]map[chan struct{}]bool{}, ops: map[string]*Operation{}}
	if err := m.recover(); err != nil {
		return nil, err
	}
	if err := m.CLIError(); err != nil {
		cfg.Log.Error("operations will be refused (503) until the Pulumi CLI is installed; reading deployments works", "error", err)
	}
	return m, nil
}

// recover fails the operations a crash interrupted.
func (m *Manager) recover() error {
	ops, err := m.store.operations()
	if err != nil {
		return err
	}
	for _, o := range ops {
		if o.Done() {
			continue
		}
		now := time.Now().UTC()
		o.State, o.Error, o.Finished = StateFailed, "interrupted: the provisioning service stopped during the operation", &now
		if err := m.store.putOp(o); err != nil {
			return err
		}
		if d, err := m.store.getDeployment(o.Deployment); err == nil {
			d.NeedsRepair, d.Status = true, "failed"
			if err := m.store.putDeployment(d); err != nil {
				return err
			}
		}
		m.cfg.Log.Warn("operation interrupted by a restart; its deployment will be repaired", "operation", o.ID, "deployment", o.Deployment)
	}
	return nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// start registers an operation on a deployment and runs fn for it in the
// background; it fails with *BusyError when the deployment has one.
func (m *Manager) start(dep *Deployment, kind string, fn func(ctx context.Context, op *Operation, events chan<- []byte) error) (*Operation, error) {
	m.mu.Lock()
	if r, ok := m.busy[dep.Name]; ok {
		m.mu.Unlock()
		return nil, &BusyError{Operation: r.op.ID}
	}
	op := &Operation{ID: newID(), Deployment: dep.Name, Kind: kind, State: StateQueued, Created: time.Now().UTC()}
	if err := m.store.putOp(op); err != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("cannot record the operation: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.busy[dep.Name] = &running{op: op, cancel: cancel}
	m.ops[op.ID] = op
	snapshot := *op
	m.mu.Unlock()
	go m.execute(ctx, cancel, dep.Name, op, fn)
	return &snapshot, nil
}

func (m *Manager) execute(ctx context.Context, cancel context.CancelFunc, name string, op *Operation, fn func(context.Context, *Operation, chan<- []byte) error) {
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
	delete(m.busy, name)
	delete(m.ops, op.ID)
	if perr := m.store.putOp(&snapshot); perr != nil {
		m.cfg.Log.Error("cannot record the operation", "operation", op.ID, "error", perr)
	}
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
	if r, ok := m.busy[op.Deployment]; ok && r.op.ID == id {
		r.cancel()
	}
	m.mu.Unlock()
	return op, nil
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
