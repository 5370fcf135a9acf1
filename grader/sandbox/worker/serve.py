"""The untrusted side: executes a submission and runs probe calls on it.

The serve loop, the last of the parts shipped as the worker program (order: ``SHIPPED`` in
``grader/sandbox/process.py``), all joined into one script for a fresh interpreter started with
``python -I -c``; it imports nothing from the grader, and the grader and the reference are not
reachable from where it runs. Its configuration comes first on stdin (:func:`read_config`,
:class:`WorkerConfig`).

Structure, from the outside in:

* the **zygote** (:func:`zygote_main`) starts once per slot, imports numpy,
  scipy and matplotlib, isolates itself (see :func:`isolate`) and then serves
  jobs read from stdin, one at a time;
* for each job it forks a **child** that gets a fresh PID namespace, ``/tmp``
  and scratch directory, drops to the sandbox uid, sets its rlimits and runs the
  notebook's cells and the probe calls (:func:`run_job`);
* the child writes JSON frames to a pipe; the zygote relays the raw bytes to the
  trusted process without parsing them (type ``C``) and reports the child's exit
  status (type ``X``). The trusted process decodes and validates everything.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

import numpy as np

from grader.sandbox.worker.wire import HEADER  # shipped-with-wire
from grader.sandbox.worker.config import WorkerConfig  # shipped-with-wire
from grader.sandbox.worker.calls import CLOCK  # shipped-with-wire
from grader.sandbox.worker.reaping import end_descendants  # shipped-with-wire
from grader.sandbox.worker.scratch import empty_dir_as, over_budget  # shipped-with-wire
from grader.sandbox.worker.nameless import NamelessWatch, deleted_mappings  # shipped-with-wire
from grader.sandbox.worker.isolate import CLONE_NEWPID, NAMESPACED, Isolation, isolate, setns, unshare  # shipped-with-wire
from grader.sandbox.worker.child import read_exactly, write_all, child_main, job_dir, prepare_seccomp  # shipped-with-wire


# --- the zygote: serving jobs ----------------------------------------------------------------------
def _send(kind: bytes, payload: bytes) -> None:
    write_all(1, kind + len(payload).to_bytes(4, "big") + payload)


def serve_job(size: int, config: WorkerConfig, isolation: Isolation) -> None:
    """Run one job whose ``size`` bytes of JSON wait on stdin: the child reads them, not us.

    The zygote never holds a submission's data: its memory is what every later child is forked
    from, and a job that scanned its own memory would find the previous job's source there.
    So the child reads its job from stdin itself, and its output goes to our stdout through
    ``splice`` (kernel to kernel), never through a buffer of ours.
    """
    zygote_started = CLOCK()
    read_fd, write_fd = os.pipe()
    got_job_r, got_job_w = os.pipe()
    reap_r, reap_w = os.pipe()  # the landlock-mode reaper waits on this (see start_reaper) ...
    reaped_r, reaped_w = os.pipe()  # ... and closes this when it is done
    ns_fd = _new_pid_namespace_for_next_fork() if config.mode in NAMESPACED and _OWN_PID_NS else None
    try:
        pid = os.fork()
    finally:
        if ns_fd is not None and os.getpid() != 1:  # (the child is PID 1: it only closes the fd)
            _back_to_own_pid_namespace(ns_fd)
    if pid == 0:
        for fd in (read_fd, got_job_r, reap_w, reaped_r) + (() if ns_fd is None else (ns_fd,)):
            os.close(fd)
        child_main(size, config, isolation, write_fd, got_job_w, (reap_r, reaped_w))
    for fd in (write_fd, got_job_w, reap_r, reaped_w):
        os.close(fd)
    if os.read(got_job_r, 1) != b"1":  # stdin is the child's until it has read its job
        _discard_stdin(size)  # it died first: its job must not be taken for the next frame
    os.close(got_job_r)
    pidfd = os.pidfd_open(pid)
    killed, ended, over = False, False, None
    requests = _ControlReader()
    _widen(read_fd)
    # Without a size-limited filesystem of its own (uid, landlock), the job's directory is measured
    # while it runs; a job over its budget is ended (a normal job is measured once or twice).
    watch = job_dir(config, pid) if config.disk_bytes and config.mode not in NAMESPACED else None
    nameless = NamelessWatch(config.uid if config.mode == "uid" else None, os.getpid(), config.file_bytes,
                             deleted_mappings(), strict=_job_dumpable(config, isolation)) if watch is not None else None

    next_watch = time.monotonic() + DISK_INTERVAL
    while True:
        # Not waiting on the child's pipe: a reader asleep on it would be woken (across cores) by
        # every frame the child writes, ~200 a job, which cost the child more than encoding them.
        # What it wrote is relayed every RELAY_INTERVAL instead, and all of it once it is gone.
        # At most RELAY_BURST bytes per round: a pipe that the job's other processes keep full
        # must not keep us from our stdin (a kill) or from the child's exit.
        ready, _, _ = select.select([0, pidfd], [], [], DISK_INTERVAL if ended else RELAY_INTERVAL)
        relayed = 0
        while not ended and relayed < RELAY_BURST and select.select([read_fd], [], [], 0)[0]:
            moved = _relay(read_fd)
            ended, relayed = not moved, relayed + max(moved, 1)
        if pidfd in ready:
            break
        if 0 in ready:
            message = requests.read()
            if message is None:
                os.kill(pid, signal.SIGKILL)
                os._exit(0)
            if message.get("op") == "kill" and not killed:
                os.kill(pid, signal.SIGKILL)
                killed = True
        if watch is not None and not killed and time.monotonic() >= next_watch:
            # files the job deleted but keeps open (or mapped) fill the same disk, unseen in its directory
            held = nameless.look()
            over = over_budget(watch, config.disk_bytes, config.disk_entries, held=held or 0)
            if held is None:
                over = "a process whose open files the grader cannot look at"
            next_watch = time.monotonic() + DISK_INTERVAL
            if over is not None:
                os.kill(pid, signal.SIGKILL)
                killed = True
    _, status, usage = os.wait4(pid, 0)  # the job's CPU, all its processes (each waited for by its parent)
    if nameless is not None:
        nameless.close()
    os.close(pidfd)
    try:
        os.write(reap_w, b"k")  # a reaper, where there is one, ends the job's processes now
    except OSError:
        pass  # none was started (not landlock mode), or it is gone
    os.close(reap_w)
    select.select([reaped_r], [], [], 5.0)  # end of file once the reaper is done (or there is none)
    os.close(reaped_r)
    if config.mode not in NAMESPACED:
        # End what the job left running (only our own descendants, see grader.sandbox.worker.confine), then
        # empty and remove the job's directory: nothing else is touched.
        dedicated = config.uid if config.mode == "uid" else None
        end_descendants(dedicated)
    # The child is gone and so is every other process of the job (in a PID namespace, with its
    # PID 1): relay what is left in the pipe, at most one pipe's worth (no writer is left to refill it).
    relayed = 0
    while relayed < RELAY_BURST and select.select([read_fd], [], [], 0)[0]:
        moved = _relay(read_fd)
        if not moved:
            break
        relayed += moved
    os.close(read_fd)
    if config.mode not in NAMESPACED:
        scratch = job_dir(config, pid)
        if os.path.isdir(scratch):
            try:
                left = empty_dir_as(dedicated, scratch, CLEANUP_SECONDS)
            except OSError:  # (no helper could be forked): the directory stays, the zygote goes on
                left = -1
            try:
                os.rmdir(scratch)
            except OSError:
                _report_left(scratch, left)
    exit_info = {"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                 "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, "killed": killed,
                 "disk": over,
                 "cpu": usage.ru_utime + usage.ru_stime, "zygote_cpu": CLOCK() - zygote_started}
    _send(b"X", json.dumps(exit_info).encode())


def _job_dumpable(config: WorkerConfig, isolation: Isolation) -> bool:
    """Whether jobs stay readable to the look at their nameless files (see child_main): not in
    ``uid`` mode without Landlock, where a dumpable job could lower its own OOM score."""
    return config.mode != "uid" or isolation.landlock_abi >= 4


#: An fd on the zygote's own PID namespace (namespaced modes), opened before it isolates itself:
#: after each job's fork it returns there, the only place the kernel makes a new one from. Empty
#: where it cannot return (a zygote in a user namespace of its own lacks the right over it).
_OWN_PID_NS: list[int] = []


def _new_pid_namespace_for_next_fork() -> int:
    """Make the next fork PID 1 of a new PID namespace, so the job's child is that from its start
    (no intermediate process forked just to enter one). Returns the fd to go back with."""
    unshare(CLONE_NEWPID)
    return _OWN_PID_NS[0]


def _back_to_own_pid_namespace(ns_fd: int) -> None:
    setns(ns_fd, CLONE_NEWPID)


_FIONREAD = 0x541B
_F_SETPIPE_SZ = 1031
#: How often the zygote relays what the running child has written (see serve_job): results reach the
#: grader this much later at most, far inside any step timeout; a child's exit is relayed at once.
RELAY_INTERVAL = 0.002
#: The most the zygote relays before it looks at its stdin and the child's exit again (one pipe's worth).
RELAY_BURST = 1 << 20
#: How often a job's directory is measured against its disk budget (uid and landlock modes): a job
#: writing as fast as the disk takes goes over by at most what it writes in this time.
DISK_INTERVAL = 0.05
#: The longest the removal of one job's directory may take; what is left then stays (reported once).
CLEANUP_SECONDS = 10.0
_reported: set[str] = set()


def _report_left(path: str, left: int) -> None:
    """Say once, on the zygote's log, that a job's directory could not be removed (it stays; every
    job has a directory of its own, so it is no reason for the next one to fail)."""
    if path not in _reported:
        _reported.add(path)
        sys.stderr.write(f"activation-grader: could not remove {path} ({left} entries left); left in place\n")
        sys.stderr.flush()


def _widen(read_fd: int) -> None:
    """A pipe of 1 MiB (the kernel's default cap), so the child seldom waits for the next relay."""
    import fcntl

    try:
        fcntl.fcntl(read_fd, _F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass  # the default 64 KiB: slower, the same bytes


def _relay(read_fd: int) -> int:
    """Move what the child wrote to our stdout as one ``C`` message; how many bytes (0: end of file)."""
    import fcntl
    import struct

    try:
        available = struct.unpack("i", fcntl.ioctl(read_fd, _FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        available = 0
    if available <= 0:
        data = os.read(read_fd, 1)  # readable with nothing buffered: end of file, or one byte
        if not data:
            return 0
        _send(b"C", data)
        return 1
    write_all(1, b"C" + available.to_bytes(4, "big"))
    moved = 0
    while moved < available:
        try:
            moved += os.splice(read_fd, 1, available - moved)
        except OSError:  # stdout cannot take a splice: fall back to a small copy
            chunk = os.read(read_fd, available - moved)
            write_all(1, chunk)
            moved += len(chunk)
    return moved



def _discard_stdin(n: int) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        while n > 0:
            try:
                moved = os.splice(0, null, n)
            except OSError:
                moved = len(os.read(0, min(n, 1 << 16)))
            if moved <= 0:
                break
            n -= moved
    finally:
        os.close(null)


class _ControlReader:
    """The trusted side's control frames on stdin, read byte for byte: nothing past the current
    frame is taken, because the bytes after a ``job`` frame are the job, for the child to read."""

    def read(self) -> dict | None:
        try:
            (n,) = HEADER.unpack(read_exactly(0, HEADER.size))
            if n > 1 << 16:
                raise ValueError("control frame too large")
            return json.loads(read_exactly(0, n))
        except (EOFError, ValueError, OSError):
            return None


def zygote_main(config: WorkerConfig) -> None:
    os.environ.update({"MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    started = time.perf_counter()
    for name in config.preload:
        try:
            __import__(name)
        except Exception:
            pass
    if config.mode in NAMESPACED:
        _OWN_PID_NS.append(os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC))
    isolation = isolate(config)
    if _OWN_PID_NS:
        try:  # can we come back to it? Not from a user namespace of our own: its jobs fork once more
            _back_to_own_pid_namespace(_OWN_PID_NS[0])
        except OSError:
            os.close(_OWN_PID_NS.pop())
    prepare_seccomp(config, isolation)
    _send(b"R", json.dumps({"isolation": isolation.name, "numpy": np.__version__, "python": sys.version.split()[0],
                            "startup_seconds": round(time.perf_counter() - started, 3)}).encode())
    requests = _ControlReader()
    while True:
        message = requests.read()
        if message is None or message.get("op") == "quit":
            return
        if message.get("op") == "job" and type(message.get("bytes")) is int:
            serve_job(message["bytes"], config, isolation)


def read_config() -> WorkerConfig:
    """The configuration the trusted side writes first on stdin (never on the command line, which
    every process, the job's own included, can read in /proc)."""
    (n,) = HEADER.unpack(read_exactly(0, HEADER.size))
    return WorkerConfig.from_json(read_exactly(0, n))


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--zygote":
    zygote_main(read_config())
    # Nothing left to finalise (every message is written straight to the pipe, every job is reaped):
    # skip the interpreter's teardown of numpy, scipy and matplotlib, a fifth of a second its grader waits.
    os._exit(0)
