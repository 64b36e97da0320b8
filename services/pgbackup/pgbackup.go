package pgbackup

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/nanosiem/nano/services/backups"
)

const (
	baseDir      = "base/"
	walDir       = "wal/"
	baseArchive  = "base.tar.gz"
	manifestFile = "backup.json"
	// nameLayout is a backup's name: the UTC time it started.
	nameLayout = "20060102T150405Z"
	// partSize bounds what an upload of unknown length holds in memory.
	partSize = 16 << 20
)

// Backup is one finished base backup, as its manifest records it.
type Backup struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// StartLSN and EndLSN bound the WAL a restore replays at least (the
	// backup is consistent from EndLSN on); StartWAL is the segment
	// holding StartLSN, the oldest WAL the backup needs.
	StartLSN string `json:"startLsn"`
	EndLSN   string `json:"endLsn"`
	Timeline uint32 `json:"timeline"`
	StartWAL string `json:"startWal"`
	// Bytes is what the backup stored (gzip), DataBytes the tar's size.
	Bytes         int64  `json:"bytes"`
	DataBytes     int64  `json:"dataBytes"`
	ServerVersion string `json:"serverVersion"`
}

// Backups backs up one PostgreSQL server.
type Backups struct {
	// URL is the server's (postgres://...); its role needs REPLICATION
	// (the Compose tiers' bootstrap superuser has it).
	URL   string
	Store backups.Store
	// Spool is the directory the server's archive_command copies WAL
	// into ("" when only base backups are taken here).
	Spool string
	// Keep is how many base backups are kept (at least 1), with the WAL
	// from the oldest of them on.
	Keep int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (b *Backups) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

// List returns the finished base backups, oldest first.
func (b *Backups) List(ctx context.Context) ([]Backup, error) {
	c, err := b.Store.Client()
	if err != nil {
		return nil, err
	}
	bucket, prefix := b.Store.Bucket()
	var out []Backup
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + baseDir}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("cannot list the PostgreSQL backups in %s: %w", b.Store.URL, obj.Err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix+baseDir), "/")
		if _, err := time.Parse(nameLayout, name); err != nil {
			continue
		}
		m, err := readManifest(ctx, c, bucket, prefix+baseDir+name+"/"+manifestFile)
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL backup %s: %w", name, err)
		}
		if m != nil {
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readManifest reads one; nil when the backup has none (not finished).
func readManifest(ctx context.Context, c *minio.Client, bucket, key string) (*Backup, error) {
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	var m Backup
	if err := json.NewDecoder(obj).Decode(&m); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, nil
		}
		return nil, fmt.Errorf("unreadable manifest: %w", err)
	}
	return &m, nil
}

