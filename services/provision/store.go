package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Operation kinds.
const (
	KindCreate  = "create"
	KindUpdate  = "update"
	KindPreview = "preview"
	KindRefresh = "refresh"
	KindDestroy = "destroy"
	KindRepair  = "repair"
)

// Operation states.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCanceled  = "canceled"
)

// Operation is one engine run on a deployment's stack.
type Operation struct {
	ID         string            `json:"id"`
	Deployment string            `json:"deployment"`
	Kind       string            `json:"kind"`
	State      string            `json:"state"`
	Error      string            `json:"error,omitempty"`
	Created    time.Time         `json:"created"`
	Started    *time.Time        `json:"started,omitempty"`
	Finished   *time.Time        `json:"finished,omitempty"`
	Summary    map[string]int    `json:"summary,omitempty"`
	Events     int               `json:"events"`
	Outputs    map[string]string `json:"outputs,omitempty"`
}

// Done reports whether the operation ended.
func (o *Operation) Done() bool {
	return o.State == StateSucceeded || o.State == StateFailed || o.State == StateCanceled
}

// Deployment is a managed stack and what was asked of it.
type Deployment struct {
	Name     string `json:"name"`
	Tier     string `json:"tier"`
	Provider string `json:"provider"`
	Region   string `json:"region"`
	// Config holds the stack's plain config ("nano:key" -> value); secret
	// values live only in the stack's encrypted config.
	Config     map[string]string `json:"config"`
	SecretKeys []string          `json:"secretKeys,omitempty"`
	// Mode is "byoc" when the deployment carries its own cloud
	// credentials (Request.Credentials), else "managed".
	Mode    string    `json:"mode,omitempty"`
	Created time.Time `json:"created"`
	LastOp  string    `json:"lastOperation,omitempty"`
	// Status: "creating", "updating", "ready", "failed", "destroying"
	// (a destroyed deployment's record is removed).
	Status string `json:"status"`
	// NeedsRepair is set when an operation was interrupted: the next one
	// first clears stale locks and pending operations.
	NeedsRepair bool `json:"needsRepair,omitempty"`
	// Outputs are the stack's outputs after the last update, secrets
	// masked as "[secret]".
	Outputs map[string]string `json:"outputs,omitempty"`
}

// store keeps deployments and operations as JSON files (atomic writes)
// and each operation's engine events as NDJSON.
type store struct {
	dir string
	mu  sync.Mutex
}

func newStore(dir string) (*store, error) {
	for _, d := range []string{"deployments", "operations"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("cannot create the state directory: %w", err)
		}
	}
	return &store{dir: dir}, nil
}

func (s *store) opPath(id string) string { return filepath.Join(s.dir, "operations", id+".json") }
func (s *store) eventsPath(id string) string {
	return filepath.Join(s.dir, "operations", id+".events.ndjson")
}
func (s *store) depPath(name string) string { return filepath.Join(s.dir, "deployments", name+".json") }

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (s *store) putOp(o *Operation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeJSON(s.opPath(o.ID), o)
}

func (s *store) getOp(id string) (*Operation, error) {
	o := &Operation{}
	if err := readJSON(s.opPath(id), o); err != nil {
		return nil, err
	}
	return o, nil
}

func (s *store) putDeployment(d *Deployment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeJSON(s.depPath(d.Name), d)
}

func (s *store) getDeployment(name string) (*Deployment, error) {
	d := &Deployment{}
	if err := readJSON(s.depPath(name), d); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *store) deleteDeployment(name string) error {
	err := os.Remove(s.depPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *store) deployments() ([]*Deployment, error) {
	files, err := filepath.Glob(filepath.Join(s.dir, "deployments", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Deployment
	for _, f := range files {
		d := &Deployment{}
		if err := readJSON(f, d); err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", f, err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *store) operations() ([]*Operation, error) {
	files, err := filepath.Glob(filepath.Join(s.dir, "operations", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Operation
	for _, f := range files {
		o := &Operation{}
		if err := readJSON(f, o); err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", f, err)
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// appendEvent adds one engine event (a JSON object) to the operation's log.
func (s *store) appendEvent(id string, event []byte) error {
	f, err := os.OpenFile(s.eventsPath(id), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(event, '\n'))
	return err
}

// events returns the operation's events from index from on.
func (s *store) events(id string, from int) ([][]byte, error) {
	b, err := os.ReadFile(s.eventsPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][]byte
	i := 0
	for len(b) > 0 {
		j := 0
		for j < len(b) && b[j] != '\n' {
			j++
		}
		if i >= from && j > 0 {
			out = append(out, b[:j])
		}
		i++
		if j == len(b) {
			break
		}
		b = b[j+1:]
	}
	return out, nil
}
