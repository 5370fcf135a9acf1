#!/usr/bin/env bash
# Prepare a machine (CI runner or a fresh grading host) to run the Docker
# tests: install the Docker engine and debootstrap from Debian, start dockerd
# if it is not answering, then build the grading image offline
# (docker/build-image.sh --offline). Run as root. Safe to run again: every
# step is skipped when already done.
#
# Environment:
#   DOCKERD_FLAGS   extra dockerd options; when unset, defaults are tried
#                   first and fallbacks chosen from dockerd's log
#   DOCKERD_LOG     dockerd's log file (default /tmp/dockerd.log)
#   SKIP_IMAGE=1    only make sure the engine runs; do not build the image
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
WAIT_SECONDS=60

log() { echo "[ci-setup] $*"; }
die() { echo "ci-setup: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    die "run as root (it installs packages and starts dockerd)"
fi

# --- packages -------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    pkgs="$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
    log "installing $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $pkgs >/dev/null
fi
# docker.io's recommends are skipped; the engine still needs these at run time.
for tool in iptables ip; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        pkg=iptables; [ "$tool" = ip ] && pkg=iproute2
        log "installing $pkg"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null \
            || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null; }
    fi
done

# --- engine ---------------------------------------------------------------
engine_up() { docker info >/dev/null 2>&1; }

wait_engine() {  # $1: pid of the dockerd we started, or empty
    local i
    for i in $(seq 1 "$WAIT_SECONDS"); do
        engine_up && return 0
        if [ -n "${1:-}" ] && ! kill -0 "$1" 2>/dev/null; then
            return 1   # dockerd exited: no point waiting
        fi
        sleep 1
    done
    return 1
}

stop_dockerd() {  # $1: pid of the dockerd we started
    kill "$1" 2>/dev/null || return 0
    local i
    for i in $(seq 1 20); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -9 "$1" 2>/dev/null || true
}

start_dockerd() {  # args: dockerd flags; echoes nothing, sets DOCKERD_PID
    # A pid file left by a dockerd that died blocks the next start.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    echo "=== $(date -u +%FT%TZ) dockerd $*" >>"$LOG"
    setsid nohup dockerd "$@" >>"$LOG" 2>&1 </dev/null &
    DOCKERD_PID=$!
}

if engine_up; then
    log "Docker engine already answering"
elif pidof dockerd >/dev/null 2>&1 && wait_engine ""; then
    log "Docker engine came up (it was already starting)"
else
    pidof dockerd >/dev/null 2>&1 && die "a dockerd process exists but does not answer after ${WAIT_SECONDS} s; see $LOG"
    if [ -n "${DOCKERD_FLAGS:-}" ]; then
        # shellcheck disable=SC2206
        attempts=("$DOCKERD_FLAGS")
    else
        attempts=("")
    fi
    started=0
    i=0
    while [ $i -lt ${#attempts[@]} ]; do
        flags="${attempts[$i]}"
        i=$((i + 1))
        log "starting dockerd ${flags:-(default options)}, log in $LOG"
        mark=$(wc -l <"$LOG" 2>/dev/null || echo 0)
        # shellcheck disable=SC2086
        start_dockerd $flags
        if wait_engine "$DOCKERD_PID"; then
            started=1
            break
        fi
        stop_dockerd "$DOCKERD_PID"
        [ -n "${DOCKERD_FLAGS:-}" ] && break
        # Pick the next attempt from what this one complained about.
        tail_log="$(tail -n +"$((mark + 1))" "$LOG" 2>/dev/null || true)"
        next="$flags"
        if echo "$tail_log" | grep -qiE 'iptables|nat chain|ip6tables|xtables'; then
            case " $next " in *" --iptables=false "*) ;; *) next="$next --iptables=false --ip6tables=false" ;; esac
        fi
        if echo "$tail_log" | grep -qiE 'overlay|storage.driver|graphdriver|driver not supported'; then
            case " $next " in *"--storage-driver"*) ;; *) next="$next --storage-driver=vfs" ;; esac
        fi
        if [ "$next" = "$flags" ]; then
            # Nothing recognisable in the log: try the usual suspects in turn.
            case "$flags" in
                "") next="--iptables=false --ip6tables=false" ;;
                "--iptables=false --ip6tables=false") next="--iptables=false --ip6tables=false --storage-driver=vfs" ;;
                *) next="" ;;
            esac
        fi
        next="$(echo "$next" | xargs)"
        if [ -n "$next" ] && [ "$i" -lt 4 ]; then
            attempts+=("$next")
        fi
    done
    if [ "$started" -ne 1 ]; then
        echo "ci-setup: dockerd did not come up (waited up to ${WAIT_SECONDS} s per attempt). Errors from $LOG:" >&2
        # dockerd logs a lot of gRPC chatter; the errors are what tells why.
        grep -vE 'module=grpc' "$LOG" | grep -iE 'level=(error|fatal)|failed|error' | tail -n 15 >&2 || true
        die "Docker engine unavailable"
    fi
    log "Docker engine up (dockerd ${flags:-with default options}, pid $DOCKERD_PID)"
fi
docker info --format 'server {{.ServerVersion}}, storage driver {{.Driver}}, cgroup v{{.CgroupVersion}}' 2>/dev/null \
    | sed 's/^/[ci-setup] /' || true

# --- image ----------------------------------------------------------------
if [ "${SKIP_IMAGE:-0}" = 1 ]; then
    exit 0
fi
"$HERE/build-image.sh" --offline
