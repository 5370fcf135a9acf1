"""Starting and talking to untrusted workers (zygotes), on this host or in Docker.

A :class:`Zygote` is one warm worker: a fresh interpreter running
``grader/worker.py``, isolated once at start, that forks a new child per job.
This module only moves bytes and enforces time: it sends a job, reads the
child's frames through the zygote's relay, kills the child on request, and
restarts the zygote if it dies. Decoding and validating what the child sent is
the caller's business (``grader.execution``).
"""
from __future__ import annotations

import json
import os
import select
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.wire import HEADER, FrameReader, WireError, frame

SANDBOX_UID_BASE = 61000
PRELOAD = ("numpy", "scipy", "matplotlib", "matplotlib.pyplot")


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Times in seconds, sizes in bytes."""

    timeout: float = 60.0  # wall clock for the whole submission, all attempts
    step_timeout: float = 10.0  # wall clock for one cell, or for all the calls of one exercise
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    tmpfs_bytes: int = 256 * 1024**2
    nproc: int = 64
    output_bytes: int = 64 * 1024**2  # what the child may send back

    @property
    def cpu_seconds(self) -> int:
        return int(self.timeout) + 5


class WorkerDied(Exception):
    """The zygote itself is gone (not just a child): it will be restarted."""


def worker_source() -> str:
    """The worker program: the wire format, the confinement, one call, then the worker, as one script."""
    here = Path(__file__).parent
    skip = ("# shipped-with-wire", "from __future__ import")
    parts = [(here / name).read_text() for name in ("wire.py", "confine.py", "calls.py", "worker.py")]
    strip = lambda text: "\n".join(line for line in text.splitlines() if not any(s in line for s in skip))  # noqa
    return "\n".join([parts[0]] + [strip(part) for part in parts[1:]])


MODES = ("root", "userns", "uid", "landlock", "none")
# How much each mode guarantees, for ``--require-isolation``: a mode (or what was in force,
# e.g. ``uid+seccomp`` without Landlock) satisfies a requirement of equal or lower rank.
_RANK = {"none": 0, "landlock": 1, "userns": 2, "uid": 3, "root": 4}


class IsolationUnavailable(RuntimeError):
    """The isolation asked for (or required) cannot be had on this machine; says what can."""


def isolation_rank(isolation: str) -> int:
    """The rank of what a worker reported (``root+pidns+seccomp``, ``uid+landlock``, ``landlock``)."""
    parts = set((isolation or "none").split("+"))
    if "docker" in parts:
        return _RANK["root"]
    mode = next((m for m in ("root", "userns", "uid") if m in parts), "landlock" if "landlock" in parts else "none")
    if mode == "uid" and "landlock" not in parts:
        return _RANK["landlock"] - 1 if "seccomp" not in parts else _RANK["landlock"]  # uid alone: files only
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


def isolation_mode(requested: str = "auto") -> str:
    """The strongest isolation this machine allows, unless one is requested.

    ``root`` where namespaces can be created as root; ``userns`` where
    unprivileged user namespaces work; ``uid`` as root where neither works (an
    autograder container, ``otter grade``, a Kubernetes pod): each job runs as
    a uid of its own, confined by Landlock and seccomp; ``landlock`` where the
    grader is not root (a JupyterHub pod): the same confinement with the
    caller's uid; ``none`` where the kernel offers nothing. Nothing here is a
    guess about the surroundings: every mode is safe for the machine it runs on.
    ``container`` is the former name of the two modes without namespaces.
    """
    if requested == "container":
        requested = "uid" if os.geteuid() == 0 and _runtime_readable_by_others() else (
            "landlock" if _landlock_usable() else "none")
    if requested != "auto":
        if requested not in MODES:
            raise IsolationUnavailable(f"unknown isolation {requested!r}: use auto or one of {', '.join(MODES)}")
        if requested == "uid" and not (os.geteuid() == 0 and _runtime_readable_by_others()):
            raise IsolationUnavailable(
                "isolation 'uid' needs the grader to run as root and a Python runtime that other users can "
                f"read and search (this one is {sys.prefix}): install it outside /root, or use 'landlock'")
        return requested
    if shutil.which("unshare"):
        if os.geteuid() == 0 and _works(["unshare", "--mount", "--net", "true"]):
            return "root"
        if _works(["unshare", "--user", "--map-root-user", "--mount", "--net", "true"]):
            return "userns"
    if os.geteuid() == 0 and _runtime_readable_by_others():
        return "uid"
    return "landlock" if _landlock_usable() else "none"


def _works(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


def _landlock_usable() -> bool:
    from grader.confine import landlock_abi, seccomp_available

    return landlock_abi() >= 6 and seccomp_available()


def _runtime_readable_by_others() -> bool:
    """Whether a uid of no group can run this interpreter and import its packages (``uid`` mode
    drops to one): every directory on the way must be searchable and the runtime readable."""
    for path in {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}:
        p = Path(path).resolve()
        for d in [p, *p.parents]:
            try:
                mode = d.stat().st_mode
            except OSError:
                return False
            if not mode & stat.S_IXOTH or (d == p and not mode & stat.S_IROTH):
                return False
    return True


def in_container() -> bool:
    """Docker, Podman or Kubernetes, as they announce themselves (a hint for messages only:
    no decision of the grader depends on it)."""
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv") or os.environ.get("container"):
        return True
    try:
        cgroup = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(word in cgroup for word in ("docker", "kubepods", "containerd", "libpod"))


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
    for path in [p for p in _hidden_paths() if p.startswith("/autograder/")] + [AUTOGRADER_SOURCE]:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and st.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
            changed.append(path)
    return changed


def _hidden_paths() -> list[str]:
    """The grader and the reference, wherever they are installed: the copies in use, and any
    other copy on ``sys.path`` (an image's site-packages behind a symlink, an older install)."""
    import grader
    import reference

    hidden = {str(Path(m.__file__).resolve().parent) for m in (grader, reference)}
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


def _allowed_paths() -> list[str]:
    """System directories and the Python runtime; never the project itself."""
    hidden = _hidden_paths()
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


class ZygoteChannel:
    """The job protocol with a zygote, whatever carries its bytes (pipes here, a container's
    attached stream in ``grader.docker_sandbox``).

    The zygote frames its messages as a kind byte, a 4-byte length and a payload: ``R`` ready,
    ``C`` a chunk of the child's own frames (decoded here, with a size limit), ``X`` the child's
    exit. Subclasses provide ``_write(bytes)``, ``_read(timeout) -> bytes | None`` (None on
    timeout, :class:`WorkerDied` at end of stream) and ``restart()``.
    """

    limits: Limits
    _buffer: bytearray

    def _send_job(self, job: dict) -> None:
        self._child = FrameReader()
        self._received = 0
        try:
            # a small control frame, then the job's own bytes, which only the child reads
            data = json.dumps(job, allow_nan=True).encode("utf-8")
            self._write(frame({"op": "job", "bytes": len(data)}) + data)
        except OSError as exc:
            raise WorkerDied(str(exc)) from None

    def poll(self, deadline: float) -> tuple[str, Any]:
        """Next thing from the running job: ("frames", [...]), ("exit", info) or ("timeout", None).

        Raises :class:`WireError` when the child sends something that is not
        our framing or more than ``limits.output_bytes``.
        """
        try:
            kind, payload = self._next_message(deadline)
        except TimeoutError:
            return "timeout", None
        if kind == b"C":
            self._received += len(payload)
            if self._received > self.limits.output_bytes:
                raise WireError(f"the submission sent more than {self.limits.output_bytes} bytes")
            return "frames", self._child.feed(payload)
        if kind == b"X":
            return "exit", json.loads(payload)
        raise WorkerDied(f"unexpected message {kind!r} from the worker")

    def kill_job(self) -> dict:
        """Kill the running child and wait for the zygote to confirm."""
        try:
            self._write(frame({"op": "kill"}))
            deadline = time.monotonic() + 10
            while True:
                kind, payload = self._next_message(deadline)
                if kind == b"X":
                    return json.loads(payload)
        except (OSError, TimeoutError, WorkerDied):
            self.restart()
            return {"exit": None, "signal": 9, "killed": True}

    def _next_message(self, deadline: float) -> tuple[bytes, bytes]:
        while True:
            if len(self._buffer) >= 5:
                (n,) = HEADER.unpack_from(self._buffer, 1)
                if len(self._buffer) >= 5 + n:
                    kind, payload = bytes(self._buffer[:1]), bytes(self._buffer[5:5 + n])
                    del self._buffer[:5 + n]
                    return kind, payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            data = self._read(remaining)
            if data is None:
                raise TimeoutError
            self._buffer += data


class Zygote(ZygoteChannel):
    """One warm worker process on this host, in one of :data:`MODES`."""

    def __init__(self, slot: int = 0, limits: Limits = Limits(), mode: str = "auto") -> None:
        self.slot = slot
        self.limits = limits
        self.mode = isolation_mode(mode)
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self._dirs: list[str] = []
        self.uid: int | None = None
        self._uid_claim: socket.socket | None = None  # held while the uid is ours

    # -- lifecycle ---------------------------------------------------------------------------------
    def config(self) -> dict:
        root = tempfile.mkdtemp(prefix="activation-grader-root-")
        scratch = tempfile.mkdtemp(prefix="activation-grader-scratch-")
        self._dirs += [root, scratch]
        if self._uid_claim is None:
            self.uid, self._uid_claim = claim_uid()
        if self.mode == "uid":
            os.chmod(scratch, 0o711)  # the job's uid reaches its own directory, and only that
        allowed, hidden = _allowed_paths(), _hidden_paths()
        readable, listable = landlock_paths(allowed + [p for p in ETC if os.path.lexists(p)] + PROC, hidden)
        return {"mode": self.mode, "uid": self.uid, "gid": self.uid,
                "new_root": root, "scratch_base": scratch, "allow": allowed, "hide": hidden, "etc": list(ETC),
                "read": readable, "listable": listable,
                "preload": list(PRELOAD), "memory_bytes": self.limits.memory_bytes,
                "cpu_seconds": self.limits.cpu_seconds, "file_bytes": self.limits.file_bytes,
                "tmpfs_bytes": self.limits.tmpfs_bytes, "nproc": self.limits.nproc}

    def command(self, config: dict) -> list[str]:
        return [sys.executable, "-I", "-c", worker_source(), "--zygote", json.dumps(config)]

    def start(self) -> dict:
        config = self.config()
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
               "MPLCONFIGDIR": config["scratch_base"], "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.command(config), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, cwd=config["scratch_base"],
                                     start_new_session=True)
        self._out = self.proc.stdout.fileno()
        self._buffer = bytearray()
        kind, payload = self._next_message(time.monotonic() + 120)
        if kind != b"R":
            raise WorkerDied("the worker did not start")
        self.info = json.loads(payload)
        return self.info

    def log_tail(self, n: int = 2000) -> str:
        """The end of the zygote's own stderr (the children's goes to /dev/null)."""
        try:
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - n))
            return self._log.read().decode("utf-8", "replace").strip()
        except (AttributeError, OSError, ValueError):
            return ""

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write(frame({"op": "quit"}))
                self.proc.stdin.flush()
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        for d in self._dirs:  # made by config(): the scratch base and the (unmounted) root
            shutil.rmtree(d, ignore_errors=True)
        self._dirs = []
        if self._uid_claim is not None:
            self._uid_claim.close()
            self._uid_claim = None

    def __enter__(self) -> "Zygote":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one job --------------------------------------------------------------------------------------
    def begin(self, job: dict) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.start()
        self._send_job(job)

    def restart(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass
            self.proc.wait()
        self.close()

    # -- the transport: the zygote's stdin and stdout --------------------------------------------
    def _write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _read(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            return None
        data = os.read(self._out, 1 << 20)
        if not data:
            raise WorkerDied(f"the worker exited: {self.log_tail()}")
        return data

