// Package pgbackup backs up nano's PostgreSQL where no operator does (the
// Compose tiers' single server) and restores it to a point in time, with
// PostgreSQL's own protocol: base backups streamed with BASE_BACKUP over a
// replication connection, and the WAL the server's archive_command copies
// into a spool directory, uploaded and removed from it.
//
// The layout under the store's prefix:
//
//	base/<name>/base.tar.gz   the data directory (with the WAL it needs)
//	base/<name>/backup.json   the manifest, written last
//	wal/<file>.gz             archived WAL segments and timeline histories
//
// A base backup without a manifest did not finish and is neither listed
// nor restored. Names are UTC times (20261203T041500Z), so they sort as
// they were taken. The clusters' PostgreSQL is CloudNativePG's, backed up
// by its own Barman Cloud; this package is not used there.
package pgbackup
