"""The isolation policy: which mode this machine allows, what each mode guarantees, and what a
job may see.

Modes and their ranks (``--isolation``, ``--require-isolation``), the uid that student code
runs as, the allowlists of what a job may read (the runtime, a minimal ``/etc``, parts of
``/proc``) and what stays hidden (the grader and the reference, wherever installed), and
:func:`protect_installation` for the autograder layout. The worker enforces this policy
(:mod:`grader.sandbox.worker.isolate`, :mod:`grader.sandbox.worker.confine`); :mod:`grader.sandbox.process` hands it over.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

from grader.sandbox.worker.config import MODES
from grader.sandbox.worker.confine import landlock_abi, seccomp_available
from grader.core.errors import SandboxError

SANDBOX_UID_BASE = 61000
# How much each mode guarantees, for ``--require-isolation``: a mode (or what was in force,
# e.g. ``uid+seccomp`` without Landlock) satisfies a requirement of equal or lower rank.
_RANK = {"none": 0, "landlock": 1, "userns": 2, "uid": 3, "root": 4}


class IsolationUnavailable(SandboxError):
    """The isolation asked for (or required) cannot be had on this machine; says what can."""


def isolation_rank(isolation: str) -> int:
    """The rank of what a worker reported (``root+pidns+seccomp``, ``uid+landlock``, ``landlock``)."""
    parts = set((isolation or "none").split("+"))
    if "docker" in parts:
        return _RANK["root"]
    mode = next((m for m in ("root", "userns", "uid") if m in parts), "landlock" if "landlock" in parts else "none")
    if mode == "uid" and "seccomp" not in parts:
        return _RANK["none"]  # a uid alone leaves the network open
    return _RANK[mode]


_PARTS = {"root": "student code as a uid of its own", "userns": "an unprivileged user namespace (the grader's uid)",
          "uid": "student code as a uid of its own", "pidns": "a PID namespace per submission",
          "landlock": "Landlock (files, TCP, signals)", "seccomp": "seccomp", "docker": "a container per worker",
          "none": "no isolation but resource limits: student code can read what the grader can"}


def describe_isolation(isolation: str) -> str:
    """One line for people: what was in force."""
    return ", ".join(_PARTS.get(p, p) for p in isolation.split("+"))


def require(isolation: str, required: str | None) -> None:
    """Refuse to go on below ``required`` (a mode name)."""
    if required and required != "none":
        if required not in _RANK:
            raise IsolationUnavailable(f"unknown isolation level {required!r}: use one of {', '.join(MODES)}")
        if isolation_rank(isolation) < _RANK[required]:
            raise IsolationUnavailable(
                f"the worker's isolation here is {isolation!r}, below the required {required!r}. "
                f"Grade as root on a host that allows namespaces, or in the Docker sandbox "
                f"(--sandbox docker), or lower --require-isolation.")


def require_mode(mode: str, required: str | None) -> None:
    """Refuse a mode (as :func:`isolation_mode` names it) below ``required``, before any worker
    starts; what the worker then reports is held to the same requirement (:func:`require`)."""
    if not required or required == "none":
        return
    if required not in _RANK:
        require("none", required)  # says which levels there are
    if _RANK.get(mode, 0) < _RANK[required]:
        raise IsolationUnavailable(
            f"the isolation this machine allows is {mode!r}, below the required {required!r}. Grade as root "
            "(on a host that allows namespaces, for 'root'), or in the Docker sandbox (--sandbox docker), or "
            "lower --require-isolation.")


def isolation_mode(requested: str = "auto") -> str:
    """The strongest isolation this machine allows, unless one is requested.

    ``root`` where namespaces can be created as root; ``userns`` where
    unprivileged user namespaces work; ``uid`` as root where neither works (an
    autograder container, ``otter grade``, a Kubernetes pod): each job runs as
    a uid of its own, confined by Landlock and seccomp where the kernel has
    them and by file permissions always (:mod:`grader.sandbox.job_access` lets that uid
    reach a runtime installed where others cannot, such as a 0700 ``/root``);
    ``landlock`` where the grader is not root (a JupyterHub pod): the same
    confinement with the caller's uid; ``none`` only where the grader is not
    root and the kernel offers nothing. As root, ``auto`` never goes below
    ``uid``: where even that cannot be arranged the worker refuses to start.
    Nothing here is a guess about the surroundings: every mode is safe for the
    machine it runs on. ``container`` is the former name of the two modes
    without namespaces.
    """
    if requested == "container":
        requested = "uid" if os.geteuid() == 0 else "landlock" if _landlock_usable() else "none"
    if requested != "auto":
        if requested not in MODES:
            raise IsolationUnavailable(f"unknown isolation {requested!r}: use auto or one of {', '.join(MODES)}")
        if requested == "uid" and os.geteuid() != 0:
            raise IsolationUnavailable("isolation 'uid' needs the grader to run as root: use 'landlock'")
        return requested
    if shutil.which("unshare"):
        if os.geteuid() == 0 and _works(["unshare", "--mount", "--net", "true"]):
            return "root"
        if _works(["unshare", "--user", "--map-root-user", "--mount", "--net", "true"]):
            return "userns"
    if os.geteuid() == 0:
        return "uid"
    return "landlock" if _landlock_usable() else "none"


def _works(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


def _landlock_usable() -> bool:
    return landlock_abi() >= 6 and seccomp_available()


def claim_uid(first: int = SANDBOX_UID_BASE, span: int = 4000) -> tuple[int, socket.socket]:
    """A uid for student code that nobody else has: no passwd entry, no process running as it,
    and not claimed by another grader on this machine (each claim holds an abstract unix socket
    named after the uid, which the kernel releases when the grader exits). Returns the uid and
    the socket, to keep open for as long as the uid is in use."""
    import pwd

    start = os.getpid() % span
    for i in range(span):
        uid = first + (start + i) % span
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(f"\0activation-grader/uid/{uid}")
        except OSError:
            sock.close()
            continue
        if _uid_in_use(uid):
            sock.close()
            continue
        return uid, sock
    raise IsolationUnavailable(f"no free uid in {first}..{first + span - 1} for student code")


def _uid_in_use(uid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    return True
            except OSError:
                pass
    return False


AUTOGRADER_SOURCE = "/autograder/source"  # Gradescope's and Otter's layout: the zip's sources and tests


def protect_installation() -> list[str]:
    """As root, make the grader, the reference and the autograder's sources unreadable to every
    other uid (mode 0700 on each directory, which ends traversal), before any student code runs.
    Landlock already keeps them out of the job's sight; this holds where Landlock is missing too.
    Only root-owned directories inside the autograder layout (``/autograder``, a grading
    container's own) are changed; a grader installed anywhere else is left as it is."""
    if os.geteuid() != 0:
        return []
    changed = []
    for path in [p for p in hidden_paths() if p.startswith("/autograder/")] + [AUTOGRADER_SOURCE]:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and st.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
            changed.append(path)
    return changed


def hidden_paths() -> list[str]:
    """The grader and the reference, wherever they are installed: the copies in use, and any
    other copy on ``sys.path`` (an image's site-packages behind a symlink, an older install)."""
    # where the packages in use live, found without importing the reference (and autograd with it)
    hidden = {str(Path(importlib.util.find_spec(name).origin).resolve().parent) for name in ("grader", "reference")}
    for entry in sys.path:
        for name in ("grader", "reference"):
            candidate = Path(entry or ".") / name
            try:
                if (candidate / "__init__.py").exists():
                    hidden.add(str(candidate.resolve()))
            except OSError:
                pass
    return sorted(hidden)


# What a job may read of /proc and /sys without namespaces ("/proc/self" is resolved when the
# rule is made: the job's own first process, not its children, and never another's).
PROC = ["/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu"]
# What Python, NumPy and Matplotlib read in /etc; the rest of the host's /etc stays out of sight.
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
       "/etc/alternatives", "/etc/fonts", "/etc/matplotlibrc", "/etc/nsswitch.conf", "/etc/mime.types")


