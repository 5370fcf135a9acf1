"""The job's own directory without namespaces: its disk budget while it runs, its removal after.

One of the parts shipped as the worker program (order: ``SHIPPED`` in ``grader/sandbox/process.py``): it imports
nothing from the grader. Where the job gets no size-limited filesystem of its own (``uid`` and ``landlock``
modes), its scratch directory lives on the grader's ``TMPDIR``:

* **A disk budget** (:func:`over_budget`): the zygote measures the job's directory while it runs
  (read-only, bounded), with the files the job's processes hold open after deleting them
  (``grader.sandbox.worker.nameless``), and ends the job that goes over it.
* **Removal that cannot fail the next job** (:func:`empty_dir_as`, :func:`remove_tree`): through
  directory descriptors opened without following links (a link swapped in mid-cleanup leads
  nowhere outside the tree), at any depth with a bounded number of descriptors, in bounded
  time, never raising; what cannot be removed is counted and left.
"""
from __future__ import annotations

import errno
import os
import time

from grader.sandbox.worker.reaping import count_in_helper  # shipped-with-wire


def empty_dir_as(uid: int | None, path: str, seconds: float = 10.0) -> int:
    """Delete what is inside ``path`` (a directory the grader made for one job), as ``uid``, in at
    most ``seconds``; returns how many entries were left (0: all gone; -1: the helper failed).

    As the job's own uid, the helper can delete everything the job could create there (and
    make writable again what the job made read-only), and nothing the job could not. It never
    raises: what it cannot remove in time stays, and the next job gets a directory of its own.
    """
    as_uid = uid if uid is not None and os.geteuid() == 0 else None  # (not root: already the job's uid)
    return count_in_helper(as_uid, lambda: remove_tree(path, seconds, keep_top=True), seconds)


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Directories held open at once while removing a tree; anything deeper is moved up (see remove_tree).
MAX_OPEN = 16
#: Subdirectories noted per listing of one directory (then it is listed again): memory stays bounded.
BATCH = 512


def remove_tree(top: str, seconds: float = 10.0, keep_top: bool = False) -> int:
    """Delete the tree at ``top`` (its contents only with ``keep_top``) through directory
    descriptors, never through paths; returns how many entries were left (0: all gone).

    * **No way out**: each directory is opened with ``O_NOFOLLOW`` relative to its parent's
      descriptor and each entry is removed relative to it, so a symlink or a rename in the tree
      can never lead the deletion out of it.
    * **Any depth, a bounded number of descriptors**: at most :data:`MAX_OPEN` directories are
      open at once (never recursion, never one descriptor per level): a subdirectory found below
      that depth is first moved up to ``top`` (``renameat`` within the tree), which flattens a
      chain thousands of levels deep into short ones, each level handled once.
    * **Bounded time**: it stops after ``seconds``, leaving what it had not reached.
    * **Never raises**: what cannot be removed (a mount point, an entry whose removal the kernel
      refuses) is counted, skipped, and left.
    """
    deadline = time.monotonic() + seconds
    try:
        root = os.open(top, _DIR)
    except OSError:
        return 0 if not os.path.lexists(top) else 1
    stuck = moved = 0
    stack: list[tuple[int, str | None, list[str], set[str]]] = [(root, None, [], set())]
    try:  # each entry: (descriptor, name in its parent, subdirectories still to do, names to skip)
        while stack and time.monotonic() < deadline:
            fd, name, todo, skip = stack[-1]
            if not todo:
                todo.extend(_list_and_unlink(fd, skip, deadline))
            if not todo:  # everything below is gone (or skipped): this directory itself goes
                stack.pop()
                os.close(fd)
                if stack and not _retry(lambda: os.rmdir(name, dir_fd=stack[-1][0]), stack[-1][0]):
                    stack[-1][3].add(name)
                    stuck += 1
                continue
            sub = todo.pop()
            if len(stack) >= MAX_OPEN:  # deep enough: move it up to the top and take it from there
                moved += 1
                if not _move_up(fd, sub, root, moved):
                    skip.add(sub)
                    stuck += 1
                continue
            child = _open_dir(sub, fd)
            if child is None:
                skip.add(sub)
                stuck += 1
                continue
            stack.append((child, sub, [], set()))
    finally:
        left = len(stack)  # (not empty only when the time ran out)
        for entry in stack:
            os.close(entry[0])
    if not keep_top and not left and not stuck:
        try:
            os.rmdir(top)
        except OSError:
            return 1
    return stuck + left


