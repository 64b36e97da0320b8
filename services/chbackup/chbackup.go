// Package chbackup backs nano's ClickHouse database up to object storage
// and restores it, with ClickHouse's own BACKUP and RESTORE to S3(): a full
// backup, then incrementals on the previous one, a new chain every
// FullEvery+1 backups, the newest Keep chains kept.
//
// Each backup is a prefix <Store.URL><name>/ holding ClickHouse's files and,
// written last, nano's manifest (manifestFile): a backup without one did not
// finish and is neither listed nor restored. Names are UTC times
// (20261203T041500Z), so they sort as they were taken.
package chbackup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/nanosiem/nano/services/backups"
)

// manifestFile is nano's record of a finished backup, in its prefix.
const manifestFile = "nano-backup.json"

// nameLayout is a backup's name: the UTC time it started.
const nameLayout = "20060102T150405Z"

// s3 is ClickHouse's S3() backup destination for a backup's name in store.
func s3(store backups.Store, name string) string {
	return fmt.Sprintf("S3('%s%s', '%s', '%s')", store.URL, name, store.AccessKeyID, store.SecretAccessKey)
}

// Backup is one finished backup, as its manifest records it.
type Backup struct {
	Name string `json:"name"`
	// Base is the backup this one is an increment on ("" for a full one).
	Base     string    `json:"base,omitempty"`
	Database string    `json:"database"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Bytes is what this backup stored in the bucket (ClickHouse's
	// compressed_size: an increment stores only what its base lacks),
	// DataBytes ClickHouse's total_size (its base's files included), Files
	// its file count.
	Bytes     int64 `json:"bytes"`
	DataBytes int64 `json:"dataBytes"`
	Files     int64 `json:"files"`
	// ServerVersion is the ClickHouse that took it.
	ServerVersion string `json:"serverVersion"`
}

// Full says whether b is the start of a chain.
func (b Backup) Full() bool { return b.Base == "" }

// Conn runs one statement on ClickHouse and returns its rows with every
// value as text (Native adapts clickhouse-go).
type Conn interface {
	Query(ctx context.Context, sql string) ([][]string, error)
}

// Backups backs up and restores one database.
type Backups struct {
	Conn  Conn
	Store backups.Store
	// Database is nano's; Cluster, when set, runs BACKUP and RESTORE ON
	// CLUSTER (each shard's tables once).
	Database, Cluster string
	// FullEvery is how many incrementals follow a full backup (0: every
	// backup is full); Keep is how many chains are kept (at least 1).
	FullEvery, Keep int
	// Poll is how often a running backup's status is read (default 1s).
	Poll time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (b *Backups) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

func (b *Backups) onCluster() string {
	if b.Cluster == "" {
		return ""
	}
	return " ON CLUSTER `" + b.Cluster + "`"
}

// List returns the finished backups, oldest first.
func (b *Backups) List(ctx context.Context) ([]Backup, error) {
	c, err := b.Store.Client()
	if err != nil {
		return nil, err
	}
	bucket, prefix := b.Store.Bucket()
	var out []Backup
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("cannot list the backups in %s: %w", b.Store.URL, obj.Err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
		if _, err := time.Parse(nameLayout, name); err != nil {
			continue // not a backup of nano's
		}
		m, err := b.manifest(ctx, c, bucket, prefix+name+"/"+manifestFile)
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", name, err)
		}
		if m != nil {
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// manifest reads one; nil when the backup has none (not finished).
func (b *Backups) manifest(ctx context.Context, c *minio.Client, bucket, key string) (*Backup, error) {
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

// chains groups backups (oldest first) into chains, each starting with a
// full backup; increments whose chain start is gone are dropped.
func chains(backups []Backup) [][]Backup {
	var out [][]Backup
	for _, bk := range backups {
		switch {
		case bk.Full():
			out = append(out, []Backup{bk})
		case len(out) > 0 && out[len(out)-1][len(out[len(out)-1])-1].Name == bk.Base:
			out[len(out)-1] = append(out[len(out)-1], bk)
		}
	}
	return out
}

// Run takes one backup (a full one or an increment on the newest), then
// deletes what retention no longer keeps.
func (b *Backups) Run(ctx context.Context) (Backup, error) {
	if b.Keep < 1 {
		return Backup{}, errors.New("keep: at least one chain")
	}
	existing, err := b.List(ctx)
	if err != nil {
		return Backup{}, err
	}
	start := b.now()
	bk := Backup{Name: start.Format(nameLayout), Database: b.Database, Started: start}
	if cs := chains(existing); len(cs) > 0 {
		last := cs[len(cs)-1]
		if len(last) <= b.FullEvery {
			bk.Base = last[len(last)-1].Name
		}
		if bk.Name <= existing[len(existing)-1].Name {
			return Backup{}, fmt.Errorf("backup %s exists already (or the clock went back)", bk.Name)
		}
	}
	if bk.ServerVersion, err = b.serverVersion(ctx); err != nil {
		return Backup{}, err
	}
	sql := fmt.Sprintf("BACKUP DATABASE `%s`%s TO %s", b.Database, b.onCluster(), s3(b.Store, bk.Name))
	if bk.Base != "" {
		sql += " SETTINGS base_backup = " + s3(b.Store, bk.Base)
	}
	status, err := b.await(ctx, sql+" ASYNC", "BACKUP_CREATED")
	if err != nil {
		return Backup{}, fmt.Errorf("backup %s: %w", bk.Name, err)
	}
	bk.Bytes, bk.DataBytes, bk.Files = status.stored, status.total, status.files
	bk.Finished = b.now()
	if err := b.writeManifest(ctx, bk); err != nil {
		return Backup{}, err
	}
	if err := b.prune(ctx, append(existing, bk)); err != nil && !backups.DeleteDenied(err) {
		return bk, err
	}
	return bk, nil
}

// minVersion is the first ClickHouse whose BACKUP to S3() runs ASYNC with
// base backups and reports sizes in system.backups, as used here (an LTS).
var minVersion = [2]int{23, 8}

// serverVersion is the server's version, or why it cannot be backed up or
// restored here.
func (b *Backups) serverVersion(ctx context.Context) (string, error) {
	v, err := b.Conn.Query(ctx, "SELECT version()")
	if err != nil {
		return "", err
	}
	if len(v) == 0 || len(v[0]) == 0 {
		return "", errors.New("SELECT version() returned no row")
	}
	return v[0][0], supported(v[0][0])
}

// supported says why a server cannot be backed up here.
func supported(version string) error {
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return fmt.Errorf("unreadable ClickHouse version %q", version)
	}
	if major < minVersion[0] || (major == minVersion[0] && minor < minVersion[1]) {
		return fmt.Errorf("ClickHouse %s has no BACKUP ... TO S3() as nano uses it: %d.%d or later is needed", version, minVersion[0], minVersion[1])
	}
	return nil
}

// status is a row of system.backups.
type status struct {
	state, err           string
	stored, total, files int64
}

// await starts an ASYNC BACKUP or RESTORE and polls system.backups until
// it ends; done is the state of success.
func (b *Backups) await(ctx context.Context, sql, done string) (status, error) {
	rows, err := b.Conn.Query(ctx, sql)
	if err != nil {
		return status{}, err
	}
	if len(rows) == 0 || len(rows[0]) < 2 {
		return status{}, fmt.Errorf("no operation id from %q", strings.SplitN(sql, " TO ", 2)[0])
	}
	id := rows[0][0]
	if strings.ContainsAny(id, "'\\") {
		return status{}, fmt.Errorf("odd operation id %q", id)
	}
	poll := b.Poll
	if poll <= 0 {
		poll = time.Second
	}
	for {
		rows, err := b.Conn.Query(ctx, "SELECT toString(status), error, toString(compressed_size), toString(total_size), toString(num_files) FROM system.backups WHERE id = '"+id+"'")
		if err != nil {
			return status{}, err
		}
		if len(rows) == 0 {
			return status{}, fmt.Errorf("operation %s is not in system.backups (the server restarted?)", id)
		}
		s := status{state: rows[0][0], err: rows[0][1]}
		fmt.Sscan(rows[0][2], &s.stored)
		fmt.Sscan(rows[0][3], &s.total)
		fmt.Sscan(rows[0][4], &s.files)
		switch {
		case s.state == done:
			return s, nil
		case strings.HasSuffix(s.state, "_FAILED") || strings.HasSuffix(s.state, "_CANCELLED"):
			return s, fmt.Errorf("%s: %s", s.state, s.err)
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("still %s: %w", s.state, ctx.Err())
		case <-time.After(poll):
		}
	}
}

func (b *Backups) writeManifest(ctx context.Context, bk Backup) error {
	c, err := b.Store.Client()
	if err != nil {
		return err
	}
	bucket, prefix := b.Store.Bucket()
	body, _ := json.MarshalIndent(bk, "", "  ")
	_, err = c.PutObject(ctx, bucket, prefix+bk.Name+"/"+manifestFile, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "application/json"})
	if err != nil {
		return fmt.Errorf("backup %s: cannot write its manifest: %w", bk.Name, err)
	}
	return nil
}

// prune deletes every chain but the newest Keep, and what unfinished
// backups older than the newest finished one left behind. A store that
// refuses deletes (backups.DeleteDenied) keeps them: its lifecycle rules
// expire them.
func (b *Backups) prune(ctx context.Context, backups []Backup) error {
	cs := chains(backups)
	keep := map[string]bool{}
	for i, ch := range cs {
		if i >= len(cs)-b.Keep {
			for _, bk := range ch {
				keep[bk.Name] = true
			}
		}
	}
	newest := backups[len(backups)-1].Name
	c, err := b.Store.Client()
	if err != nil {
		return err
	}
	bucket, prefix := b.Store.Bucket()
	var doomed []string
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return obj.Err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
		if _, err := time.Parse(nameLayout, name); err == nil && !keep[name] && name < newest {
			doomed = append(doomed, name)
		}
	}
	for _, name := range doomed {
		// The manifest first: a half-deleted backup is then unlisted.
		if err := c.RemoveObject(ctx, bucket, prefix+name+"/"+manifestFile, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("cannot delete backup %s: %w", name, err)
		}
		if err := b.Store.RemoveAll(ctx, c, prefix+name+"/"); err != nil {
			return fmt.Errorf("cannot delete backup %s: %w", name, err)
		}
	}
	return nil
}

// ErrLive is Restore's refusal to overwrite a database holding rows.
var ErrLive = errors.New("the database holds data")

// Restored is what a restore did.
type Restored struct {
	Backup Backup
	// Rows is each restored table's row count.
	Rows map[string]int64
}

// Restore restores the backup called name ("latest": the newest) into the
// database. A database holding rows is refused (ErrLive) unless replace,
// which drops it first; an empty one (as the api's migrations leave it) is
// replaced.
func (b *Backups) Restore(ctx context.Context, name string, replace bool) (Restored, error) {
	all, err := b.List(ctx)
	if err != nil {
		return Restored{}, err
	}
	var bk *Backup
	for i := range all {
		if all[i].Name == name || (name == "latest" && i == len(all)-1) {
			bk = &all[i]
		}
	}
	if bk == nil {
		return Restored{}, fmt.Errorf("no finished backup %q in %s (%d there)", name, b.Store.URL, len(all))
	}
	if _, err := b.serverVersion(ctx); err != nil {
		return Restored{}, err
	}
	rows, err := b.Conn.Query(ctx, fmt.Sprintf("SELECT toString(sum(ifNull(total_rows, 0))) FROM system.tables WHERE database = '%s'", b.Database))
	if err != nil {
		return Restored{}, err
	}
	var live int64
	fmt.Sscan(rows[0][0], &live)
	if live > 0 && !replace {
		return Restored{}, fmt.Errorf("%w: %s has %d rows; a restore would mix them with the backup's. Stop ingest and restore with replace to drop them first", ErrLive, b.Database, live)
	}
	if _, err := b.Conn.Query(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS `%s`%s SYNC", b.Database, b.onCluster())); err != nil {
		return Restored{}, err
	}
	sql := fmt.Sprintf("RESTORE DATABASE `%s`%s FROM %s ASYNC", b.Database, b.onCluster(), s3(b.Store, bk.Name))
	if _, err := b.await(ctx, sql, "RESTORED"); err != nil {
		return Restored{}, fmt.Errorf("restore of %s: %w", bk.Name, err)
	}
	out := Restored{Backup: *bk, Rows: map[string]int64{}}
	rows, err = b.Conn.Query(ctx, fmt.Sprintf("SELECT name, toString(ifNull(total_rows, 0)) FROM system.tables WHERE database = '%s'", b.Database))
	if err != nil {
		return out, err
	}
	for _, r := range rows {
		var n int64
		fmt.Sscan(r[1], &n)
		out.Rows[r[0]] = n
	}
	return out, nil
}
