#!/usr/bin/env bash
# Build the local base image activation-grader-base:bookworm-2 without Docker Hub.
#
# The grading image normally starts FROM python:3.11-slim-bookworm. Machines that
# can reach the Debian archive but not a container registry (CI, air-gapped
# graders) build an equivalent base here: a minimal Debian bookworm root file
# system made with debootstrap, with python3, python3-venv and ca-certificates,
# imported as an image with `docker import`.
#
# Usage: docker/build-base-offline.sh [--force] [--tag TAG]
#   --force   rebuild even if the image already exists
#   --tag     image name (default: activation-grader-base:bookworm-2)
# Environment:
#   DEBIAN_MIRROR  archive URL (default: taken from the host's apt sources)
#
# Idempotent: exits at once when the image is already present.
set -euo pipefail

TAG="activation-grader-base:bookworm-2"
FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --force) FORCE=1 ;;
        --tag) TAG="${2:?--tag needs a value}"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "build-base-offline: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "[build-base] $*"; }

if ! docker info >/dev/null 2>&1; then
    echo "build-base-offline: the Docker engine is not reachable (run docker/ci-setup.sh)" >&2
    exit 1
fi

if [ "$FORCE" -eq 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    log "$TAG already exists; skipping (use --force to rebuild)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "build-base-offline: debootstrap needs root" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "build-base-offline: debootstrap is not installed (apt-get install -y debootstrap)" >&2
    exit 1
fi

# The mirror the host itself uses is the one known to be reachable.
find_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then
        echo "$DEBIAN_MIRROR"; return
    fi
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822 stanzas: take the URIs of the first stanza whose Suites include bookworm
        uri=$(awk '
            /^[[:space:]]*$/ { if (u != "" && s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/) { print u; exit } u=""; s=""; next }
            /^URIs:/   { u=$2 }
            /^Suites:/ { $1=""; s=$0 }
            END { if (u != "" && s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/) print u }
        ' "$f" | head -n1)
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" && $3 == "bookworm" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' "$f" | head -n1)
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    echo "http://deb.debian.org/debian"
}

MIRROR="$(find_mirror)"
WORK="$(mktemp -d /var/tmp/activation-grader-base.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"

start=$(date +%s)
log "debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase \
    --include=python3,python3-venv,ca-certificates,curl,unzip,dos2unix,wget \
    bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
        tail -n 40 "$WORK/debootstrap.log" >&2
        echo "build-base-offline: debootstrap failed" >&2
        exit 1
    }

log "trimming the root file system"
# Same trimming the official slim images do: package caches, docs, man pages.
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/cache/debconf/*-old \
       "$ROOTFS"/var/log/* \
       "$ROOTFS"/usr/share/doc/* \
       "$ROOTFS"/usr/share/man/* \
       "$ROOTFS"/usr/share/info/* \
       "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
# Keep the standard library's .pyc files (byte-compiled by the package
# scripts): containers run with a read-only root and could not write them.
# Containers get their own resolv.conf and hostname from the engine.
: >"$ROOTFS/etc/resolv.conf"
: >"$ROOTFS/etc/hostname"

log "importing as $TAG"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap minbase bookworm + python3, python3-venv, ca-certificates" \
    - "$TAG" >/dev/null

log "built $TAG in $(( $(date +%s) - start )) s ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
