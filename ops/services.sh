# Shared service start-up for ops/test.sh and ops/bench.sh (sourced, not run).
#
# The caller defines log() and die(), sets `is_root` (true/false) and `tmp` (a temp folder the postgres user
# can traverse), and calls stop_postgres from its teardown. Functions:
#   find_pg_bindir, find_bin NAME, free_ports N, wait_port NAME PORT PID TIMEOUT LOGFILE, stop_pid PID,
#   as_pg CMD...  (a PostgreSQL tool as the postgres user when root: initdb refuses root)
#   start_postgres PORT DATABASE [SERVER_OPTIONS]: a throwaway cluster in $tmp/pg, role oauth/oauth (SUPERUSER)
#       owning DATABASE; sets PG_BIN, PG_DATA and PG_CONNECTION (an Npgsql connection string).
#   stop_postgres

find_pg_bindir() {
    # Highest installed server version under /usr/lib/postgresql/<ver>/bin.
    local d best="" bestver=-1 ver
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] || continue
        ver="$(basename "$(dirname "$d")")"
        ver="${ver%%.*}"
        [[ "$ver" =~ ^[0-9]+$ ]] || continue
        if (( ver > bestver )); then bestver=$ver; best=$d; fi
    done
    [[ -n "$best" ]] && printf '%s\n' "$best"
    return 0
}

find_bin() {  # find_bin NAME: PATH first, then the sbin/bin dirs (nats-server lives in /usr/sbin)
    local c
    c="$(command -v "$1" 2>/dev/null || true)"
    if [[ -n "$c" && -x "$c" ]]; then printf '%s\n' "$c"; return 0; fi
    for c in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin /sbin /bin; do
        [[ -x "$c/$1" ]] && { printf '%s\n' "$c/$1"; return 0; }
    done
    return 0
}

free_ports() {  # free_ports N: N distinct free loopback ports (bound simultaneously), space-separated
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# Run a PostgreSQL server tool as the postgres user when root (initdb refuses root).
as_pg() {
    if $is_root; then
        (cd "$tmp" && runuser -u postgres -- "$@")
    else
        (cd "$tmp" && "$@")
    fi
}

stop_pid() {  # stop_pid PID: TERM, wait up to 5s, then KILL
    local pid=$1 i
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

wait_port() {  # wait_port NAME PORT PID TIMEOUT_S LOGFILE
    local name=$1 port=$2 pid=$3 timeout=$4 logf=$5 i
    for (( i = 0; i < timeout * 10; i++ )); do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            echo "--- $logf ---" >&2; cat "$logf" >&2 2>/dev/null || true
            die "$name exited during startup"
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "--- $logf ---" >&2; cat "$logf" >&2 2>/dev/null || true
    die "$name did not accept connections on 127.0.0.1:$port within ${timeout}s"
}

pg_started=false

start_postgres() {  # start_postgres PORT DATABASE [SERVER_OPTIONS]
    local port=$1 database=$2 server_options=${3:-} i
    PG_BIN="$(find_pg_bindir)"
    [[ -n "$PG_BIN" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    if $is_root; then
        id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (is the postgresql package installed?)"
    fi
    PG_DATA="$tmp/pg/data"
    local sock="$tmp/pg/sock"
    log "starting PostgreSQL ($PG_BIN) on 127.0.0.1:$port"
    mkdir -p "$PG_DATA" "$sock"
    chmod 700 "$PG_DATA"
    $is_root && chown -R postgres:postgres "$tmp/pg"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $sock $server_options" \
        start </dev/null >/dev/null 2>&1 || { cat "$PG_DATA/server.log" >&2 2>/dev/null || true; die "PostgreSQL failed to start"; }
    pg_started=true
    for i in $(seq 1 100); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        (( i == 100 )) && die "PostgreSQL not ready (pg_isready)"
        sleep 0.1
    done
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE oauth LOGIN SUPERUSER CREATEDB PASSWORD 'oauth'" \
        -c "CREATE DATABASE $database OWNER oauth" </dev/null \
        || die "could not create role/database"
    PG_CONNECTION="Host=127.0.0.1;Port=$port;Username=oauth;Password=oauth;Database=$database"
}

stop_postgres() {
    [[ -n "${PG_DATA:-}" ]] || return 0
    if $pg_started || [[ -f "$PG_DATA/postmaster.pid" ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 20 stop >/dev/null 2>&1
        if [[ -f "$PG_DATA/postmaster.pid" ]]; then
            local pm; pm="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null)"
            [[ "$pm" =~ ^[0-9]+$ ]] && kill -KILL "$pm" 2>/dev/null
        fi
    fi
    return 0
}
