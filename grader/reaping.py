"""Ending exactly what the job started, and removing only the job's own files.

Shipped with the worker program (after ``grader/confine.py``): it imports
nothing from the grader.

* **A child subreaper** (:func:`end_descendants`): the zygote adopts every orphan
  of the job, daemons that double-forked and called ``setsid`` included, and
  ends them one generation at a time, signalling only its own children, whose
  PIDs cannot be reused before it reaps them. A process that is not a
  descendant of the job is never signalled; with a uid of the job's own it is
  ``kill(-1)`` as that uid, which reaches nothing else.
* **Cleanup through directory descriptors** (:func:`empty_dir_as`): the job's
  scratch directory is emptied from descriptors opened without following
  links, so a link swapped in mid-cleanup leads nowhere outside it.
"""
from __future__ import annotations

import ctypes
import os
import signal
import time

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


def end_descendants(dedicated_uid: int | None = None, rounds: int = 10000) -> int:
    """End every process the job left behind; returns how many were signalled.

    Only this zygote's own children are signalled (after the job's child has exited, every
    one of them is an orphan of the job, adopted because we are a subreaper): a child's PID
    cannot be reused until we reap it, so no unrelated process can be hit. Killing a child
    hands its own children to us, so this goes one generation per round until none is left.
    With a ``dedicated_uid`` (a uid that only student code uses, chosen by the grader), a
    helper first drops to it and calls ``kill(-1)``, which ends the whole uid atomically,
    however fast the job forks; processes of any other uid are out of its reach.
    """
    signalled = 0
    if dedicated_uid is not None:
        helper = os.fork()
        if helper == 0:
            try:
                os.setresgid(dedicated_uid, dedicated_uid, dedicated_uid)
                os.setresuid(dedicated_uid, dedicated_uid, dedicated_uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:
                pass
            os._exit(0)
        os.waitpid(helper, 0)
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


def empty_dir_as(uid: int | None, path: str) -> None:
    """Delete what is inside ``path`` (a directory the grader made for one job), as ``uid``.

    As the job's own uid, the helper can delete everything the job could create there (and
    make writable again what the job made read-only), and nothing the job could not.
    """
    helper = os.fork()
    if helper == 0:
        try:
            if uid is not None and os.geteuid() == 0:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            _remove_inside(path)
        except BaseException:
            pass
        os._exit(0)
    os.waitpid(helper, 0)


def _remove_inside(top: str) -> None:
    """Delete everything below ``top`` through directory descriptors, never through paths.

    Each directory is opened with ``O_NOFOLLOW`` relative to its parent's descriptor, and each
    entry is removed relative to it, so a symlink or a rename in the job's directory can never
    lead the deletion out of it; depth-first without recursion (a tree may be thousands deep)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        root = os.open(top, flags)
    except OSError:
        return
    stack = [(root, None, None)]  # (descriptor, parent's descriptor, name in the parent)
    while stack:
        fd, parent, name = stack[-1]
        pushed = False
        try:
            entries = list(os.scandir(fd))
        except OSError:
            entries = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    child = _open_dir(entry.name, fd)
                    if child is not None:
                        stack.append((child, fd, entry.name))
                        pushed = True
                        break
                else:
                    os.unlink(entry.name, dir_fd=fd)
            except OSError:
                pass
        if pushed:
            continue
        stack.pop()
        os.close(fd)
        if parent is not None:
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                pass


def _open_dir(name: str, parent: int) -> int | None:
    """Open a subdirectory without following a link; make it readable first if the job had made
    it unreadable (through the descriptor of exactly that directory, never its name)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=parent)
    except PermissionError:
        pass
    except OSError:
        return None
    try:
        handle = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        return None
    try:
        os.chmod(f"/proc/self/fd/{handle}", 0o700)
        return os.open(f"/proc/self/fd/{handle}", flags & ~os.O_NOFOLLOW)
    except OSError:
        return None
    finally:
        os.close(handle)
