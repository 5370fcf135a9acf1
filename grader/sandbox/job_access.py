"""``uid`` mode as root: what the job's uid may reach on the filesystem, set for that uid alone.

In ``uid`` mode every job runs as a uid of its own (:func:`grader.sandbox.isolation.claim_uid`), and
where Landlock is missing (a kernel before 5.13, a container whose seccomp profile refuses the
``landlock_*`` calls) the file permissions are all that stand between it and the grader. Three
things are arranged here, each with a POSIX ACL entry that names the job's uid and nobody else
(nothing changes for any other user, and each entry is removed when the worker closes):

* **the runtime reachable**: a Python installed below a directory that others cannot search
  (Miniforge in ``/root``, mode 0700, as Otter's own ``setup.sh`` installs it) gets "search" on
  each such directory on its way, and "read" on the runtime's own directory where it lacks it:
  the job can open the runtime by name, never list ``/root`` or read what other users cannot;
* **the secrets out of reach** (only without Landlock, which keeps them out of the job's sight
  already): the grader, the reference and the autograder's sources, wherever
  the job's uid could otherwise read them, get an entry with no rights at all;
* **nothing to plant** (only without Landlock, whose write rules already allow the job's own
  directory alone): every place where a later process outside the sandbox would import or run
  what a job left (the runtime's ``sys.path`` with its site-packages, ``.pth`` files and
  ``sitecustomize``, the scripts directory, IPython's and Jupyter's start-up, config and data
  directories, matplotlib's config, the home directory) and the shared world-writable
  directories (``/tmp``, ``/var/tmp``, ``/dev/shm``, where a file would outlive the job and
  reach the next one) lose "write" for the job's uid if others may write there.

Where an entry is needed but cannot be set (a filesystem without ACLs), :class:`JobAccess`
raises :class:`~grader.sandbox.isolation.IsolationUnavailable`: the mode is refused, never weakened.
"""
from __future__ import annotations

import errno
import fcntl
import os
import site
import stat
import struct
import sys
import sysconfig
from pathlib import Path

from grader.sandbox.isolation import AUTOGRADER_SOURCE, IsolationUnavailable

ACL_ACCESS = "system.posix_acl_access"
_VERSION = struct.Struct("<I")
_ENTRY = struct.Struct("<HHI")
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
R, W, X = 4, 2, 1
#: World-writable directories where a job's file would outlive it (seen by the next job).
SHARED = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock")


# --- POSIX ACLs, as the kernel stores them in an extended attribute ----------------------------------
def read_acl(path: str) -> list[tuple[int, int, int]]:
    """``path``'s access ACL as (tag, perm, id) entries; the three that the mode bits give where it has none."""
    try:
        data = os.getxattr(path, ACL_ACCESS)
    except OSError as exc:
        if exc.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
            raise
        mode = os.stat(path).st_mode
        return [(USER_OBJ, (mode >> 6) & 7, _NO_ID), (GROUP_OBJ, (mode >> 3) & 7, _NO_ID), (OTHER, mode & 7, _NO_ID)]
    return [_ENTRY.unpack_from(data, off) for off in range(_VERSION.size, len(data), _ENTRY.size)]


def _write_acl(path: str, entries: list[tuple[int, int, int]]) -> None:
    named = [e for e in entries if e[0] in (USER, GROUP)]
    base = [e for e in entries if e[0] in (USER_OBJ, GROUP_OBJ, OTHER)]
    if not named:  # back to plain mode bits: the group class shows the owning group again
        group = next(p for t, p, _ in base if t == GROUP_OBJ)
        try:
            os.removexattr(path, ACL_ACCESS)
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                raise
        mode = stat.S_IMODE(os.stat(path).st_mode)
        os.chmod(path, (mode & ~0o070) | (group << 3))
        return
    mask = 0
    for tag, perm, _ in named + base:
        if tag in (USER, GROUP, GROUP_OBJ):
            mask |= perm
    entries = sorted(base + named + [(MASK, mask, _NO_ID)], key=lambda e: (e[0], e[2]))
    os.setxattr(path, ACL_ACCESS, _VERSION.pack(2) + b"".join(_ENTRY.pack(*e) for e in entries))


