"""Starting and talking to untrusted workers (zygotes), on this host or in Docker.

A :class:`Zygote` is one warm worker: a fresh interpreter running the worker
program (:func:`worker_source`), isolated once at start in the mode that
:mod:`grader.sandbox.isolation` chooses, that forks a new child per job.
This module only moves bytes and enforces time: it sends a job, reads the
child's frames through the zygote's relay, kills the child on request, and
restarts the zygote if it dies. Decoding and validating what the child sent is
the caller's business (``grader.pipeline.execution``).
"""
from __future__ import annotations

import json
import logging
import os
import select
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from grader.core.errors import SandboxError
from grader.sandbox.worker.config import WorkerConfig
from grader.sandbox.worker.confine import landlock_abi
from grader.sandbox.isolation import ETC, PROC, allowed_paths, claim_uid, hidden_paths, isolation_mode, landlock_paths
from grader.sandbox.job_access import JobAccess, arrange
from grader.sandbox.worker.reaping import end_uid_from_outside as end_uid
from grader.sandbox.worker.scratch import remove_tree
from grader.sandbox.worker.wire import HEADER, Chunks, FrameReader, WireError, frame, payload

def matplotlib_cache() -> str | None:
    """Where the zygote's matplotlib keeps its font list between runs: this user's cache
    (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``activation-grader/matplotlib``), if it is a
    directory of ours that no one else can write; else None (a fresh one per zygote, as before).

    Without it every zygote's import of matplotlib scans the system's fonts again (about a fifth
    of a zygote's start, so of a cold ``grade``). Only the zygote reads it, while it imports,
    before it isolates itself; student code never has it (its environment is scrubbed) and in
    every isolating mode cannot write to it (not in its filesystem, another uid, or Landlock).
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "activation-grader", "matplotlib")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None
    return path


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Times in seconds, sizes in bytes."""

    timeout: float = 60.0  # wall clock for the whole submission, all attempts
    step_timeout: float = 10.0  # wall clock for one cell, or for all the calls of one exercise
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    tmpfs_bytes: int = 256 * 1024**2  # each of /tmp, /var/tmp, /dev/shm; the job's directory without them
    disk_entries: int = 20000  # files and directories, likewise
    nproc: int = 64
    output_bytes: int = 64 * 1024**2  # what the child may send back

    @property
    def cpu_seconds(self) -> int:
        return int(self.timeout) + 5


_reported: set[str] = set()


def _report_once(key: str, message: str) -> None:
    """Tell the operator, once per thing, what could not be cleaned up; it is left, and the
    grading goes on (every job has a directory and, in ``uid`` mode, a claim of its own)."""
    if key not in _reported:
        _reported.add(key)
        logging.getLogger("grader.sandbox.process").warning("activation-grader: %s; left in place", message)


def _remove_made(path: str) -> None:
    """Remove a directory that a zygote's config() made, whatever a job left in it (any depth,
    bounded descriptors and time, see ``grader.sandbox.worker.scratch.remove_tree``); never raises."""
    try:
        left = remove_tree(path, seconds=30.0)
    except Exception as exc:  # not expected; still no reason to fail the next job
        left = -1
        _report_once(path, f"could not remove {path} ({type(exc).__name__})")
    if left > 0:
        _report_once(path, f"could not remove {path} ({left} entries left)")


class WorkerDied(SandboxError):
    """The zygote itself is gone (not just a child): it will be restarted."""


#: The worker program's parts, in the order they are joined; each imports only those before it.
SHIPPED = ("wire.py", "config.py", "confine.py", "reaping.py", "scratch.py", "nameless.py", "calls.py", "isolate.py",
           "jupyter.py", "child.py", "serve.py")


def worker_source() -> str:
    """The worker program: the parts in :data:`SHIPPED`, joined in that order as one script (the first
    whole; from the others, their imports of earlier parts and their ``__future__`` line are dropped)."""
    here = Path(__file__).parent / "worker"
    skip = ("# shipped-with-wire", "from __future__ import")
    parts = [(here / name).read_text() for name in SHIPPED]
    strip = lambda text: "\n".join(line for line in text.splitlines() if not any(s in line for s in skip))  # noqa
    return "\n".join([parts[0]] + [strip(part) for part in parts[1:]])


def worker_config(limits: Limits, mode: str, uid: int, scratch_base: str, *, read: Iterable[str],
                  listable: Iterable[str] = (), new_root: str = "", allow: Iterable[str] = (),
                  hide: Iterable[str] = (), etc: Iterable[str] = (), nproc: int | None = None,
                  measure_disk: bool = True) -> WorkerConfig:
    """The worker's configuration (:class:`WorkerConfig`), for every sandbox: one submission's
    ``limits``, the isolation ``mode``, the job's ``uid`` (and gid), where the jobs' directories
    go, and what a job may see (see the schema for each). A sandbox passes what is its own: the
    Docker sandbox has no new root, its own allowlist, ``nproc`` of its own (``RLIMIT_NPROC``
    counts the uid across every container; the container's pids limit is what binds there) and
    no disk to measure (``measure_disk=False``: its ``/scratch`` is a tmpfs of the budget's size)."""
    return WorkerConfig(mode=mode, uid=uid, gid=uid, scratch_base=scratch_base,
                        memory_bytes=limits.memory_bytes, cpu_seconds=limits.cpu_seconds,
                        file_bytes=limits.file_bytes, tmpfs_bytes=limits.tmpfs_bytes,
                        nproc=limits.nproc if nproc is None else nproc,
                        disk_bytes=limits.tmpfs_bytes if measure_disk else 0, disk_entries=limits.disk_entries,
                        new_root=new_root, allow=tuple(allow), hide=tuple(hide), etc=tuple(etc),
                        read=tuple(read), listable=tuple(listable))


