#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the test suite and print the DSN export line.
#
#   eval "$(.ci/start-postgres.sh /tmp/qldb-cdc-pg [PORT])"
#
# Installs the Debian 'postgresql' package when no server binaries exist (apt-get update first),
# runs initdb as the 'postgres' user when started as root, starts the cluster in DIR on
# 127.0.0.1:PORT (default: a free port) with durability off, creates the database 'qldb_cdc'
# and prints `export QLDB_CDC_PG_DSN=...` on stdout (all other output goes to stderr).
# Stop it with: pg_ctl -D DIR/data -m fast -w stop (as the postgres user when root).
set -euo pipefail

dir="${1:?usage: start-postgres.sh DIR [PORT]}"
port="${2:-}"

initdb_path() { ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1; }

if [[ -z "$(initdb_path)" ]]; then
  echo "installing postgresql with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends postgresql >&2
fi
bin="$(dirname "$(initdb_path)")"

if [[ -z "$port" ]]; then
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

as_pg=()
if [[ "$(id -u)" == 0 ]]; then
  as_pg=(runuser -u postgres --)
fi

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
data="$dir/data"
chmod 755 "$dir"
if [[ ! -f "$data/PG_VERSION" ]]; then
  mkdir -p "$data"
  if [[ "$(id -u)" == 0 ]]; then chown postgres:postgres "$data"; fi
  "${as_pg[@]}" "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >&2
fi
"${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
  start >&2

"$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA \
  -c "SELECT 1 FROM pg_database WHERE datname = 'qldb_cdc'" | grep -q 1 \
  || "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres qldb_cdc >&2

echo "export QLDB_CDC_PG_DSN=postgresql://postgres@127.0.0.1:${port}/qldb_cdc"