def allowed_paths() -> list[str]:
    """System directories and the Python runtime; never the project itself."""
    hidden = hidden_paths()
    project_roots = {str(Path(h).parent) for h in hidden}
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/venv"]
    prefixes = {str(Path(p)) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    paths += sorted(prefixes)
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        resolved = str(Path(entry).resolve())
        if resolved in project_roots or any(h.startswith(resolved + os.sep) and not resolved.endswith("-packages")
                                             for h in hidden):
            continue  # a source checkout on sys.path: exposing it would expose the reference
        # Only the runtime's own entries (inside an interpreter prefix, or a site-/dist-packages).
        # sys.path also holds the working directory under `python -m grader`, the test directories
        # under pytest, a Dask worker's scratch space, PYTHONPATH: a course directory with the
        # solutions, every student's submission and the output directory must not be readable.
        inside = any(resolved == p or resolved.startswith(p + os.sep) for p in prefixes if p != os.sep)
        if not (inside or resolved.endswith(("site-packages", "dist-packages"))):
            continue
        paths.append(resolved)
    # an interpreter reached through symlinks (venvs, pyenv shims) needs its target too
    paths.append(str(Path(sys.executable).resolve().parent.parent))
    seen, out = set(), []
    for p in paths:
        if p not in seen and os.path.lexists(p):
            seen.add(p)
            out.append(p)
    return out


def landlock_paths(allowed: list[str], hidden: list[str]) -> tuple[list[str], list[str]]:
    """Landlock's allowlist: (readable, listable only). A rule covers everything beneath its path,
    so an allowed directory that holds a hidden one (a site-packages with the grader installed in
    it) is split: the directory itself may be listed, each of its other entries read."""
    readable: list[str] = []
    listable: list[str] = []

    def add(path: str) -> None:
        inside = [h for h in hidden if h.startswith(path.rstrip("/") + "/")]
        if any(h == path for h in hidden):
            return
        if not inside:
            readable.append(path)
            return
        listable.append(path)
        try:
            entries = sorted(os.listdir(path))
        except OSError:
            return
        for entry in entries:
            add(os.path.join(path, entry))

    for path in allowed:
        add(str(Path(path).resolve()) if not os.path.islink(path) else path)
    return readable, listable
