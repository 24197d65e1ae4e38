#!/usr/bin/env bash
# Test pipeline: starts throwaway PostgreSQL, NATS (JetStream) and Redis
# instances on free loopback ports, locates Chromium, runs `dotnet test` on
# OAuthServer.sln, and prints a one-line summary as the LAST line of output:
#
#   N passed, M failed[, K skipped]
#
# Usage: ops/test.sh [extra dotnet test args...]   e.g. ops/test.sh --filter Foo
#
# Environment exported to the tests:
#   OAUTH_TEST_POSTGRES  Npgsql connection string (role "oauth" is SUPERUSER, so it may create databases)
#   OAUTH_TEST_NATS_URL  nats://127.0.0.1:PORT (JetStream enabled)
#   OAUTH_TEST_REDIS     127.0.0.1:PORT
#   OAUTH_TEST_CHROMIUM  path to the chromium binary
#   OAUTH_TEST_NATS_BIN  path to nats-server, for tests that run (and stop) an instance of their own
#   OAUTH_TEST_REDIS_BIN path to redis-server, likewise
#   OAUTH_TEST_OPENID_CLIENT  tests/openid-client, with panva's openid-client installed by `npm ci` from its lock file
#   OAUTH_TEST_SMTP_PORT 127.0.0.1:PORT is an SMTP server (Debian's python3-aiosmtpd; plain SMTP, no auth) that
#                        delivers every message into OAUTH_TEST_MAILDIR
#   OAUTH_TEST_MAILDIR   the Maildir (new/ holds one file per message) the tests read the password-reset mail from
#   OAUTH_TEST_AXE_CORE  tests/axe-core/node_modules/axe-core/axe.min.js (installed by `npm ci`), the accessibility engine
#
# When CI=true: `dotnet restore --locked-mode` first, then `dotnet build --no-restore` and `dotnet test --no-build`.
# Missing tools are installed with apt-get when running as root (Debian 12).
set -euo pipefail

log() { printf '==> [test.sh] %s\n' "$*"; }
die() { printf '==> [test.sh] ERROR: %s\n' "$*" >&2; exit 2; }

# Teardown state, set as services start. The EXIT trap is installed before anything can fail, so a missing tool or
# a service that won't start still tears down what did start and still ends with a summary line.
tmp=""
nats_pid=""
redis_pid=""
smtp_pid=""
cleaned=false
summary_printed=false

cleanup() {
    $cleaned && return 0
    cleaned=true
    set +e
    log "tearing down services"
    # The helpers come from services.sh; before it is sourced, nothing has started.
    if declare -F stop_postgres >/dev/null; then
        stop_postgres
        stop_pid "$nats_pid"
        stop_pid "$redis_pid"
        stop_pid "$smtp_pid"
    fi
    if [[ "${CI:-}" == "true" ]]; then
        dotnet build-server shutdown >/dev/null 2>&1
    fi
    [[ -n "$tmp" ]] && rm -rf "$tmp"
    set -e
}

