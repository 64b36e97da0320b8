package chdb

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// OpenNearlyFull opens an engine with its data in dir whose default disk
// has only about free (a share, 0-1) of its filesystem free as the engine
// sees it: the disk keeps the rest of what is available free
// (keep_free_space_bytes, which ClickHouse subtracts from the free space
// it reports in system.disks and reserves for itself), as a filesystem
// that full would. The share drifts with what others write to the
// filesystem meanwhile. A filesystem with less than free available leaves
// four fifths of what it has (the share returned): still a nearly full
// disk, so the tests hold on a crowded machine too; below 0.5% it is an
// error.
func OpenNearlyFull(dir string, free float64) (*Engine, float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil, 0, fmt.Errorf("cannot read the filesystem of %s: %w", dir, err)
	}
	total, avail := st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
	want := uint64(free * float64(total))
	if want > avail {
		want = avail / 5 * 4
		free = float64(want) / float64(total)
	}
	if free < 0.005 {
		return nil, 0, fmt.Errorf("the filesystem of %s has %d of %d bytes free: too little to leave a share of it free", dir, avail, total)
	}
	cfg := filepath.Join(dir, "nearly-full.xml")
	xml := fmt.Sprintf(`<clickhouse><storage_configuration><disks><default><keep_free_space_bytes>%d</keep_free_space_bytes></default></disks></storage_configuration></clickhouse>`, avail-want)
	if err := os.WriteFile(cfg, []byte(xml), 0o644); err != nil {
		return nil, 0, err
	}
	e, err := OpenWith(filepath.Join(dir, "data"), "--config-file="+cfg)
	return e, free, err
}