def _retry(action, dir_fd: int) -> bool:
    """Run ``action`` (a removal inside the directory ``dir_fd``); if the job had made that
    directory unwritable, make it writable again (through its descriptor) and try once more."""
    try:
        action()
        return True
    except PermissionError:
        pass
    except OSError:
        return False
    try:
        os.chmod(dir_fd, 0o700)
        action()
        return True
    except OSError:
        return False


def _list_and_unlink(fd: int, skip: set[str], deadline: float) -> list[str]:
    """Unlink every non-directory in the directory ``fd``; return up to :data:`BATCH` of its
    subdirectories (names not in ``skip``), to be handled before it is listed again."""
    subdirs: list[str] = []
    try:
        with os.scandir(fd) as entries:
            for i, entry in enumerate(entries):
                if entry.name in skip:
                    continue
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    subdirs.append(entry.name)
                    if len(subdirs) >= BATCH:
                        break
                elif not _retry(lambda: os.unlink(entry.name, dir_fd=fd), fd):
                    skip.add(entry.name)
                if i % 256 == 255 and time.monotonic() > deadline:
                    break
    except OSError:
        pass
    return subdirs


def _move_up(parent: int, name: str, root: int, n: int) -> bool:
    """Move the directory ``name`` (in ``parent``) to the top of the tree under a fresh name."""
    for attempt in range(8):
        target = f".removing-{os.getpid()}-{n}-{attempt}"
        try:
            os.rename(name, target, src_dir_fd=parent, dst_dir_fd=root)
            return True
        except PermissionError:  # a directory the job made unwritable: its ".." must change
            child = _open_dir(name, parent)
            if child is not None:
                try:
                    os.chmod(child, 0o700)
                except OSError:
                    pass
                os.close(child)
            try:
                os.chmod(parent, 0o700)
            except OSError:
                pass
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                return False
    return False


def _open_dir(name: str, parent: int) -> int | None:
    """Open a subdirectory without following a link; make it readable first if the job had made
    it unreadable (through the descriptor of exactly that directory, never its name)."""
    try:
        return os.open(name, _DIR, dir_fd=parent)
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
        return os.open(f"/proc/self/fd/{handle}", _DIR & ~os.O_NOFOLLOW)
    except OSError:
        return None
    finally:
        os.close(handle)


def over_budget(top: str, max_bytes: int, max_entries: int, max_depth: int = 32, held: int = 0) -> str | None:
    """Why the job's directory ``top`` is over its budget, or None: more than ``max_bytes`` of
    disk (allocated blocks), more than ``max_entries`` entries, a directory deeper than
    ``max_depth`` or one that cannot be listed (what is below it could not be counted).

    Read-only and bounded: at most ``max_entries`` entries are looked at and ``max_depth``
    directories held open, whatever the job made; links are never followed. ``held``: bytes the
    job holds in files with no name (``grader.sandbox.worker.nameless``), counted as part of its disk."""
    if held > max_bytes:
        return f"more than {max_bytes // 1024**2} MiB of disk (in files it deleted but keeps open)"
    try:
        root = os.open(top, _DIR)
    except OSError:
        return None  # not made yet, or already gone
    used, entries = held, 0
    stack: list[tuple[int, list[str]]] = []
    try:
        names = os.listdir(root)
        stack.append((root, names))
        entries += len(names)
        while stack:
            if entries > max_entries:
                return f"more than {max_entries} files and directories"
            fd, todo = stack[-1]
            if not todo:
                stack.pop()
                if fd != root:
                    os.close(fd)
                continue
            name = todo.pop()
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue  # gone in between
            used += st.st_blocks * 512
            if used > max_bytes:
                return f"more than {max_bytes // 1024**2} MiB of disk"
            if not (st.st_mode & 0o170000 == 0o040000):
                continue
            if len(stack) >= max_depth:
                return f"directories nested more than {max_depth} deep"
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except OSError:
                return "a directory the grader cannot list"
            try:
                names = os.listdir(child)
            except OSError:
                os.close(child)
                return "a directory the grader cannot list"
            entries += len(names)
            stack.append((child, names))
        return None
    finally:
        for fd, _ in stack:
            if fd != root:
                os.close(fd)
        os.close(root)
