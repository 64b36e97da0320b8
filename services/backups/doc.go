// Package backups holds what nano's backups share, whatever they back up:
// the object storage they go to (Store) and the schedule the api leader
// runs them on (Schedule, with its metrics). services/chbackup backs up
// ClickHouse, services/pgbackup PostgreSQL on the Compose tiers.
package backups
