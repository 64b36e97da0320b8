#!/bin/sh
# The Compose rig's stand-in for the entrypoint of the official
# clickhouse/clickhouse-server image, around Debian's ClickHouse 18.16: the
# parts of the image's documented contract that nano's compose file relies
# on. CLICKHOUSE_USER/CLICKHOUSE_PASSWORD replace the default user
# (users.d/default-user.xml, as the image writes it), CLICKHOUSE_DB is
# created by a server listening on localhost only before the real start,
# the data directory is made the clickhouse user's (101), the server listens
# on every address (the image's config.d/docker_related_config.xml) and
# runs as that user.
# Versions differ: 18.16 reads config files whose root element is <yandex>
# (the image's 25.8 reads <clickhouse> too), so the mounted config.d and
# users.d files are copied with the root renamed into the configuration
# this script assembles under /run, and Debian's listen hosts (localhost)
# are dropped from its config.xml as the image's has none; 18.16 has no
# access_management setting (CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT is
# ignored) and no Prometheus endpoint (the <prometheus> section is ignored).
set -eu
user=${CLICKHOUSE_USER:-default}
pass=${CLICKHOUSE_PASSWORD:-}
db=${CLICKHOUSE_DB:-}
data=/var/lib/clickhouse
conf=/run/clickhouse-server
mkdir -p "$data/tmp" "$data/user_files" "$data/format_schemas" /var/log/clickhouse-server "$conf/config.d" "$conf/users.d"
chown -R 101:101 "$data" /var/log/clickhouse-server
sed -e '/<listen_host>/d' /etc/clickhouse-server/config.xml > "$conf/config.xml"
cp /etc/clickhouse-server/users.xml "$conf/"
for d in config.d users.d; do
  for f in /etc/clickhouse-server/$d/*.xml; do
    [ -e "$f" ] || continue
    sed -e 's#<clickhouse>#<yandex>#; s#</clickhouse>#</yandex>#' "$f" > "$conf/$d/$(basename "$f")"
  done
done
if [ "$user" != default ] || [ -n "$pass" ]; then
  cat > "$conf/users.d/default-user.xml" <<XML
<yandex>
    <users>
        <default remove="remove"></default>
        <$user>
            <profile>default</profile>
            <networks><ip>::/0</ip></networks>
            <password><![CDATA[$pass]]></password>
            <quota>default</quota>
        </$user>
    </users>
</yandex>
XML
fi
chown -R 101:101 "$conf"
if [ -n "$db" ]; then
  setpriv --reuid=101 --regid=101 --clear-groups clickhouse-server --config-file="$conf/config.xml" -- --listen_host=127.0.0.1 &
  pid=$!
  i=0
  until clickhouse-client --user "$user" --password "$pass" --query 'SELECT 1' >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then echo "clickhouse stand-in: the init server did not start" >&2; exit 1; fi
    sleep 0.2
  done
  clickhouse-client --user "$user" --password "$pass" --query "CREATE DATABASE IF NOT EXISTS \`$db\`"
  kill "$pid"
  wait "$pid" || true
fi
# The image's listen hosts, once the init server (localhost only) is gone.
cat > "$conf/config.d/docker_related_config.xml" <<'XML'
<yandex>
    <listen_host>::</listen_host>
    <listen_host>0.0.0.0</listen_host>
    <listen_try>1</listen_try>
</yandex>
XML
chown 101:101 "$conf/config.d/docker_related_config.xml"
exec setpriv --reuid=101 --regid=101 --clear-groups clickhouse-server --config-file="$conf/config.xml"
