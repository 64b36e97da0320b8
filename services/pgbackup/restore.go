package pgbackup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// RestoreWALDir is where, in the restored data directory, Restore puts the
// WAL the server replays (its restore_command copies from there). It may
// be deleted once the server has finished recovery.
const RestoreWALDir = "nano-restore-wal"

// ErrLive is Restore's refusal to overwrite a data directory.
var ErrLive = errors.New("the data directory holds a database")

// Restored is what a restore prepared.
type Restored struct {
	Backup Backup
	// Target is the time recovery stops at (zero: the end of the WAL).
	Target time.Time
	// WALFiles is how many archived WAL files it fetched.
	WALFiles int
}

// Pick is the base backup a restore to target starts from: the one named
// name, or with name "latest" the newest that finished before target
// (the newest of all when target is zero).
func Pick(all []Backup, name string, target time.Time) (Backup, error) {
	var found *Backup
	for i := range all {
		switch {
		case name != "latest" && all[i].Name == name:
			found = &all[i]
		case name == "latest" && (target.IsZero() || all[i].Finished.Before(target)):
			found = &all[i]
		}
	}
	switch {
	case found == nil && name == "latest" && !target.IsZero() && len(all) > 0:
		return Backup{}, fmt.Errorf("no PostgreSQL backup finished before %s (the oldest finished %s)", target.Format(time.RFC3339), all[0].Finished.Format(time.RFC3339))
	case found == nil:
		return Backup{}, fmt.Errorf("no finished PostgreSQL backup %q (%d there)", name, len(all))
	case !target.IsZero() && !found.Finished.Before(target):
		return Backup{}, fmt.Errorf("backup %s finished %s, not before the target %s", found.Name, found.Finished.Format(time.RFC3339), target.Format(time.RFC3339))
	}
	return *found, nil
}

// Restore fills dir, the stopped server's data directory, with base backup
// name ("latest": see Pick) and the archived WAL after it, and sets the
// server to recover to target (zero: all the WAL there is) and then open.
// A dir holding anything is refused (ErrLive) unless replace, which
// empties it first; a running server's (postmaster.pid) is always refused.
func (b *Backups) Restore(ctx context.Context, dir, name string, target time.Time, replace bool) (Restored, error) {
	all, err := b.List(ctx)
	if err != nil {
		return Restored{}, err
	}
	bk, err := Pick(all, name, target)
	if err != nil {
		return Restored{}, err
	}
	if err := emptyDir(dir, replace); err != nil {
		return Restored{}, err
	}
	c, err := b.Store.Client()
	if err != nil {
		return Restored{}, err
	}
	bucket, prefix := b.Store.Bucket()
	obj, err := c.GetObject(ctx, bucket, prefix+baseDir+bk.Name+"/"+baseArchive, minio.GetObjectOptions{})
	if err != nil {
		return Restored{}, err
	}
	err = untar(obj, dir)
	obj.Close()
	if err != nil {
		return Restored{}, fmt.Errorf("base backup %s: %w", bk.Name, err)
	}
	out := Restored{Backup: bk, Target: target}
	wal := filepath.Join(dir, RestoreWALDir)
	if err := os.Mkdir(wal, 0o700); err != nil {
		return out, err
	}
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + walDir}) {
		if o.Err != nil {
			return out, fmt.Errorf("cannot list the archived WAL: %w", o.Err)
		}
		file := strings.TrimSuffix(strings.TrimPrefix(o.Key, prefix+walDir), ".gz")
		if strings.ContainsAny(file, "/\\") || file == "" || file[0] == '.' {
			continue
		}
		if isSegment(file) && walPosition(file) < walPosition(bk.StartWAL) {
			continue // before the backup: not replayed
		}
		if err := fetch(ctx, c, bucket, o.Key, filepath.Join(wal, file)); err != nil {
			return out, fmt.Errorf("WAL %s: %w", file, err)
		}
		out.WALFiles++
	}
	if err := os.WriteFile(filepath.Join(dir, "recovery.signal"), nil, 0o600); err != nil {
		return out, err
	}
	conf := fmt.Sprintf("\n# nano: restore of base backup %s\nrestore_command = 'cp %s/%%f \"%%p\"'\nrecovery_target_timeline = 'latest'\nrecovery_target_action = 'promote'\n", bk.Name, RestoreWALDir)
	if !target.IsZero() {
		conf += fmt.Sprintf("recovery_target_time = '%s'\n", target.UTC().Format("2006-01-02 15:04:05.999999+00"))
	}
	f, err := os.OpenFile(filepath.Join(dir, "postgresql.auto.conf"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return out, err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return out, err
	}
	return out, f.Close()
}

// emptyDir makes sure dir exists and is empty, emptying it with replace.
func emptyDir(dir string, replace bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err == nil {
		return fmt.Errorf("%w: %s has postmaster.pid: stop PostgreSQL first (if it is stopped, the file is stale: delete it)", ErrLive, dir)
	}
	if !replace {
		what := "files"
		if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
			what = "a database (PG_VERSION)"
		}
		return fmt.Errorf("%w: %s holds %s; restore with replace to delete them first", ErrLive, dir, what)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// untar writes the gzipped tar r into dir: directories, regular files and
// (PostgreSQL's data directory has none of its own) no links.
func untar(r io.Reader, dir string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%q: outside the data directory", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFile(path, tr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%q: a %q entry (links and tablespaces are not restored here)", h.Name, h.Typeflag)
		}
	}
}

func writeFile(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fetch writes the gzipped object key, unzipped, to path.
func fetch(ctx context.Context, c *minio.Client, bucket, key, path string) error {
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	zr, err := gzip.NewReader(obj)
	if err != nil {
		return err
	}
	return writeFile(path, zr)
}
