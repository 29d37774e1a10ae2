#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests and benchmarks: Debian's package (installed when
# missing), a cluster in a directory of the caller's, listening on 127.0.0.1 at a free port.
#   scripts/postgres.sh start DIR     initdb (first time) and start; prints the environment to use:
#                                     MODELRUNNER_TEST_POSTGRES (a superuser URL), ..._PID, ..._DIR
#   scripts/postgres.sh restart DIR   stops the server (fast: connections are cut) and starts it again on
#                                     the same port
#   scripts/postgres.sh stop DIR      stops it (by the pid in its postmaster.pid)
# The server runs as the `postgres` user when this runs as root (initdb refuses root), else as the caller.
# Role `mr_secret` (password `s3cret`) authenticates with a password, everyone else is trusted.
set -euo pipefail
cmd="${1:?start, restart or stop}"
dir="${2:?a directory for the cluster}"

bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}
if [ -z "$(bindir)" ]; then
    echo "postgres: installing Debian's postgresql" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin="$(bindir)"
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
        port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
password_encryption = 'scram-sha-256'
EOF
        cat >"$dir/data/pg_hba.conf" <<EOF
local all all trust
host all mr_secret 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
EOF
    fi
    port="$(sed -n 's/^port = //p' "$dir/data/postgresql.conf" | tail -1)"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >&2
    "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c \
        "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mr_secret') THEN CREATE ROLE mr_secret LOGIN CREATEDB PASSWORD 's3cret'; END IF; END \$\$;" >&2
    echo "export MODELRUNNER_TEST_POSTGRES='postgresql://postgres@127.0.0.1:$port/postgres'"
    echo "export MODELRUNNER_TEST_POSTGRES_PID='$(head -1 "$dir/data/postmaster.pid")'"
    echo "export MODELRUNNER_TEST_POSTGRES_DIR='$dir'"
    ;;
restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >&2
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        pid="$(head -1 "$dir/data/postmaster.pid")"
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    ;;
*)
    echo "usage: $0 start|restart|stop DIR" >&2
    exit 2
    ;;
esac
