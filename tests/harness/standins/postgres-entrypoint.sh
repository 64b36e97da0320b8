#!/bin/sh
# The Compose rig's stand-in for the entrypoint of the official postgres
# image, around Debian's PostgreSQL 15: the parts of the image's documented
# contract that nano's compose file relies on. At first start (PGDATA holds
# no cluster) initdb runs as postgres (999) with POSTGRES_USER as the
# superuser and POSTGRES_PASSWORD as its password, network clients must
# authenticate with scram-sha-256 (the image's POSTGRES_HOST_AUTH_METHOD
# default), and POSTGRES_DB is created by a server listening on no address;
# then the server runs as postgres, listening on every address, with the
# container's command's arguments after "postgres" (as the image's
# entrypoint runs "postgres -c ..." commands). Another command (psql) is
# run as it is.
set -eu
# Any other command (psql for the roles) runs as it is, as the official
# entrypoint runs commands that are not the server's.
case "${1:-postgres}" in
postgres | -*) ;;
*) exec "$@" ;;
esac
if [ "$#" -gt 0 ] && [ "$1" = postgres ]; then shift; fi
: "${POSTGRES_PASSWORD:?the official image refuses to start without POSTGRES_PASSWORD}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
mkdir -p "$PGDATA" /var/run/postgresql
chown 999:999 "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
chmod 3777 /var/run/postgresql
run() { setpriv --reuid=999 --regid=999 --clear-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" > "$pw"
  chown 999:999 "$pw"
  run initdb --username="$user" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  run pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$db" != postgres ]; then
    run psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres --quiet -c "CREATE DATABASE \"$db\""
  fi
  run pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec setpriv --reuid=999 --regid=999 --clear-groups postgres -c listen_addresses='*' "$@"
