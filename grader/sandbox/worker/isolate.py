"""Isolating the zygote once (namespaces, an allowlisted root), and the system calls it takes.

One of the parts shipped as the worker program (order: ``SHIPPED`` in ``grader/sandbox/process.py``);
it imports only the parts shipped before it, and nothing of the grader at run time. :func:`isolate`
runs once per zygote, before any job, and says what it put in force (:class:`Isolation`); the
child of each job (``grader/sandbox/worker/child.py``) uses the same calls (:func:`unshare`,
:func:`mount`, :func:`prctl`, :func:`drop_capabilities`).
"""
from __future__ import annotations

import builtins
import ctypes
import os
from dataclasses import dataclass

from grader.sandbox.worker.config import WorkerConfig  # shipped-with-wire
from grader.sandbox.worker.confine import landlock_abi, seccomp_available  # shipped-with-wire
from grader.sandbox.worker.reaping import become_subreaper  # shipped-with-wire

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
CLONE_NEWIPC = 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
NAMESPACED = ("root", "userns")  # modes where each job has its own PID, mount and IPC namespaces

PRIVATE_DIRS = ("/tmp", "/dev/shm", "/var/tmp")  # fresh for every submission

#: The C library, with errno kept for the calls below and the child's (``grader/sandbox/worker/child.py``).
libc = ctypes.CDLL(None, use_errno=True)
# What the worker reports (a call's facts, see grader/sandbox/worker/calls.py; a cell's error) is decided in the
# student's own process, so it must not follow the student's monkeypatches: functions defined
# below resolve builtins in this snapshot (the student's code still sees, and may patch, the real
# module). (This stops patching, not a process that rewrites its own memory or writes to the
# event pipe: such facts are only ever self-reported.)
__builtins__ = dict(builtins.__dict__)