def config_frame(config: WorkerConfig) -> bytes:
    """The worker's configuration as the first bytes of its stdin (a 4-byte length, then JSON)."""
    data = config.to_json().encode("utf-8")
    return HEADER.pack(len(data)) + data


class ZygoteChannel:
    """The job protocol with a zygote, whatever carries its bytes (pipes here, a container's
    attached stream in ``grader.sandbox.docker``).

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
            # a small control frame, then the job's own bytes, which only the child reads: JSON, or
            # a binary payload whose arrays are raw bytes (``chunks``, see grader.pipeline.execution.binary_job)
            chunks = job.get("chunks")
            if isinstance(chunks, Chunks):
                data = payload({k: v for k, v in job.items() if k != "chunks"}, chunks)
            else:
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
        self._access: JobAccess | None = None  # uid mode: what that uid may reach (grader.sandbox.job_access)

    # -- lifecycle ---------------------------------------------------------------------------------
    def config(self) -> WorkerConfig:
        """The worker's configuration; makes the worker's directories (and, in ``uid`` mode, arranges
        what the job's uid may reach) on first use."""
        root = tempfile.mkdtemp(prefix="activation-grader-root-")
        scratch = tempfile.mkdtemp(prefix="activation-grader-scratch-")
        self._dirs += [root, scratch]
        if self._uid_claim is None:
            self.uid, self._uid_claim = claim_uid()
        allowed, hidden = allowed_paths(), hidden_paths()
        if self.mode == "uid":
            os.chmod(scratch, 0o711)  # the job's uid reaches its own directory, and only that
            if self._access is None:
                try:
                    self._access = arrange(self.uid, allowed + [scratch], hidden, without_landlock=landlock_abi() < 4)
                except Exception:
                    self.close()  # refused: nothing of ours is left (directories, the uid's claim)
                    raise
        readable, listable = landlock_paths(allowed + [p for p in ETC if os.path.lexists(p)] + PROC, hidden)
        return worker_config(self.limits, self.mode, self.uid, scratch, read=readable, listable=listable,
                             new_root=root, allow=allowed, hide=hidden, etc=ETC)

    def command(self) -> list[str]:
        """The worker's command line: the program only. Its configuration (the uid, the directories,
        the allowlists) goes through its stdin (:func:`config_frame`), out of every job's
        ``/proc/self/cmdline``."""
        return [sys.executable, "-I", "-c", worker_source(), "--zygote"]

    def matplotlib_dir(self, config: WorkerConfig) -> str:
        """The user's font cache where student code cannot write to it; in ``none`` mode, where it
        could (and so reach the next zygote's import), a fresh directory per zygote."""
        return (matplotlib_cache() if self.mode != "none" else None) or config.scratch_base

    def start(self) -> dict:
        """Launch the worker and wait until it has imported what submissions use and isolated itself."""
        self.launch()
        return self.wait_ready()

    @property
    def launched(self) -> bool:
        return self.proc is not None

    def launch(self) -> None:
        """Start the worker's interpreter and return at once (:meth:`wait_ready` waits for it)."""
        config = self.config()
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
               "MPLCONFIGDIR": self.matplotlib_dir(config), "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1"}
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, cwd=config.scratch_base,
                                     start_new_session=True)
        self._out = self.proc.stdout.fileno()
        self._buffer = bytearray()
        try:
            self._write(config_frame(config))
        except OSError as exc:
            raise WorkerDied(f"the worker exited before its configuration: {exc}") from None

    def wait_ready(self) -> dict:
        """The worker's first message: what isolation holds (``info``); WorkerDied if it never came."""
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
        """End the worker and everything of its jobs, remove what it made. Never raises: whatever
        happens here, the next :meth:`start` gets a fresh worker with fresh state."""
        try:
            self._end_zygote()
        finally:
            self.proc = None  # (``info`` stays: what the last job ran under, for its record)
            dirs, self._dirs = self._dirs, []
            try:
                self._end_job_uid()
            finally:
                for d in dirs:  # made by config(): the scratch base and the (unmounted) root
                    _remove_made(d)
                if self._access is not None:
                    self._access.revoke()  # (never raises)
                    self._access = None
                if self._uid_claim is not None:
                    self._uid_claim.close()
                    self._uid_claim = None

    def _end_zygote(self) -> None:
        if self.proc and self.proc.poll() is None and not self.info:  # launched, never used: our own child
            self.proc.kill()
            self.proc.wait()
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write(frame({"op": "quit"}))
                self.proc.stdin.flush()
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()

    def _end_job_uid(self) -> None:
        """In ``uid`` mode, end every process of the job's uid, whatever the zygote managed to do:
        after a restart, the zygote that was their subreaper is gone, so the grader itself (root)
        does it, through a helper that drops to that uid (nothing else is in its reach), before
        the uid is released or serves another job."""
        if self.mode != "uid" or self.uid is None or self._uid_claim is None or os.geteuid() != 0:
            return
        try:
            left = end_uid(self.uid)
        except Exception:  # (a uid that is not the job's own is refused: nothing was signalled)
            left = -1
        if left:
            _report_once(f"uid {self.uid}", f"{left} process(es) of the job uid {self.uid} could not be ended"
                         if left > 0 else f"could not end the processes of the job uid {self.uid}")

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
        """Kill the zygote (its job dies with it: see ``child_main`` in the worker) and start afresh on the next job."""
        try:
            if self.proc is not None:
                try:
                    os.killpg(self.proc.pid, 9)
                except OSError:
                    pass
                self.proc.wait()
        finally:
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

