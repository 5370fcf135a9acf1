"""Ending exactly what the job started, and nothing else.

One of the parts shipped as the worker program (order: ``SHIPPED`` in ``grader/sandbox/process.py``): it
imports nothing from the grader; the trusted side also uses :func:`end_uid_from_outside`.

* **A child subreaper** (:func:`end_descendants`): the zygote adopts every orphan
  of the job, daemons that double-forked and called ``setsid`` included, and
  ends them one generation at a time, signalling only its own children, whose
  PIDs cannot be reused before it reaps them. A process that is not a
  descendant of the job is never signalled; with a uid of the job's own it is
  ``kill(-1)`` as that uid, which reaches nothing else.
* **Ending a uid** (:func:`end_uid`, :func:`kill_uid_until_none`): as the job's dedicated uid,
  ``kill(-1)`` until ``/proc`` shows no process of it left, from the zygote or the trusted side.

The job's directory (its disk budget, its removal) is ``grader/sandbox/worker/scratch.py``, whose
removal runs in a helper as the job's uid as :func:`end_uid` does (:func:`count_in_helper`).
"""
from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import Callable

_libc = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> None:
    if _libc.prctl(ctypes.c_int(36), ctypes.c_ulong(1), 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def _own_children() -> list[int]:
    me = os.getpid()
    pids = []
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        pass
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                        pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_uid_until_none(uid: int, seconds: float = 5.0) -> int:
    """Run as ``uid`` (a uid only student code uses): ``kill(-1, SIGKILL)`` until no process of that
    uid is left, checked in ``/proc`` (every process whose real, effective or saved uid it is,
    zombies aside); returns how many were still there when ``seconds`` ran out (0: none).

    ``kill(-1)`` as an unprivileged uid reaches exactly the processes of that uid, every one of
    them in one pass however fast they fork; looping until ``/proc`` shows none left covers what a
    process was doing in between (a daemon in the middle of ``setsid``, a fork under way)."""
    if uid == 0 or os.getresuid() != (uid, uid, uid):
        # kill(-1) as root (or as any uid but the job's own) would reach far more than the job
        raise PermissionError(f"kill_uid_until_none must run as uid {uid} itself, not {os.getresuid()}")
    me = os.getpid()
    deadline = time.monotonic() + seconds
    left = -1
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return 0  # not a process of this uid left, not even a zombie (the usual case: no scan)
        except OSError:
            pass
        left = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
            except (OSError, ValueError):
                continue
            if fields.get("State", "").strip().startswith(("Z", "X")):
                continue
            if str(uid) in fields.get("Uid", "").split()[:3]:
                left += 1
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.002)


def end_uid(uid: int, seconds: float = 5.0) -> int:
    """From the zygote (single-threaded, root): end every process of ``uid`` in a helper that drops
    to it (:func:`kill_uid_until_none`); returns how many were left, -1 if the helper failed."""
    if uid in (0, os.getuid()):
        raise PermissionError(f"not a uid of student code only: {uid}")
    return count_in_helper(uid, lambda: kill_uid_until_none(uid, seconds), seconds)


def count_in_helper(uid: int | None, count: Callable[[], int], seconds: float) -> int:
    """Run ``count`` in a forked helper (the zygote is single-threaded), dropped first to ``uid``
    (no groups) unless it is None, and wait for it at most ``seconds`` (and 2 s more), then kill it.

    Returns what ``count`` returned (capped at 254: it travels as the helper's exit status), or -1
    if the helper failed: it could not drop to ``uid``, ``count`` raised, or it ran out of time.
    What the helper does as ``uid`` is confined to what that uid may reach; nothing of it comes
    back but the number."""
    helper = os.fork()
    if helper == 0:
        code = 255
        try:
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            code = min(count(), 254)
        except BaseException:
            pass
        os._exit(code)
    status = wait_bounded(helper, seconds + 2.0)
    if status is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) == 255:
        return -1
    return os.WEXITSTATUS(status)


def wait_bounded(pid: int, seconds: float) -> int | None:
    """Wait for our child ``pid`` at most ``seconds``; past that it is killed. Its wait status,
    or None if it had to be killed."""
    import select

    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return os.waitpid(pid, 0)[1]
    try:
        if not select.select([pidfd], [], [], max(0.0, seconds))[0]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)
            return None
        return os.waitpid(pid, 0)[1]
    finally:
        os.close(pidfd)


def end_descendants(dedicated_uid: int | None = None, rounds: int = 10000) -> int:
    """End every process the job left behind; returns how many were signalled.

    Only this zygote's own children are signalled (after the job's child has exited, every
    one of them is an orphan of the job, adopted because we are a subreaper): a child's PID
    cannot be reused until we reap it, so no unrelated process can be hit. Killing a child
    hands its own children to us, so this goes one generation per round until none is left.
    With a ``dedicated_uid`` (a uid that only student code uses, chosen by the grader), a
    helper first drops to it and kills the whole uid (:func:`end_uid`), atomically however fast
    the job forks, until ``/proc`` shows none left; processes of any other uid are out of its reach.
    """
    signalled = 0
    if dedicated_uid is not None:
        end_uid(dedicated_uid)
    quiet = 0
    for _ in range(rounds):
        children = _own_children()
        if not children:
            _reap()
            quiet += 1
            if quiet >= 2:  # twice in a row: nothing was being adopted in between
                return signalled
            time.sleep(0.001)
            continue
        quiet = 0
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                signalled += 1
            except OSError:
                pass
        # the killed become zombies (their PIDs still ours); their orphans move to us
        time.sleep(0.0005)
        _reap()
    return signalled


def end_uid_from_outside(uid: int, seconds: float = 5.0) -> int:
    """From the trusted side (root; maybe threaded, so no bare fork): the same as :func:`end_uid`,
    in a fresh interpreter started as ``uid`` (``subprocess`` drops to it before ``exec``).
    Returns how many processes were left (0: none), -1 if the helper could not run."""
    import inspect
    import subprocess
    import sys

    if uid in (0, os.getuid()):
        raise PermissionError(f"not a uid of student code only: {uid}")

    program = ("import os, signal, sys, time\n" + inspect.getsource(kill_uid_until_none)
               + f"\nsys.exit(min(kill_uid_until_none({int(uid)}, {float(seconds)}), 254))\n")
    try:
        proc = subprocess.run([sys.executable, "-I", "-S", "-c", program], user=uid, group=uid, extra_groups=[],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd="/", env={}, timeout=seconds + 10)
    except (OSError, subprocess.SubprocessError):  # (a runtime this uid cannot run: a forked helper)
        return end_uid(uid, seconds)
    return proc.returncode if 0 <= proc.returncode < 255 else -1