def _call(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """Move this process into new namespaces (``CLONE_NEW*`` flags): the zygote once, each job's child."""
    _call(libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    """Enter the namespace that ``fd`` refers to (the zygote's way back to its own PID namespace)."""
    _call(libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2), raising OSError: the zygote's new root, each job's tmpfs and /proc."""
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _call(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def prctl(option: int, value: int) -> None:
    """prctl(2) with one argument (``PR_SET_*``), raising OSError."""
    _call(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


def drop_capabilities() -> None:
    """Empty every capability set (used where we cannot change uid)."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _call(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


# --- the zygote: isolation ---------------------------------------------------------------------
@dataclass(frozen=True)
class Isolation:
    """What the zygote put in force when it isolated itself (:func:`isolate`): found on this
    machine, never configured (the configuration is :class:`WorkerConfig`)."""

    #: What is in force, e.g. ``root+pidns+seccomp``: reported to the trusted side, which records it.
    name: str
    #: ``uid`` and ``landlock`` mode: the kernel's Landlock ABI (each job confines itself with it
    #: from ABI 4 on); 0 in the other modes, or without Landlock.
    landlock_abi: int = 0
    #: Whether each job loads the seccomp filter (pyseccomp and libseccomp are there; not in ``none`` mode).
    seccomp: bool = False
    #: ``root`` and ``userns``: the runtime's directories below ``/tmp``, ``/var/tmp`` or
    #: ``/dev/shm``, parked in ``/.runtime`` by the zygote and bound back by each job over its fresh tmpfs.
    rebind: tuple[str, ...] = ()


def isolate(config: WorkerConfig) -> Isolation:
    """Isolate the zygote once; returns what is in force (its name is e.g. ``root+pidns+seccomp``).

    ``root``: new mount and network namespaces; a new root filesystem built
    from an allowlist (system directories and the Python runtime, read-only, and
    a minimal ``/etc``); the grader and the reference masked even where they sit
    inside the runtime's site-packages. Children then get their own PID, mount
    and IPC namespaces and run as a uid of their own. ``userns`` does the same
    from an unprivileged user namespace, where the children keep the caller's
    uid but lose every capability.

    Without namespaces (a container that forbids them, a JupyterHub pod), the
    zygote becomes a child subreaper so that it can end exactly the job's
    processes, and every child confines itself with Landlock and seccomp where
    the kernel has them (:mod:`grader.sandbox.worker.confine`). ``uid`` (as root) also runs each
    child as a uid that only student code uses; ``landlock`` (not root) keeps
    the caller's uid; ``none`` has only the resource limits.
    """
    mode = config.mode
    extras = []
    if mode not in NAMESPACED:
        prctl(PR_SET_DUMPABLE, 0)  # a same-uid child cannot ptrace the zygote or read its /proc files
        become_subreaper()
        abi = landlock_abi() if mode in ("uid", "landlock") else 0
        if abi >= 4:
            extras.append("landlock")
        if mode == "landlock" and abi < 6:
            raise OSError("Landlock ABI 6 or later (network rules, signal and socket scopes) is not available here")
        seccomp = mode != "none" and seccomp_available()
        if seccomp:
            extras.append("seccomp")
        elif mode == "landlock":
            raise OSError("seccomp (pyseccomp and libseccomp) is not available here")
        name = "+".join([mode] + extras) if mode != "landlock" else "+".join(extras)
        return Isolation(name, landlock_abi=abi, seccomp=seccomp)
    seccomp = seccomp_available()
    if mode == "userns":
        uid, gid = os.getuid(), os.getgid()
        unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    else:
        unshare(CLONE_NEWNS | CLONE_NEWNET)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = config.new_root
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=8m")
    for path in config.allow:
        _expose(root, path)
    _minimal_etc(root, config)
    for path in config.hide:
        if os.path.isdir(root + path):
            mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000,size=4k")
    # Each child mounts a fresh tmpfs on /tmp, /var/tmp and /dev/shm. A runtime that lives below
    # one of them (a checkout in /tmp with its .venv) would vanish under it, so it is parked
    # in /.runtime now and bound back by the child (read-only, with the masks above).
    rebind = tuple(p for p in config.allow if any(p.startswith(d + "/") for d in PRIVATE_DIRS)
                   and os.path.isdir(root + p))
    for i, path in enumerate(rebind):
        os.makedirs(f"{root}/.runtime/{i}")
        mount(root + path, f"{root}/.runtime/{i}", None, MS_BIND | MS_REC)
    os.makedirs(f"{root}/dev", exist_ok=True)
    for name in ("null", "zero", "random", "urandom", "full"):
        open(f"{root}/dev/{name}", "a").close()
        mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for d in ("/tmp", "/proc", "/dev/shm", "/var/tmp"):
        os.makedirs(root + d, exist_ok=True)
    # Read-only from now on: the root tmpfs is one filesystem for every job (each job's mount
    # namespace is a copy of the zygote's), so a job able to write to it could leave files
    # for the next one. The child mounts its own /tmp, /var/tmp, /dev/shm and /proc over it.
    mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chroot(root)
    os.chdir("/")
    return Isolation("+".join([mode, "pidns"] + (["seccomp"] if seccomp else [])), seccomp=seccomp, rebind=rebind)


def _minimal_etc(root: str, config: WorkerConfig) -> None:
    """``/etc`` with what Python, NumPy and Matplotlib read, nothing else of the host's:
    stub ``passwd``/``group`` naming only root and the sandbox user, and the few files that
    ``config.etc`` lists (the loader's cache, the time zone, Debian's alternatives)."""
    os.makedirs(root + "/etc", exist_ok=True)
    for path in config.etc:
        _expose(root, path)
    uid, gid = config.uid, config.gid
    with open(root + "/etc/passwd", "w") as f:
        f.write(f"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}:sandbox:/tmp/submission:"
                "/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    with open(root + "/etc/group", "w") as f:
        f.write(f"root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n")


def _expose(root: str, path: str) -> None:
    """Make ``path`` appear, read-only, at the same place under ``root``."""
    if not os.path.lexists(path) or os.path.lexists(root + path):
        return
    parent = os.path.dirname(path)
    if parent != "/":
        os.makedirs(root + parent, exist_ok=True)
    if os.path.islink(path):
        os.symlink(os.readlink(path), root + path)
        return
    if os.path.isdir(path):
        os.makedirs(root + path, exist_ok=True)
    else:
        open(root + path, "a").close()
    mount(path, root + path, None, MS_BIND | MS_REC)
    mount(None, root + path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
