package harness

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The provisioning endpoint runs each deployment's Pulumi CLI and plugins
// as a uid of its own (--isolation uid), which must reach the CLI, the
// plugins and its workspace. The test cache (~/.cache/nano under root's
// 0700 home) and t.TempDir() (0700) are not reachable by other users: these
// helpers make what the tests give the endpoint reachable, without opening
// anything of the machine's own.

// Traversable makes dir and its ancestors below the system's temporary
// directory searchable by others (0711: no listing), as a data directory
// the deployments' uids reach their workspaces through.
func Traversable(dir string) error {
	tmp := filepath.Clean(os.TempDir())
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(abs, tmp+string(filepath.Separator)) {
		return fmt.Errorf("%s is not below %s", abs, tmp)
	}
	for d := abs; d != tmp; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
			return err
		}
	}
	return nil
}

// StageForOperations returns, for each directory of executables (a PATH
// entry, a Pulumi install root's bin), a directory every user can run them
// from: the directory itself when it is, else a directory under stage with
// hard links to (or, across filesystems, copies of) its files. stage must
// be made Traversable. An entry that does not exist is left out.
func StageForOperations(stage string, dirs ...string) ([]string, error) {
	var out []string
	for i, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue // a PATH entry that is not there
		}
		if reachable(dir) {
			out = append(out, dir)
			continue
		}
		dst := filepath.Join(stage, fmt.Sprintf("bin-%d", i))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return nil, err
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			src, to := filepath.Join(dir, e.Name()), filepath.Join(dst, e.Name())
			if _, err := os.Lstat(to); err == nil {
				continue
			}
			if err := os.Link(src, to); err != nil {
				if err := copyFile(src, to); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, dst)
	}
	return out, nil
}

// reachable reports whether others can traverse every directory on dir's
// way and dir itself.
func reachable(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for d := abs; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
