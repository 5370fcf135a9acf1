#!/usr/bin/env bash
# Download every wheel the grading image needs into docker/wheels/.
#
# Inside `docker build` pip cannot reach PyPI on offline machines, so the
# offline build (docker/build-image.sh --offline) installs with
# `pip install --no-index --find-links docker/wheels`. The wheels are chosen for
# the image's interpreter, not the host's: CPython 3.11.2 (Debian bookworm),
# manylinux x86_64, glibc 2.36. Passing the exact patch release makes pip skip
# releases whose Requires-Python excludes 3.11.2.
#
# Usage: docker/download-wheels.sh [--dest DIR]
# Environment: PYTHON  host interpreter with pip (default: .venv/bin/python, else python3)
#
# Idempotent: when the directory already satisfies every requirement, no
# registry is contacted.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DEST="$HERE/wheels"
while [ $# -gt 0 ]; do
    case "$1" in
        --dest) DEST="${2:?--dest needs a value}"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "download-wheels: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

if [ -n "${PYTHON:-}" ]; then
    PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then
    PY="$ROOT/.venv/bin/python"
else
    PY="python3"
fi

log() { echo "[download-wheels] $*"; }

mkdir -p "$DEST"
REQS="$(mktemp)"
trap 'rm -f "$REQS"' EXIT
"$PY" "$HERE/requirements.py" "$ROOT/pyproject.toml" --build-system >"$REQS"

# Target interpreter and platform of the image.
TARGET=(--only-binary=:all: --python-version 3.11.2 --implementation cp
        --abi cp311 --abi abi3 --abi none)
for minor in $(seq 36 -1 17); do
    TARGET+=(--platform "manylinux_2_${minor}_x86_64")
done
TARGET+=(--platform manylinux2014_x86_64)

export PIP_DISABLE_PIP_VERSION_CHECK=1

if "$PY" -m pip download --quiet --no-index --find-links "$DEST" --dest "$DEST" \
        "${TARGET[@]}" -r "$REQS" >/dev/null 2>&1; then
    log "$DEST already has every wheel ($(find "$DEST" -name '*.whl' | wc -l) files); nothing to download"
    exit 0
fi

log "downloading into $DEST"
"$PY" -m pip download --progress-bar off --dest "$DEST" "${TARGET[@]}" -r "$REQS" \
    | grep -Ev '^(  |Collecting|Requirement already satisfied)' || true
# pip's exit status is lost in the pipe above: check the result offline.
if ! "$PY" -m pip download --quiet --no-index --find-links "$DEST" --dest "$DEST" \
        "${TARGET[@]}" -r "$REQS"; then
    echo "download-wheels: $DEST still lacks wheels (see pip's messages above)" >&2
    exit 1
fi
log "done: $(find "$DEST" -name '*.whl' | wc -l) wheels, $(du -sh "$DEST" | cut -f1)"
