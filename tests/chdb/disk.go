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
// filesystem meanwhile.
func OpenNearlyFull(dir string, free float64) (*Engine, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("cannot read the filesystem of %s: %w", dir, err)
	}
	total, avail := st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
	want := uint64(free * float64(total))
	if want > avail {
		return nil, fmt.Errorf("the filesystem of %s has %d of %d bytes free, less than the %.0f%% asked", dir, avail, total, free*100)
	}
	cfg := filepath.Join(dir, "nearly-full.xml")
	xml := fmt.Sprintf(`<clickhouse><storage_configuration><disks><default><keep_free_space_bytes>%d</keep_free_space_bytes></default></disks></storage_configuration></clickhouse>`, avail-want)
	if err := os.WriteFile(cfg, []byte(xml), 0o644); err != nil {
		return nil, err
	}
	return OpenWith(filepath.Join(dir, "data"), "--config-file="+cfg)
}
