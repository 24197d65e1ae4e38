#!/usr/bin/env bash
# Benchmark: starts a throwaway PostgreSQL on a free loopback port (the same start-up as ops/test.sh, from
# ops/services.sh), builds the server and tests/OAuthServer.Benchmarks in Release, and runs the benchmark
# against it. Not run by CI (CI only builds the tool).
#
# Usage: ops/bench.sh [benchmark options...]   e.g. ops/bench.sh --workers 32 --duration 10 --repeat 3
#        (ops/bench.sh --help lists them; the results table and JSON lines go to standard output)
#
# PostgreSQL runs with its durable defaults (fsync and synchronous_commit on), unlike the test instance:
# the refresh and sign-in numbers include real commits, as in production.
#
# The peer: discovery, jwks, client_credentials and refresh also run against panva's oidc-provider
# (tests/OAuthServer.Benchmarks/peer, installed here with `npm ci` from its lock file; the tool starts and
# stops it as its own node process). Without node or the npm registry this fails; --no-peer runs without it.
set -euo pipefail

log() { printf '==> [bench.sh] %s\n' "$*" >&2; }
die() { printf '==> [bench.sh] ERROR: %s\n' "$*" >&2; exit 2; }

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
cd "$repo_root"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 MSBUILDDISABLENODEREUSE=1

is_root=false
[[ "$(id -u)" -eq 0 ]] && is_root=true

# shellcheck source=ops/services.sh
source "$script_dir/services.sh"

command -v dotnet >/dev/null 2>&1 || die "dotnet SDK not found on PATH"
command -v python3 >/dev/null 2>&1 || die "python3 not found"
if [[ -z "$(find_pg_bindir)" ]]; then
    $is_root || die "PostgreSQL is not installed: sudo apt-get install -y postgresql"
    log "installing postgresql with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql </dev/null
fi

peer_dir="$repo_root/tests/OAuthServer.Benchmarks/peer"
with_peer=true
for arg in "$@"; do
    [[ "$arg" == "--no-peer" ]] && with_peer=false
done
if $with_peer; then
    command -v node >/dev/null 2>&1 || die "node not found on PATH: the peer (oidc-provider) needs Node.js 20 or later; or pass --no-peer"
    command -v npm >/dev/null 2>&1 || die "npm not found on PATH: it installs the peer (oidc-provider); or pass --no-peer"
    log "installing the peer (oidc-provider, from $peer_dir/package-lock.json) with npm ci"
    if ! (cd "$peer_dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null >&2); then
        die "npm ci failed in $peer_dir, so the peer cannot run (is the npm registry reachable?); pass --no-peer to benchmark without it"
    fi
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/oauth-bench.XXXXXXXX")"
chmod 755 "$tmp"   # the postgres user must be able to traverse it
cleanup() {
    set +e
    log "stopping PostgreSQL"
    stop_postgres
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r PG_PORT < <(free_ports 1)
start_postgres "$PG_PORT" oauth_bench "-c max_connections=300 -c shared_buffers=256MB"

log "building the server and the benchmark (Release)"
dotnet build src/OAuthServer/OAuthServer.csproj -c Release -v quiet -nologo </dev/null >&2
dotnet build tests/OAuthServer.Benchmarks/OAuthServer.Benchmarks.csproj -c Release -v quiet -nologo </dev/null >&2

export OAUTH_BENCH_POSTGRES="$PG_CONNECTION"
log "running: OAuthServer.Benchmarks $*"
rc=0
dotnet tests/OAuthServer.Benchmarks/bin/Release/net10.0/OAuthServer.Benchmarks.dll \
    --server-dll "$repo_root/src/OAuthServer/bin/Release/net10.0/OAuthServer.dll" --peer-dir "$peer_dir" "$@" </dev/null || rc=$?
exit "$rc"
