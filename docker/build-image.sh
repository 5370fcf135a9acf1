#!/usr/bin/env bash
# Build the grading image activation-grader:latest (plus a tag with the
# project version from pyproject.toml).
#
# Usage: docker/build-image.sh [--offline] [--tag TAG] [--base IMAGE] [--no-cache]
#   --offline   no Docker Hub and no PyPI inside the build: build the local
#               Debian base (docker/build-base-offline.sh, skipped when present),
#               download the wheels on the host (docker/download-wheels.sh,
#               cached) and build FROM that base with --no-index pip installs.
#   --tag TAG   image tag (default activation-grader:latest); the version tag
#               uses the same repository name.
#   --base IMG  base image (default python:3.11-slim-bookworm, or
#               activation-grader-base:bookworm-2 with --offline)
#   --no-cache  pass --no-cache to docker build
#
# Rebuilding is cheap: the base is reused and Docker's layer cache skips the
# dependency install unless pyproject.toml or the wheels changed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OFFLINE=0
TAG="activation-grader:latest"
BASE=""
EXTRA=()
OFFLINE_BASE="activation-grader-base:bookworm-2"

while [ $# -gt 0 ]; do
    case "$1" in
        --offline) OFFLINE=1 ;;
        --tag) TAG="${2:?--tag needs a value}"; shift ;;
        --base) BASE="${2:?--base needs a value}"; shift ;;
        --no-cache) EXTRA+=(--no-cache) ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "build-image: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "[build-image] $*"; }

if ! docker info >/dev/null 2>&1; then
    echo "build-image: the Docker engine is not reachable (start it, or run docker/ci-setup.sh as root)" >&2
    exit 1
fi

VERSION="$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/pyproject.toml" | head -n 1)"
VERSION="${VERSION:-dev}"
# repository part of the tag: strip a trailing :tag but keep a registry port
REPO="$TAG"
case "${TAG##*/}" in *:*) REPO="${TAG%:*}" ;; esac
VERSION_TAG="$REPO:$VERSION"

ARGS=(-f "$HERE/Dockerfile" -t "$TAG")
[ "$VERSION_TAG" != "$TAG" ] && ARGS+=(-t "$VERSION_TAG")

if [ "$OFFLINE" -eq 1 ]; then
    BASE="${BASE:-$OFFLINE_BASE}"
    if [ "$BASE" = "$OFFLINE_BASE" ]; then
        "$HERE/build-base-offline.sh" --tag "$OFFLINE_BASE"
    elif ! docker image inspect "$BASE" >/dev/null 2>&1; then
        echo "build-image: base image $BASE is not present locally" >&2
        exit 1
    fi
    "$HERE/download-wheels.sh" --dest "$HERE/wheels"
    ARGS+=(--build-arg "BASE=$BASE" --build-arg "WHEELS=docker/wheels")
elif [ -n "$BASE" ]; then
    ARGS+=(--build-arg "BASE=$BASE")
fi

start=$(date +%s)
log "building $TAG ($VERSION_TAG) from ${BASE:-python:3.11-slim-bookworm}$([ "$OFFLINE" -eq 1 ] && echo ', offline wheels')"
docker build "${ARGS[@]}" "${EXTRA[@]}" "$ROOT"
size="$(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
log "built $TAG in $(( $(date +%s) - start )) s, $size"