def set_user_entry(path: str, uid: int, perm: int | None) -> None:
    """Give ``uid`` exactly ``perm`` (R, W, X bits) on ``path``, or with None remove its entry.
    Read-modify-write under an exclusive lock on the file, so that two graders on one machine
    (each with its own uid) do not lose each other's entries."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        entries = [e for e in read_acl(path) if not (e[0] == USER and e[2] == uid) and e[0] != MASK]
        if perm is not None:
            entries.append((USER, perm, uid))
        _write_acl(path, entries)
    finally:
        os.close(fd)


def perm_for(path: str, uid: int) -> int:
    """What ``uid`` (of no group: the job drops every group, and its gid is its own) may do on ``path``."""
    entries = read_acl(path)
    mask = next((p for t, p, _ in entries if t == MASK), 7)
    owner = os.stat(path).st_uid
    if owner == uid:
        return next(p for t, p, _ in entries if t == USER_OBJ)
    named = next((p for t, p, i in entries if t == USER and i == uid), None)
    if named is not None:
        return named & mask
    return next(p for t, p, _ in entries if t == OTHER)


# --- what a later process outside the sandbox imports or runs ----------------------------------------
def startup_paths() -> list[str]:
    """Where a job's file would be imported or run by a later process of the grader's side: this
    runtime's import path and scripts, the user site, IPython's, Jupyter's and matplotlib's
    start-up and configuration, the home directory."""
    home = os.path.expanduser("~")
    env = os.environ.get
    paths = [p for p in sys.path if p]
    paths += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    paths += [site.getusersitepackages(), env("PYTHONUSERBASE") or site.getuserbase()]
    paths += [sysconfig.get_path(k) for k in ("purelib", "platlib", "stdlib", "platstdlib", "scripts", "data")]
    paths += [env("IPYTHONDIR") or os.path.join(home, ".ipython"), env("JUPYTER_CONFIG_DIR") or os.path.join(home, ".jupyter"),
              env("JUPYTER_DATA_DIR") or os.path.join(home, ".local", "share", "jupyter"),
              env("MPLCONFIGDIR") or os.path.join(env("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "matplotlib"),
              os.path.join(sys.prefix, "etc", "jupyter"), os.path.join(sys.prefix, "share", "jupyter"),
              "/etc/jupyter", "/usr/local/etc/jupyter", "/usr/local/share/jupyter", "/usr/share/jupyter",
              "/etc/ipython", home, os.path.join(home, ".config"), os.path.join(home, ".local")]
    paths += [p for p in (env("JUPYTER_PATH") or "").split(os.pathsep) + (env("JUPYTER_CONFIG_PATH") or "").split(os.pathsep) if p]
    seen, out = set(), []
    for p in paths:
        if p and os.path.isabs(p) and p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _nearest_existing(path: str) -> str:
    p = Path(path)
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return str(p.resolve())


# --- the arrangement for one uid ---------------------------------------------------------------------
class JobAccess:
    """The entries set for one job uid (see the module docstring); :meth:`revoke` removes them."""

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.changed: list[str] = []

    _REMEDY = {"let search": "install Python where every user can read it (not below a 0700 /root)",
               "let read": "install Python where every user can read it (not below a 0700 /root)",
               "hide": "make it unreadable to other users (chmod go-rwx)",
               "deny writes to": "make it writable by its owner only (chmod o-w)"}

    def _set(self, path: str, perm: int, what: str) -> None:
        try:
            set_user_entry(path, self.uid, perm)
        except OSError as exc:
            raise IsolationUnavailable(
                f"isolation 'uid' could not {what} {path} for the job's uid {self.uid} (POSIX ACL: "
                f"{exc.strerror or exc}): {self._REMEDY[what]}, or grade where Landlock is available or in "
                "the Docker sandbox") from None
        self.changed.append(path)

    def reach(self, allowed: list[str]) -> None:
        """Search on every directory on the way to each allowed path, read on the path itself."""
        for path in allowed:
            target = str(Path(path).resolve())
            if not os.path.exists(target):
                continue
            for d in reversed(Path(target).parents):
                if not perm_for(str(d), self.uid) & X:
                    self._set(str(d), X, "let search")
            want = R | X if os.path.isdir(target) else R | (X if os.stat(target).st_mode & 0o111 else 0)
            if perm_for(target, self.uid) & want != want:
                self._set(target, want, "let read")

    def can_reach(self, path: str) -> bool:
        try:
            return (all(perm_for(str(d), self.uid) & X for d in Path(path).parents)
                    and bool(perm_for(path, self.uid) & (R | X)))
        except OSError:
            return False

    def hide(self, hidden: list[str]) -> None:
        """No rights at all on each secret the job's uid could reach."""
        for path in [*hidden, AUTOGRADER_SOURCE]:
            target = os.path.realpath(path)
            if os.path.exists(target) and self.can_reach(target):
                self._set(target, 0, "hide")

    def no_planting(self, paths: list[str]) -> None:
        """No write on any of ``paths`` (or the nearest directory that exists, or a non-sticky
        directory above it) that others may write to."""
        for path in paths:
            nearest = _nearest_existing(path)
            for i, d in enumerate([Path(nearest), *Path(nearest).parents]):
                try:
                    st = os.stat(d)
                except OSError:
                    continue
                writable = perm_for(str(d), self.uid) & W
                if writable and (i == 0 or not st.st_mode & stat.S_ISVTX):
                    self._set(str(d), perm_for(str(d), self.uid) & ~W, "deny writes to")

    def revoke(self) -> None:
        for path in reversed(self.changed):
            try:
                set_user_entry(path, self.uid, None)
            except OSError:
                pass  # gone, or the filesystem went read-only: an entry for an unused uid
        self.changed = []


def arrange(uid: int, allowed: list[str], hidden: list[str], without_landlock: bool) -> JobAccess:
    """Set up ``uid``'s access for ``uid`` mode (see the module docstring); undone by ``revoke()``."""
    access = JobAccess(uid)
    try:
        access.reach(allowed)
        if without_landlock:  # (with Landlock, the job sees neither the secrets nor anywhere to write)
            access.hide(hidden)
            access.no_planting(startup_paths() + [p for p in SHARED if os.path.isdir(p)])
    except BaseException:
        access.revoke()
        raise
    return access
