"""Print the requirements the grading image installs, one per line.

pyproject.toml is the single source of truth: the image gets the runtime
dependencies plus the ``otter`` extra (Otter's autograder zip runs inside the
same image, so it needs otter-grader[grading], nbclient and ipykernel). Both
docker/download-wheels.sh (on the host, to fill docker/wheels/) and the
Dockerfile (inside the build) call this script, so the offline wheel set and
the online install can never ask for different things.

Usage: python requirements.py [PYPROJECT] [--build-system]
    --build-system  also print build-system.requires and pip, which the offline
                    build needs as wheels because it cannot fetch them later.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

# Used when pyproject.toml has no ``otter`` extra: the image must still be able
# to run Otter's autograder and execute notebooks.
FALLBACK_OTTER = ["otter-grader[grading]", "nbclient", "ipykernel"]


def requirements(pyproject: Path, build_system: bool = False) -> list[str]:
    """Return the requirement strings for the image, without duplicates."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data.get("project", {})
    reqs: list[str] = list(project.get("dependencies", []))
    extras = project.get("optional-dependencies", {})
    reqs += extras.get("otter", FALLBACK_OTTER)
    if build_system:
        reqs += data.get("build-system", {}).get("requires", ["setuptools", "wheel"])
        reqs.append("pip")
    seen: set[str] = set()
    unique = []
    for req in reqs:
        if req not in seen:
            seen.add(req)
            unique.append(req)
    return unique


def main(argv: list[str]) -> int:
    build_system = "--build-system" in argv
    paths = [a for a in argv if not a.startswith("--")]
    pyproject = Path(paths[0]) if paths else Path(__file__).resolve().parent.parent / "pyproject.toml"
    for req in requirements(pyproject, build_system=build_system):
        print(req)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
