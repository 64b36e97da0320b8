package contract

import "fmt"

// WALSpoolSuffix ends the name of a WAL file PostgresArchiveCommand is
// still copying into the spool; the api's archiver skips such files.
const WALSpoolSuffix = ".tmp"

// PostgresArchiveCommand is PostgreSQL's archive_command spooling WAL into
// dir (shared with the api, which moves it to the bucket): a copy under a
// temporary name, renamed when complete, so half a file is never uploaded.
func PostgresArchiveCommand(dir string) string {
	return fmt.Sprintf("cp %%p %s/%%f%s && mv %s/%%f%s %s/%%f", dir, WALSpoolSuffix, dir, WALSpoolSuffix, dir)
}
