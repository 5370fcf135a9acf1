"""Disk that a job holds in files with no name: its budget must count them.

One of the parts shipped as the worker program (order: ``SHIPPED`` in ``grader/sandbox/process.py``): it imports
nothing from the grader. A file deleted while open, made with ``O_TMPFILE`` or ``memfd_create``, or mapped after
its last name went is gone from the job's directory, which is what
``grader.sandbox.worker.scratch.over_budget`` measures, yet it fills the same disk (or memory) until the last
process holding it ends: 64 processes of 256 descriptors of 64 MiB each would fill any disk
while the directory looks empty. :class:`NamelessWatch` finds them in ``/proc``.
"""
from __future__ import annotations

import ctypes
import os
import select
import time

from grader.sandbox.worker.reaping import wait_bounded  # shipped-with-wire

_libc = ctypes.CDLL(None, use_errno=True)


class NamelessWatch:
    """Bytes that the job's processes hold in files with no name (unlinked while open, made with
    ``O_TMPFILE``, ``memfd_create``, or mapped after their last name went): the directory that
    :func:`over_budget` measures no longer shows them, yet they fill the same disk (or memory).
    :meth:`look` returns None when a process of the job could not be looked at (it made itself
    unreadable, or the look took over ``seconds``): the caller ends such a job.

    The processes are the descendants of ``job_root`` (the zygote: the job's child and the
    orphans it adopted). In ``uid`` mode the zygote (root without ``CAP_SYS_PTRACE``) may not read
    another uid's descriptors: a helper dropped to the job's uid looks for it, started at the
    first look (a short job never pays for it) and gone with :meth:`close` or the job's uid.
    Not ``strict`` (``uid`` mode without Landlock, whose jobs are left undumpable so that they
    cannot write their own ``/proc/self/oom_score_adj``), a process it cannot read is skipped.
    """

    def __init__(self, uid: int | None, job_root: int, file_bytes: int, ignore: frozenset = frozenset(),
                 seconds: float = 1.0, strict: bool = True) -> None:
        self.uid = uid if uid is not None and os.geteuid() == 0 else None
        self.args = (uid, job_root, file_bytes, ignore, strict)
        self.seconds = seconds
        self.helper: tuple[int, int, int] | None = None  # pid, request fd, answer fd

    def look(self) -> int | None:
        if self.uid is None:
            return _nameless(*self.args, time.monotonic() + self.seconds)
        try:
            if self.helper is None:
                self.helper = self._start()
            pid, ask, answer = self.helper
            os.write(ask, b"?")
            if not select.select([answer], [], [], self.seconds)[0]:
                return None
            line = os.read(answer, 64)
            return int(line) if line and int(line) >= 0 else None
        except (OSError, ValueError):
            return None

    def _start(self) -> tuple[int, int, int]:
        ask_r, ask_w = os.pipe()
        answer_r, answer_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                keep = {ask_r, answer_w, 0, 1, 2}
                for fd in map(int, os.listdir("/proc/self/fd")):  # nothing of the zygote's
                    if fd not in keep:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                os.setgroups([])
                os.setresgid(self.uid, self.uid, self.uid)
                os.setresuid(self.uid, self.uid, self.uid)
                _libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE: whatever fs.suid_dumpable says
                while os.read(ask_r, 1):  # end of file: the zygote is done with us (or gone)
                    found = _nameless(*self.args, time.monotonic() + self.seconds)
                    os.write(answer_w, str(-1 if found is None else found).encode())
            except BaseException:
                pass
            os._exit(0)
        os.close(ask_r)
        os.close(answer_w)
        return pid, ask_w, answer_r

    def close(self) -> None:
        if self.helper is not None:
            pid, ask, answer = self.helper
            self.helper = None
            os.close(ask)
            os.close(answer)
            wait_bounded(pid, 1.0)


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (its children, theirs...), through ``/proc/PID/task/TID/children``."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
            found += children
            todo += children
    return found


def deleted_mappings(task: str = "/proc/self") -> frozenset:
    """(device, inode) of what a process maps from files with no name (``/proc/PID/maps``)."""
    try:
        with open(f"{task}/maps") as f:
            return frozenset(tuple(line.split()[3:5]) for line in f if line.rstrip().endswith("(deleted)")
                             and " /dev/zero " not in line)  # (shared anonymous memory: within RLIMIT_AS)
    except OSError:
        return frozenset()


def _look(pid: int, uid: int | None, ignore: frozenset, strict: bool) -> tuple[list[str], frozenset] | None:
    """The descriptors (as paths) and nameless mappings of every live thread of ``pid`` (a thread
    goes on holding them after its leader has exited); empty for a process gone, or not yet of
    the job's uid; None if one stays unreadable (retried: a process between its change of uid
    and becoming readable again)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return [], frozenset()
    fds: list[str] = []
    mapped: frozenset = frozenset()
    for tid in tids:
        task = f"/proc/{pid}/task/{tid}"
        for attempt in range(3):
            try:
                real, state = _status(task)
                if state in ("Z", "X") or (uid is not None and real != uid):
                    break  # exited, or the job's child before it dropped to the job's uid
                fds += [f"{task}/fd/{fd}" for fd in os.listdir(f"{task}/fd")]
                mapped |= deleted_mappings(task) - ignore
                break
            except FileNotFoundError:
                break
            except PermissionError:
                if attempt == 2:
                    if strict:
                        return None
                    break  # (not strict: a job left unreadable, see NamelessWatch)
                time.sleep(0.01)
    return fds, mapped


def _status(task: str) -> tuple[int | None, str]:
    """Real uid and state, from ``/proc/PID/status``: readable whoever owns the process (its
    ``/proc/PID`` is root's while the process is not dumpable, so that owner says nothing)."""
    uid, state = None, ""
    with open(f"{task}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                uid = int(line.split()[1])
            elif line.startswith("State:"):
                state = line.split()[1]
    return uid, state


def _nameless(uid: int | None, root: int, file_bytes: int, ignore: frozenset, strict: bool,
              deadline: float) -> int | None:
    me, held = os.getpid(), {}
    for pid in _descendants(root):
        if time.monotonic() > deadline:  # (a job that made itself slow to look at: thousands of mappings)
            return None
        seen = _look(pid, uid, ignore, strict) if pid != me else ([], frozenset())
        if seen is None:
            return None
        fds, mapped = seen
        for fd in fds:
            try:
                st = os.stat(fd)
            except OSError:
                continue
            if st.st_nlink == 0 and st.st_mode & 0o170000 == 0o100000:
                held[(f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}", str(st.st_ino))] = st.st_blocks * 512
        for key in mapped:  # mapped, its descriptor closed: it may hold up to a whole file (RLIMIT_FSIZE)
            held.setdefault(key, file_bytes)
    return sum(held.values())
