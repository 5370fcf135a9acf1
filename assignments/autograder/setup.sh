#!/usr/bin/env bash
# Sets up the grading environment of the activations autograder: Gradescope runs it once when the
# zip is uploaded, `otter grade` while building its image. assignments/build.py puts it into the zip
# instead of the one Otter-Grader generates, which installs build tools, LaTeX and pandoc (its PDF
# branch reads otter_config.json, which `otter grade` adds only after this script), downloads
# Miniforge and Playwright's Chromium, every time. This one installs only what is missing:
#
#   - nothing at all where a Python on PATH (or an otter-env made earlier) already satisfies
#     requirements.txt, as in this project's image activation-grader:latest;
#   - otherwise Miniforge (unless present) and an otter-env with requirements.txt.
#
# No LaTeX, pandoc or Chromium: the assignment is built with PDFs off. The grader itself is not
# installed here: run_otter.py imports the copy shipped in files/activation-grader (under
# `otter grade`, files/ is added to the image only after this script runs).
set -euo pipefail

AUTOGRADER=/autograder
SOURCE="$AUTOGRADER/source"
REQUIREMENTS="$SOURCE/requirements.txt"
MINIFORGE=/root/miniforge3
MINIFORGE_VERSION="@MINIFORGE_VERSION@"
ENV_PYTHON="$MINIFORGE/envs/otter-env/bin/python"

# Otter-Grader 7.0.0's grading Dockerfile runs `touch /autograder/submission_metadata.json` after
# this script and its runner json.loads that file whenever a plugin is configured: an empty file
# fails every submission. `touch` keeps what is written here; Gradescope replaces it with the real
# metadata for each submission. (run_otter.py repairs it again at grading time.)
mkdir -p "$AUTOGRADER"
if [ ! -s "$AUTOGRADER/submission_metadata.json" ]; then
    echo '{}' > "$AUTOGRADER/submission_metadata.json"
fi

# True if the Python $1 has every distribution of requirements.txt at a version it allows.
satisfies() {
    [ -x "$(command -v "$1" 2>/dev/null)" ] || return 1
    "$1" - "$REQUIREMENTS" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement

for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    req = Requirement(line)
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        sys.exit(1)
    if req.specifier and not req.specifier.contains(installed, prereleases=True):
        sys.exit(1)
import otter  # noqa: F401  (importable, not only recorded)
PY
}

for python in python3 "$ENV_PYTHON"; do
    if satisfies "$python"; then
        echo "setup.sh: $(command -v "$python") already has everything in requirements.txt; nothing to install"
        # (isolation steps that need the final file layout belong here and in run_otter.py)
        exit 0
    fi
done

export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in wget ca-certificates; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$MINIFORGE/bin/mamba" ]; then
    arch="$(uname -m)"
    case "$arch" in arm64) arch=aarch64 ;; esac
    wget -nv "https://github.com/conda-forge/miniforge/releases/download/$MINIFORGE_VERSION/Miniforge3-Linux-$arch.sh" \
        -O "$SOURCE/mamba_install.sh"
    bash "$SOURCE/mamba_install.sh" -b -p "$MINIFORGE"
    rm -f "$SOURCE/mamba_install.sh"
fi
if [ ! -x "$ENV_PYTHON" ]; then
    "$MINIFORGE/bin/mamba" env create -f "$SOURCE/environment.yml"
fi
"$ENV_PYTHON" -m pip install --no-cache-dir -r "$REQUIREMENTS"
satisfies "$ENV_PYTHON"
echo "setup.sh: otter-env ready"
