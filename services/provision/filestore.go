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
	"syscall"
)

// fileStore, the embedded default, keeps deployments and operations as
// JSON files (atomic writes) and each operation's engine events as NDJSON
// in the data directory. One process uses it: it holds an exclusive lock
// on the directory, and its per-deployment locks are in memory.
type fileStore struct {
	dir   string
	mu    sync.Mutex
	held  map[string]bool
	flock *os.File
}

func newFileStore(dir string) (*fileStore, error) {
	for _, d := range []string{"deployments", "operations"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("cannot create the state directory: %w", err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "store.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another endpoint process uses the data directory %s (one process per data directory; "+
			"replicas share a PostgreSQL store: --store postgres://...): %w", dir, err)
	}
	return &fileStore{dir: dir, held: map[string]bool{}, flock: f}, nil
}

func (s *fileStore) shared() bool { return false }

func (s *fileStore) close() { s.flock.Close() }

func (s *fileStore) lock(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[name] {
		return false, nil
	}
	s.held[name] = true
	return true, nil
}

func (s *fileStore) unlock(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, name)
	return nil
}

func (s *fileStore) keepLocks() ([]string, error) { return nil, nil }

// The workspace's own settings file is the only copy.
func (s *fileStore) putStackSettings(string, []byte) error { return nil }
func (s *fileStore) stackSettings(string) ([]byte, error)  { return nil, nil }

// Operations run in this process, which cancels them itself.
func (s *fileStore) requestCancel(string) error              { return nil }
func (s *fileStore) cancelRequests(string) ([]string, error) { return nil, nil }

func (s *fileStore) opPath(id string) string { return filepath.Join(s.dir, "operations", id+".json") }
func (s *fileStore) eventsPath(id string) string {
	return filepath.Join(s.dir, "operations", id+".events.ndjson")
}
func (s *fileStore) depPath(name string) string {
	return filepath.Join(s.dir, "deployments", name+".json")
}

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

func (s *fileStore) putOp(o *Operation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeJSON(s.opPath(o.ID), o)
}

func (s *fileStore) getOp(id string) (*Operation, error) {
	o := &Operation{}
	if err := readJSON(s.opPath(id), o); err != nil {
		return nil, err
	}
	return o, nil
}

func (s *fileStore) putDeployment(d *Deployment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeJSON(s.depPath(d.Name), d)
}

func (s *fileStore) getDeployment(name string) (*Deployment, error) {
	d := &Deployment{}
	if err := readJSON(s.depPath(name), d); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *fileStore) deleteDeployment(name string) error {
	err := os.Remove(s.depPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *fileStore) deployments() ([]*Deployment, error) {
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

func (s *fileStore) unfinished() ([]*Operation, error) {
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
		if !o.Done() {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// appendEvent adds one engine event (a JSON object) to the operation's log.
func (s *fileStore) appendEvent(id string, event []byte) error {
	f, err := os.OpenFile(s.eventsPath(id), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(event, '\n'))
	return err
}

// events returns the operation's events from index from on.
func (s *fileStore) events(id string, from int) ([][]byte, error) {
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

// nextUID counts in <dir>/uid-counter (one process holds the directory).
func (s *fileStore) nextUID() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, "uid-counter")
	var n uint64
	if err := readJSON(path, &n); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	n++
	return n, writeJSON(path, n)
}

// tokenFile is a token as the file store keeps it: with its hash.
type tokenFile struct {
	*Token
	Hash string `json:"hash"`
}

func (s *fileStore) tokenPath(id string) string { return filepath.Join(s.dir, "tokens", id+".json") }

func (s *fileStore) putToken(t *Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(s.dir, "tokens"), 0o700); err != nil {
		return err
	}
	return writeJSON(s.tokenPath(t.ID), tokenFile{Token: t, Hash: t.Hash})
}

func (s *fileStore) allTokens() ([]*Token, error) {
	files, err := filepath.Glob(filepath.Join(s.dir, "tokens", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Token
	for _, f := range files {
		tf := tokenFile{Token: &Token{}}
		if err := readJSON(f, &tf); err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", f, err)
		}
		tf.Token.Hash = tf.Hash
		out = append(out, tf.Token)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

func (s *fileStore) tokens(deployment string) ([]*Token, error) {
	all, err := s.allTokens()
	if err != nil {
		return nil, err
	}
	var out []*Token
	for _, t := range all {
		if deployment == "" || t.Deployment == deployment {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *fileStore) tokenByHash(hash string) (*Token, error) {
	all, err := s.allTokens()
	if err != nil {
		return nil, err
	}
	for _, t := range all {
		if t.Hash == hash {
			return t, nil
		}
	}
	return nil, ErrNotFound
}

func (s *fileStore) deleteToken(id string) error {
	err := os.Remove(s.tokenPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

func (s *fileStore) deleteTokens(deployment string) error {
	ts, err := s.tokens(deployment)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := s.deleteToken(t.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}
