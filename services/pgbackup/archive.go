package pgbackup

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/nanosiem/nano/services/contract"
)

// Archive uploads the spooled WAL files (oldest first) to the store and
// removes each once it is stored; it returns how many it moved and how
// many it left (e.g. after an error).
func (b *Backups) Archive(ctx context.Context) (moved, left int, err error) {
	if b.Spool == "" {
		return 0, 0, errors.New("no WAL spool directory")
	}
	entries, err := os.ReadDir(b.Spool)
	if err != nil {
		return 0, 0, fmt.Errorf("the WAL spool: %w", err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && !strings.HasSuffix(n, contract.WALSpoolSuffix) && !strings.HasPrefix(n, ".") {
			files = append(files, n)
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return 0, 0, nil
	}
	c, err := b.Store.Client()
	if err != nil {
		return 0, len(files), err
	}
	bucket, prefix := b.Store.Bucket()
	for i, name := range files {
		if err := upload(ctx, c, bucket, prefix+walDir+name+".gz", filepath.Join(b.Spool, name)); err != nil {
			return i, len(files) - i, fmt.Errorf("WAL %s: %w", name, err)
		}
		if err := os.Remove(filepath.Join(b.Spool, name)); err != nil {
			return i, len(files) - i, fmt.Errorf("WAL %s stored, but not removed from the spool: %w", name, err)
		}
	}
	return len(files), 0, nil
}

// upload stores the file at path gzipped under key.
func upload(ctx context.Context, c *minio.Client, bucket, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, f)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	_, err = c.PutObject(ctx, bucket, key, pr, -1, minio.PutObjectOptions{ContentType: "application/gzip", PartSize: partSize})
	pr.CloseWithError(err)
	return err
}