# Note: CI reads the last line as the verdict. When the script stops before the tests could run (die, a failing
# command under set -e, a signal), that line says one failure and the exit status stays non-zero.
on_exit() {
    local rc=$?
    cleanup
    if ! $summary_printed; then
        summary_printed=true
        echo "0 passed, 1 failed"
        (( rc != 0 )) || rc=1
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
cd "$repo_root"

export DEBIAN_FRONTEND=noninteractive
export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Don't leave MSBuild worker nodes running after the build (they can keep
# CI output pipes open and linger as orphan processes).
export MSBUILDDISABLENODEREUSE=1

is_root=false
[[ "$(id -u)" -eq 0 ]] && is_root=true

# ---------------------------------------------------------------------------
# 1. Tools
# ---------------------------------------------------------------------------
t_start=$SECONDS

# find_pg_bindir, find_bin, free_ports, as_pg, stop_pid, wait_port, start_postgres, stop_postgres
source "$script_dir/services.sh"

find_chromium() {
    local c
    for c in /usr/bin/chromium /usr/bin/chromium-browser "$(command -v chromium 2>/dev/null || true)"; do
        [[ -n "$c" && -x "$c" ]] && { printf '%s\n' "$c"; return 0; }
    done
    return 0
}

command -v dotnet >/dev/null 2>&1 || die "dotnet SDK not found on PATH (it cannot be installed from Debian's repos; install the .NET 10 SDK)"

missing_pkgs=()
[[ -n "$(find_pg_bindir)" ]]                  || missing_pkgs+=(postgresql)
[[ -n "$(find_bin nats-server)" ]]            || missing_pkgs+=(nats-server)
[[ -n "$(find_bin redis-server)" ]]           || missing_pkgs+=(redis-server)
[[ -n "$(find_bin redis-cli)" ]]              || missing_pkgs+=(redis-tools)
[[ -n "$(find_chromium)" ]]                   || missing_pkgs+=(chromium)
command -v python3      >/dev/null 2>&1       || missing_pkgs+=(python3)
# curl and openssl: the README's admin quickstart script, which a test runs.
command -v curl         >/dev/null 2>&1       || missing_pkgs+=(curl)
command -v openssl      >/dev/null 2>&1       || missing_pkgs+=(openssl)
# node and npm: the certified relying party (openid-client) the conformance tests drive.
command -v node         >/dev/null 2>&1       || missing_pkgs+=(nodejs)
command -v npm          >/dev/null 2>&1       || missing_pkgs+=(npm)
# aiosmtpd: the SMTP server the password-reset mail goes to. Debian's python3 (a python3 earlier on PATH, e.g.
# pyenv's, doesn't see Debian's packages).
SYSTEM_PYTHON=/usr/bin/python3
"$SYSTEM_PYTHON" -c 'import aiosmtpd' >/dev/null 2>&1 || missing_pkgs+=(python3-aiosmtpd)

if (( ${#missing_pkgs[@]} > 0 )); then
    if ! $is_root; then
        die "missing tools (Debian packages: ${missing_pkgs[*]}); run as root to install them automatically, or: sudo apt-get install -y ${missing_pkgs[*]}"
    fi
    log "installing with apt-get: ${missing_pkgs[*]} (apt-get update first)"
    t_inst=$SECONDS
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}" </dev/null
    log "install finished in $(( SECONDS - t_inst ))s"
fi

PG_BIN="$(find_pg_bindir)"
[[ -n "$PG_BIN" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
NATS_BIN="$(find_bin nats-server)";   [[ -n "$NATS_BIN" ]]  || die "nats-server not found"
REDIS_BIN="$(find_bin redis-server)"; [[ -n "$REDIS_BIN" ]] || die "redis-server not found"
REDIS_CLI="$(find_bin redis-cli)"
CHROMIUM_BIN="$(find_chromium)"
[[ -n "$CHROMIUM_BIN" ]] || die "chromium not found"
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
(( node_major >= 20 )) || die "Node.js 20 or later is needed for openid-client (found $(node --version 2>/dev/null || echo none))"
OPENID_CLIENT_DIR="$repo_root/tests/openid-client"
log "installing openid-client (from $OPENID_CLIENT_DIR/package-lock.json) with npm ci"
(cd "$OPENID_CLIENT_DIR" && npm ci --no-audit --no-fund --loglevel=error </dev/null) \
    || die "npm ci failed in $OPENID_CLIENT_DIR (is the npm registry reachable?)"
AXE_CORE_DIR="$repo_root/tests/axe-core"
log "installing axe-core (from $AXE_CORE_DIR/package-lock.json) with npm ci"
(cd "$AXE_CORE_DIR" && npm ci --no-audit --no-fund --loglevel=error </dev/null) \
    || die "npm ci failed in $AXE_CORE_DIR (is the npm registry reachable?)"

# ---------------------------------------------------------------------------
# 2. Temp dir (the teardown is the EXIT trap at the top)
# ---------------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/oauth-test.XXXXXXXX")"
chmod 755 "$tmp"   # the postgres user must be able to traverse it

# ---------------------------------------------------------------------------
# 3. Free ports (bound simultaneously, so they are distinct)
# ---------------------------------------------------------------------------
read -r PG_PORT NATS_PORT REDIS_PORT SMTP_PORT < <(free_ports 4)
[[ -n "${SMTP_PORT:-}" ]] || die "could not pick free ports"

# ---------------------------------------------------------------------------
# 4. Start services
# ---------------------------------------------------------------------------
t_svc=$SECONDS

start_postgres "$PG_PORT" oauth_test \
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"

log "starting nats-server (JetStream) on 127.0.0.1:$NATS_PORT"
mkdir -p "$tmp/nats"
"$NATS_BIN" -js -sd "$tmp/nats" -a 127.0.0.1 -p "$NATS_PORT" -l "$tmp/nats.log" \
    </dev/null >>"$tmp/nats.log" 2>&1 &
nats_pid=$!
wait_port nats-server "$NATS_PORT" "$nats_pid" 30 "$tmp/nats.log"

log "starting redis-server on 127.0.0.1:$REDIS_PORT"
mkdir -p "$tmp/redis"
"$REDIS_BIN" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --dir "$tmp/redis" --logfile "$tmp/redis.log" </dev/null >/dev/null 2>&1 &
redis_pid=$!
wait_port redis-server "$REDIS_PORT" "$redis_pid" 30 "$tmp/redis.log"
if [[ -n "$REDIS_CLI" ]]; then
    for i in $(seq 1 50); do
        [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]] && break
        (( i == 50 )) && die "redis-server does not answer PING"
        sleep 0.1
    done
fi

log "starting aiosmtpd (SMTP into a Maildir) on 127.0.0.1:$SMTP_PORT"
# Note: -n: don't try to drop privileges to 'nobody'; the Mailbox handler creates the Maildir and writes each
# message into new/.
"$SYSTEM_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$tmp/maildir" \
    </dev/null >>"$tmp/smtp.log" 2>&1 &
smtp_pid=$!
wait_port aiosmtpd "$SMTP_PORT" "$smtp_pid" 30 "$tmp/smtp.log"

export OAUTH_TEST_POSTGRES="$PG_CONNECTION"
export OAUTH_TEST_NATS_URL="nats://127.0.0.1:$NATS_PORT"
export OAUTH_TEST_REDIS="127.0.0.1:$REDIS_PORT"
export OAUTH_TEST_CHROMIUM="$CHROMIUM_BIN"
# Tests that stop and restart NATS themselves start their own instance from this binary.
export OAUTH_TEST_NATS_BIN="$NATS_BIN"
export OAUTH_TEST_REDIS_BIN="$REDIS_BIN"
export OAUTH_TEST_OPENID_CLIENT="$OPENID_CLIENT_DIR"
export OAUTH_TEST_SMTP_PORT="$SMTP_PORT"
export OAUTH_TEST_MAILDIR="$tmp/maildir"
export OAUTH_TEST_AXE_CORE="$AXE_CORE_DIR/node_modules/axe-core/axe.min.js"

log "services up in $(( SECONDS - t_svc ))s (tools+services: $(( SECONDS - t_start ))s)"
log "OAUTH_TEST_POSTGRES=$OAUTH_TEST_POSTGRES"
log "OAUTH_TEST_NATS_URL=$OAUTH_TEST_NATS_URL"
log "OAUTH_TEST_REDIS=$OAUTH_TEST_REDIS"
log "OAUTH_TEST_CHROMIUM=$OAUTH_TEST_CHROMIUM"
log "OAUTH_TEST_SMTP_PORT=$OAUTH_TEST_SMTP_PORT (Maildir $OAUTH_TEST_MAILDIR)"

# ---------------------------------------------------------------------------
# 5a. Alert rules: promtool (from Debian's prometheus package, binary only,
#     extracted into the temp folder: no daemon, no dependencies) checks the
#     Prometheus config and runs the alert unit tests. It counts as one test.
# ---------------------------------------------------------------------------
rules_passed=0
rules_failed=0
PROMTOOL="$(find_bin promtool)"
if [[ -z "$PROMTOOL" ]] && $is_root; then
    log "fetching promtool (Debian package prometheus, binary only)"
    fetch_promtool() {
        (cd "$tmp" && apt-get download -q prometheus </dev/null >/dev/null 2>&1 \
            && dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool)
    }
    if fetch_promtool || { apt-get update -q </dev/null >/dev/null 2>&1 && fetch_promtool; }; then
        PROMTOOL="$tmp/usr/bin/promtool"
    fi
fi
if [[ -n "$PROMTOOL" ]]; then
    log "checking ops/prometheus with promtool"
    if "$PROMTOOL" check config ops/prometheus/prometheus.yml && "$PROMTOOL" test rules ops/prometheus/alerts_test.yml; then
        rules_passed=1
    else
        rules_failed=1
        log "promtool: the Prometheus config or the alert rules are wrong (see above)"
    fi
else
    rules_failed=1
    log "promtool is not available, so the alert rules could not be checked"
fi

# ---------------------------------------------------------------------------
# 5. Build + test
# ---------------------------------------------------------------------------
results="$tmp/results"
mkdir -p "$results"
test_rc=0
t_test=$SECONDS
# Note: the whole solution is built first, then tested with --no-build: `dotnet test` alone builds and starts
# each test project as it goes, and the E2E tests run the web samples from their own bin folders, which may not
# be built yet at that moment.
restore_args=()
if [[ "${CI:-}" == "true" ]]; then
    log "dotnet restore OAuthServer.sln --locked-mode"
    dotnet restore OAuthServer.sln --locked-mode </dev/null || { test_rc=$?; log "dotnet restore failed (exit $test_rc)"; }
    restore_args=(--no-restore)
fi
if (( test_rc == 0 )); then
    log "building OAuthServer.sln (Release)"
    dotnet build OAuthServer.sln -c Release "${restore_args[@]}" </dev/null || { test_rc=$?; log "dotnet build failed (exit $test_rc)"; }
fi
if (( test_rc == 0 )); then
    log "running tests (dotnet test -c Release --no-build $*)"
    dotnet test OAuthServer.sln -c Release --no-build --logger "trx" \
        --results-directory "$results" "$@" </dev/null || test_rc=$?
fi
log "dotnet test exited with $test_rc after $(( SECONDS - t_test ))s"

# ---------------------------------------------------------------------------
# 6. Summarise TRX files
# ---------------------------------------------------------------------------
read -r n_files n_passed n_failed n_skipped n_total < <(python3 - "$results" <<'EOF'
import glob, os, sys
import xml.etree.ElementTree as ET
files = sorted(glob.glob(os.path.join(sys.argv[1], "**", "*.trx"), recursive=True))
tot = {"total": 0, "passed": 0, "failed": 0, "skipped": 0}
ok_files = 0
for f in files:
    try:
        root = ET.parse(f).getroot()
    except Exception as e:
        print(f"cannot parse {f}: {e}", file=sys.stderr)
        continue
    c = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Counters"), None)
    if c is None:
        continue
    ok_files += 1
    g = lambda k: int(c.get(k, "0") or 0)
    total, passed = g("total"), g("passed")
    failed = g("failed") + g("error") + g("timeout") + g("aborted")
    tot["total"] += total
    tot["passed"] += passed
    tot["failed"] += failed
    tot["skipped"] += max(total - passed - failed, 0)
print(ok_files, tot["passed"], tot["failed"], tot["skipped"], tot["total"])
EOF
) || { n_files=0; n_passed=0; n_failed=0; n_skipped=0; n_total=0; }

final_rc=0
if (( n_files == 0 )); then
    log "no .trx results were produced (build or restore failure?)"
    n_passed=0; n_failed=1; n_skipped=0
    final_rc=1
else
    if (( test_rc != 0 && n_failed == 0 )); then
        log "dotnet test failed (exit $test_rc) without a failing test in the results (build error or crashed test host?); counting it as 1 failure"
        n_failed=1
    fi
    if (( n_failed > 0 || test_rc != 0 )); then
        final_rc=1
    elif (( n_passed == 0 )); then
        log "no tests passed / ran"
        final_rc=1
    fi
fi

n_passed=$(( n_passed + rules_passed ))
n_failed=$(( n_failed + rules_failed ))
(( rules_failed == 0 )) || final_rc=1
summary="$n_passed passed, $n_failed failed"
(( n_skipped > 0 )) && summary+=", $n_skipped skipped"

cleanup
summary_printed=true
echo "$summary"
exit "$final_rc"
