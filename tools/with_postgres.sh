#!/usr/bin/env bash
# Runs a command with a PostgreSQL server of its own: a fresh cluster (initdb) in a temporary
# folder, started on a free local port, stopped and deleted when the command ends, whatever
# way it ends. No running service is assumed. PostgreSQL refuses to run as root: as root, the
# server runs as the `postgres` user Debian's package creates.
#
# The command sees MAGICTIME_TEST_POSTGRES=postgres://postgres@127.0.0.1:<port> (a superuser
# that may create databases; no password, local connections only) and PGBIN (the server's
# programs).
#
#   tools/with_postgres.sh cargo test --release -p magictime-tests
set -euo pipefail

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "with_postgres: no PostgreSQL server under /usr/lib/postgresql (make deps-apt installs it)" >&2
  exit 2
fi
as_pg=()
if [ "$(id -u)" = 0 ]; then
  as_pg=(runuser -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/magictime-pg.XXXXXX")
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
stop() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

"${as_pg[@]}" "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Connections: every test server and worker holds a pool of up to 8.
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }

export MAGICTIME_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port"
export PGBIN
echo "with_postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