// counter counts what passes through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Run takes a base backup, then deletes what retention no longer keeps.
func (b *Backups) Run(ctx context.Context) (Backup, error) {
	if b.Keep < 1 {
		return Backup{}, errors.New("keep: at least one base backup")
	}
	existing, err := b.List(ctx)
	if err != nil {
		return Backup{}, err
	}
	start := b.now()
	bk := Backup{Name: start.Format(nameLayout), Started: start}
	if len(existing) > 0 && bk.Name <= existing[len(existing)-1].Name {
		return Backup{}, fmt.Errorf("PostgreSQL backup %s exists already (or the clock went back)", bk.Name)
	}
	conn, err := replicationConn(ctx, b.URL)
	if err != nil {
		return Backup{}, err
	}
	defer conn.Close(context.Background())
	if bk.ServerVersion, err = serverMajor(conn); err != nil {
		return Backup{}, err
	}
	segSize, err := segmentSize(ctx, conn)
	if err != nil {
		return Backup{}, err
	}
	c, err := b.Store.Client()
	if err != nil {
		return Backup{}, err
	}
	bucket, prefix := b.Store.Bucket()
	key := prefix + baseDir + bk.Name + "/"

	// The tar streams through gzip into a multipart upload.
	pr, pw := io.Pipe()
	uploaded := make(chan error, 1)
	var info minio.UploadInfo
	go func() {
		var err error
		info, err = c.PutObject(ctx, bucket, key+baseArchive, pr, -1, minio.PutObjectOptions{ContentType: "application/gzip", PartSize: partSize})
		pr.CloseWithError(err) // unblocks the writer if the upload failed
		uploaded <- err
	}()
	zw := gzip.NewWriter(pw)
	tar := &counter{w: zw}
	startPos, endPos, err := baseBackup(ctx, conn, "nano "+bk.Name, tar)
	if err == nil {
		err = zw.Close()
	}
	pw.CloseWithError(err)
	if upErr := <-uploaded; err == nil {
		err = upErr
	}
	if err != nil {
		return Backup{}, fmt.Errorf("PostgreSQL base backup %s: %w", bk.Name, err)
	}
	bk.Finished = b.now()
	bk.StartLSN, bk.EndLSN, bk.Timeline = formatLSN(startPos.LSN), formatLSN(endPos.LSN), startPos.Timeline
	bk.StartWAL = walFile(startPos.Timeline, startPos.LSN, segSize)
	bk.Bytes, bk.DataBytes = info.Size, tar.n
	body, _ := json.MarshalIndent(bk, "", "  ")
	if _, err := c.PutObject(ctx, bucket, key+manifestFile, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return Backup{}, fmt.Errorf("PostgreSQL base backup %s: cannot write its manifest: %w", bk.Name, err)
	}
	if err := b.prune(ctx, c, append(existing, bk)); err != nil && !backups.DeleteDenied(err) {
		return bk, err
	}
	return bk, nil
}

// prune deletes every base backup but the newest Keep (a store that
// refuses deletes, backups.DeleteDenied, keeps them: its lifecycle rules
// expire them) (and what
// unfinished ones older than the newest left), then the WAL segments
// older than the oldest kept backup's start. Timeline histories stay.
func (b *Backups) prune(ctx context.Context, c *minio.Client, all []Backup) error {
	keep := map[string]bool{}
	for _, bk := range all[max(0, len(all)-b.Keep):] {
		keep[bk.Name] = true
	}
	oldest := all[max(0, len(all)-b.Keep)]
	newest := all[len(all)-1].Name
	bucket, prefix := b.Store.Bucket()
	var doomed []string
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + baseDir}) {
		if obj.Err != nil {
			return obj.Err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix+baseDir), "/")
		if _, err := time.Parse(nameLayout, name); err == nil && !keep[name] && name < newest {
			doomed = append(doomed, name)
		}
	}
	for _, name := range doomed {
		// The manifest first: a half-deleted backup is then unlisted.
		if err := c.RemoveObject(ctx, bucket, prefix+baseDir+name+"/"+manifestFile, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("cannot delete PostgreSQL backup %s: %w", name, err)
		}
		if err := b.Store.RemoveAll(ctx, c, prefix+baseDir+name+"/"); err != nil {
			return fmt.Errorf("cannot delete PostgreSQL backup %s: %w", name, err)
		}
	}
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + walDir}) {
		if obj.Err != nil {
			return obj.Err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix+walDir), ".gz")
		if isSegment(name) && walPosition(name) < walPosition(oldest.StartWAL) {
			if err := c.RemoveObject(ctx, bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
				return fmt.Errorf("cannot delete WAL %s: %w", name, err)
			}
		}
	}
	return nil
}

// isSegment says whether name is a WAL segment's (24 hex digits).
func isSegment(name string) bool {
	if len(name) != 24 {
		return false
	}
	for _, r := range name {
		if !strings.ContainsRune("0123456789ABCDEF", r) {
			return false
		}
	}
	return true
}

// walPosition is a segment's place in WAL whatever its timeline: its name
// without the timeline (fixed-width hex, so it sorts as it runs).
func walPosition(segment string) string { return segment[8:] }
