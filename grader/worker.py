"""The untrusted side: executes a submission and runs probe calls on it.

This file is shipped verbatim (after ``grader/wire.py``, ``grader/confine.py`` and
``grader/calls.py``) to a fresh interpreter
started with ``python -I -c``; it imports nothing from the grader, and the
grader and the reference are not reachable from where it runs.

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

import builtins
import ctypes
import json
import os
import resource
import select
import signal
import sys
import time
import types

import numpy as np

from grader.wire import HEADER, frame  # shipped-with-wire
from grader.calls import ENCODING, _CLOCK, describe_error, run_call  # shipped-with-wire
from grader.confine import (FS_IOCTL_DEV, FS_READ_FILE, FS_WRITE_FILE, become_subreaper,  # shipped-with-wire
                            empty_dir_as, end_descendants, landlock_abi, landlock_restrict,  # shipped-with-wire
                            seccomp_available, seccomp_restrict, start_reaper)  # shipped-with-wire

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
CLONE_NEWIPC = 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
NAMESPACED = ("root", "userns")  # modes where each job has its own PID, mount and IPC namespaces

PRIVATE_DIRS = ("/tmp", "/dev/shm", "/var/tmp")  # fresh for every submission

_libc = ctypes.CDLL(None, use_errno=True)

# What the worker reports (a call's facts, see grader/calls.py; a cell's error) is decided in the
# student's own process, so it must not follow the student's monkeypatches: functions defined
# below resolve builtins in this snapshot (the student's code still sees, and may patch, the real
# module). (This stops patching, not a process that rewrites its own memory or writes to the
# event pipe: such facts are only ever self-reported.)
__builtins__ = dict(builtins.__dict__)


def _call(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    _call(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _call(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _prctl(option: int, value: int) -> None:
    _call(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


def _drop_capabilities() -> None:
    """Empty every capability set (used where we cannot change uid)."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _call(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


# --- the zygote: isolation ---------------------------------------------------------------------
def isolate(config: dict) -> str:
    """Isolate the zygote once; returns the isolation that is in force, e.g. ``root+pidns+seccomp``.

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
    the kernel has them (:mod:`grader.confine`). ``uid`` (as root) also runs each
    child as a uid that only student code uses; ``landlock`` (not root) keeps
    the caller's uid; ``none`` has only the resource limits.
    """
    mode = config["mode"]
    extras = []
    if mode not in NAMESPACED:
        _prctl(PR_SET_DUMPABLE, 0)  # a same-uid child cannot ptrace the zygote or read its /proc files
        become_subreaper()
        abi = landlock_abi() if mode in ("uid", "landlock") else 0
        config["landlock_abi"] = abi
        if abi >= 4:
            extras.append("landlock")
        if mode == "landlock" and abi < 6:
            raise OSError("Landlock ABI 6 or later (network rules, signal and socket scopes) is not available here")
        config["seccomp"] = mode != "none" and seccomp_available()
        if config["seccomp"]:
            extras.append("seccomp")
        elif mode == "landlock":
            raise OSError("seccomp (pyseccomp and libseccomp) is not available here")
        return "+".join([mode] + extras) if mode != "landlock" else "+".join(extras)
    config["seccomp"] = seccomp_available()
    if mode == "userns":
        uid, gid = os.getuid(), os.getgid()
        _unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    else:
        _unshare(CLONE_NEWNS | CLONE_NEWNET)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = config["new_root"]
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=8m")
    for path in config["allow"]:
        _expose(root, path)
    _minimal_etc(root, config)
    for path in config["hide"]:
        if os.path.isdir(root + path):
            _mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000,size=4k")
    # Each child mounts a fresh tmpfs on /tmp, /var/tmp and /dev/shm. A runtime that lives below
    # one of them (a checkout in /tmp with its .venv) would vanish under it, so it is parked
    # in /.runtime now and bound back by the child (read-only, with the masks above).
    config["rebind"] = [p for p in config["allow"] if any(p.startswith(d + "/") for d in PRIVATE_DIRS)
                        and os.path.isdir(root + p)]
    for i, path in enumerate(config["rebind"]):
        os.makedirs(f"{root}/.runtime/{i}")
        _mount(root + path, f"{root}/.runtime/{i}", None, MS_BIND | MS_REC)
    os.makedirs(f"{root}/dev", exist_ok=True)
    for name in ("null", "zero", "random", "urandom", "full"):
        open(f"{root}/dev/{name}", "a").close()
        _mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for d in ("/tmp", "/proc", "/dev/shm", "/var/tmp"):
        os.makedirs(root + d, exist_ok=True)
    # Read-only from now on: the root tmpfs is one filesystem for every job (each job's mount
    # namespace is a copy of the zygote's), so a job able to write to it could leave files
    # for the next one. The child mounts its own /tmp, /var/tmp, /dev/shm and /proc over it.
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chroot(root)
    os.chdir("/")
    return "+".join([mode, "pidns"] + (["seccomp"] if config["seccomp"] else []))


def _minimal_etc(root: str, config: dict) -> None:
    """``/etc`` with what Python, NumPy and Matplotlib read, nothing else of the host's:
    stub ``passwd``/``group`` naming only root and the sandbox user, and the few files that
    ``config["etc"]`` lists (the loader's cache, the time zone, Debian's alternatives)."""
    os.makedirs(root + "/etc", exist_ok=True)
    for path in config.get("etc", ()):
        _expose(root, path)
    uid, gid = config["uid"], config["gid"]
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
    _mount(path, root + path, None, MS_BIND | MS_REC)
    _mount(None, root + path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


# --- the child: one job ---------------------------------------------------------------------------
def child_main(size: int, config: dict, out_fd: int, got_job_fd: int, reap_fds: tuple[int, int]) -> None:
    """Runs in the forked child; never returns. Reads its job (``size`` bytes) from stdin first."""
    code = 0
    try:
        try:
            raw = _read_exactly(0, size)
            os.write(got_job_fd, b"1")
        finally:
            os.close(got_job_fd)  # stdin goes back to the zygote
        job = json.loads(raw)
        del raw
        os.setsid()
        mode = config["mode"]
        if mode in ("root", "userns"):
            # A new IPC namespace too: SysV shared memory, semaphores and message queues (and POSIX
            # queues) otherwise outlive the job in the host's namespace, where the next submission
            # with the same uid, or anyone, can read them.
            _unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC)
            inner = os.fork()
            if inner:
                os._exit(_wait_exit(inner))
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # we are PID 1: our death ends everything
            _mount_proc()
            _redirect_stdio()  # PID 1 needs nothing of the zygote's stdin/stdout: keep no handle on them
            opts = f"size={config['tmpfs_bytes']},mode=1777"
            for d in PRIVATE_DIRS:
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, opts)
            for i, path in enumerate(config.get("rebind", ())):
                os.makedirs(path, exist_ok=True)
                _mount(f"/.runtime/{i}", path, None, MS_BIND | MS_REC)
                _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
            if config.get("rebind"):  # the parking place itself is not for the student
                _mount("tmpfs", "/.runtime", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000,size=4k")
            scratch = "/tmp/submission"
            os.mkdir(scratch, 0o700)
            if mode == "root":
                os.chown(scratch, config["uid"], config["gid"])
            student = os.fork()
            if student:
                _reap_until(student)
            _killed_first_when_memory_runs_out()
            if mode == "root":
                os.setgroups([])
                os.setresgid(config["gid"], config["gid"], config["gid"])
                os.setresuid(config["uid"], config["uid"], config["uid"])
            else:
                _drop_capabilities()
        else:
            # The job's own directory under one the grader made; the only place it may write
            # (with Landlock), its HOME and TMPDIR, and the only thing cleaned after it.
            scratch = job_dir(config, os.getpid())
            os.mkdir(scratch, 0o700)
            os.mkdir(os.path.join(scratch, "tmp"), 0o700)
            _killed_first_when_memory_runs_out()
            if mode == "uid":
                # as root: a uid that only student code uses (no passwd entry needed), no groups,
                # and with it no capabilities
                uid = config["uid"]
                for d in (os.path.join(scratch, "tmp"), scratch):  # inner first: root may lack DAC_OVERRIDE
                    os.chown(d, uid, uid)
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            elif os.geteuid() == 0:
                _drop_capabilities()  # uid 0 without a capability, Landlock and no_new_privs
        _fresh_keyrings(clear_user=mode in ("root", "uid"))
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _set_limits(config)
        os.chdir(scratch)
        _redirect_stdio()
        _scrub_environment(scratch, "/tmp" if mode in NAMESPACED else os.path.join(scratch, "tmp"))
        _confine(config, scratch, reap_fds, out_fd)
        run_job(job, lambda obj: _write_all(out_fd, frame(obj)))
    except BaseException as exc:  # report, never propagate into the zygote's loop
        try:
            _write_all(out_fd, frame({"ev": "fatal", "error": f"{type(exc).__name__}: {exc}"}))
        except BaseException:
            pass
        code = 70
    os._exit(code)


def _mount_proc() -> None:
    """The PID namespace's /proc; ``hidepid=2`` hides PID 1 (root) from the student entirely
    (its command line holds the zygote's configuration, its fds the zygote's pipes). Where the
    kernel refuses a new /proc (a user namespace inside a container whose /proc is partly masked),
    the job gets none: an empty directory, which hides even more."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    for options in ("hidepid=2", None):
        try:
            _mount("proc", "/proc", "proc", flags, options)
            return
        except OSError:
            continue


def _killed_first_when_memory_runs_out() -> None:
    """RLIMIT_AS binds per process, so nproc processes can together use nproc times the limit.
    Until a memory cgroup bounds the total, make sure that the kernel's OOM killer picks the
    submission rather than the grader: set while still privileged, the student cannot lower it."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_CLEAR = 0, 1, 7
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -3, -4, -5


def _fresh_keyrings(clear_user: bool) -> None:
    """Kernel keyrings belong to no namespace we create: a key that one submission adds to its
    uid's keyring is still there for the next submission with that uid. Give each job a new
    session keyring and, where the uid is the sandbox's own, empty the user keyrings it inherits
    (best effort: Docker's default seccomp profile forbids keyctl altogether)."""
    if _SYS_KEYCTL is None:
        return
    keyctl = lambda *args: _libc.syscall(ctypes.c_long(_SYS_KEYCTL), *(ctypes.c_long(a) for a in args))  # noqa
    keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
    if not clear_user:
        return
    for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
        keyctl(KEYCTL_CLEAR, keyring)
    # Unlinked keys are only freed by the kernel's key collector a moment later; until then their
    # descriptions are still listed in /proc/keys for this uid. Wait (briefly) until only ours remain.
    ours = {f"{keyctl(KEYCTL_GET_KEYRING_ID, spec, 0):08x}" for spec in
            (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING, KEY_SPEC_SESSION_KEYRING)}
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            with open("/proc/keys") as f:
                if all(line.split(None, 1)[0] in ours for line in f if line.strip()):
                    return
        except OSError:
            return
        time.sleep(0.005)


def _wait_exit(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _reap_until(pid: int) -> None:
    """PID 1's loop: reap orphans; when the student's process ends, end the namespace."""
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if done == pid:
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _set_limits(config: dict) -> None:
    limits = {
        resource.RLIMIT_AS: config["memory_bytes"],
        resource.RLIMIT_CPU: config["cpu_seconds"],
        resource.RLIMIT_FSIZE: config["file_bytes"],
        resource.RLIMIT_NPROC: config["nproc"],
        resource.RLIMIT_NOFILE: 256,
        resource.RLIMIT_CORE: 0,
    }
    for what, value in limits.items():
        resource.setrlimit(what, (value, value))


def _redirect_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def job_dir(config: dict, pid: int) -> str:
    return os.path.join(config["scratch_base"], f"job-{pid}")


def _confine(config: dict, scratch: str, reap_fds: tuple[int, int], out_fd: int) -> None:
    """Landlock and seccomp, the last step before student code (see ``grader.confine``)."""
    if config["mode"] == "landlock":
        start_reaper(reap_fds[0], (out_fd,))
    for fd in reap_fds:  # the reaper keeps its copies; the job has none
        os.close(fd)
    if config.get("landlock_abi", 0) >= 4:
        devices = {"/dev/null": FS_READ_FILE | FS_WRITE_FILE | FS_IOCTL_DEV,
                   "/dev/zero": FS_READ_FILE, "/dev/urandom": FS_READ_FILE, "/dev/random": FS_READ_FILE}
        landlock_restrict(config["landlock_abi"], config["read"], config["listable"], [scratch], devices)
    if config.get("seccomp"):
        seccomp_restrict(network=config["mode"] not in NAMESPACED)


def _scrub_environment(scratch: str, tmp: str) -> None:
    keep = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "TMPDIR": tmp, "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(scratch, ".matplotlib"),
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    os.environ.clear()
    os.environ.update(keep)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- executing a notebook with Jupyter's semantics ----------------------------------------------
class _Shell:
    """Stands in for ``get_ipython()``: magics and shell lines run nothing."""

    def __init__(self, namespace: dict) -> None:
        self.user_ns = namespace

    def run_line_magic(self, name: str, line: str, *args, **kwargs) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        # %%time and %%capture only observe their cell; run it once, as Jupyter would.
        if name in ("time", "capture", "timeit"):
            exec(compile(cell, f"<%%{name}>", "exec"), self.user_ns)

    def system(self, cmd: str, *args, **kwargs) -> None:
        return None

    getoutput = system

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def _no_input(prompt: str = "") -> str:
    raise RuntimeError("input() is not available while grading: remove the call or give the value in code")


def fresh_namespace() -> dict:
    """A new ``__main__`` module, as a fresh kernel has."""
    main = types.ModuleType("__main__")
    ns = main.__dict__
    ns["__builtins__"] = builtins
    ns["get_ipython"] = lambda: shell
    shell = _Shell(ns)
    sys.modules["__main__"] = main
    builtins.input = _no_input
    sys.argv = ["notebook"]
    return ns


def run_cells(cells: list[str], skip: set[int], ns: dict, emit) -> None:
    """Each cell compiled and run on its own; a failing cell does not stop the next."""
    for i, source in enumerate(cells):
        if i in skip:
            continue
        emit({"ev": "cell", "i": i})
        error = None
        try:
            exec(compile(source, f"<cell {i + 1}>", "exec"), ns)
        except BaseException as exc:  # SyntaxError, SystemExit and KeyboardInterrupt included
            error = describe_error(exc)
        emit({"ev": "cell_done", "i": i, "error": error})


def run_job(job: dict, emit) -> None:
    setup = _CLOCK()  # this process's CPU before the first cell: its share of the isolation
    ns = fresh_namespace()
    run_cells(job["cells"], set(job.get("skip_cells", ())), ns, emit)
    emit({"ev": "cells_done"})
    cells = _CLOCK()
    for exercise in job["exercises"]:
        emit({"ev": "exercise", "q": exercise["q"]})
        for call in exercise["calls"]:
            result = run_call(ns, call)
            started = _CLOCK()
            emit({"ev": "result", "q": exercise["q"], "id": call["id"], **result})
            ENCODING[0] += _CLOCK() - started
    probes = _CLOCK()  # the calls, and encoding their results (encode_result, then the frames)
    emit({"ev": "done", "cpu": {"setup": setup, "cells": cells - setup, "calls": probes - cells - ENCODING[0],
                                "encode": ENCODING[0]}})


# --- the zygote: serving jobs ----------------------------------------------------------------------
def _send(kind: bytes, payload: bytes) -> None:
    _write_all(1, kind + len(payload).to_bytes(4, "big") + payload)


def serve_job(size: int, config: dict) -> None:
    """Run one job whose ``size`` bytes of JSON wait on stdin: the child reads them, not us.

    The zygote never holds a submission's data: its memory is what every later child is forked
    from, and a job that scanned its own memory would find the previous job's source there.
    So the child reads its job from stdin itself, and its output goes to our stdout through
    ``splice`` (kernel to kernel), never through a buffer of ours.
    """
    zygote_started = _CLOCK()
    read_fd, write_fd = os.pipe()
    got_job_r, got_job_w = os.pipe()
    reap_r, reap_w = os.pipe()  # the landlock-mode reaper waits on this (see start_reaper) ...
    reaped_r, reaped_w = os.pipe()  # ... and closes this when it is done
    pid = os.fork()
    if pid == 0:
        for fd in (read_fd, got_job_r, reap_w, reaped_r):
            os.close(fd)
        child_main(size, config, write_fd, got_job_w, (reap_r, reaped_w))
    for fd in (write_fd, got_job_w, reap_r, reaped_w):
        os.close(fd)
    if os.read(got_job_r, 1) != b"1":  # stdin is the child's until it has read its job
        _discard_stdin(size)  # it died first: its job must not be taken for the next frame
    os.close(got_job_r)
    pidfd = os.pidfd_open(pid)
    alive, killed = True, False
    requests = _ControlReader()
    while True:
        ready, _, _ = select.select([read_fd, 0] + ([pidfd] if alive else []), [], [])
        if read_fd in ready:
            if _relay(read_fd):
                continue
            if not alive:
                break
        if pidfd in ready:
            alive = False
            # the child is gone; drain what it wrote, without waiting on strays holding the pipe
            while select.select([read_fd], [], [], 0)[0] and _relay(read_fd):
                pass
            break
        if 0 in ready:
            message = requests.read()
            if message is None:
                os.kill(pid, signal.SIGKILL)
                os._exit(0)
            if message.get("op") == "kill" and not killed:
                os.kill(pid, signal.SIGKILL)
                killed = True
    _, status, usage = os.wait4(pid, 0)  # the job's CPU, all its processes (each waited for by its parent)
    os.close(pidfd)
    os.close(read_fd)
    try:
        os.write(reap_w, b"k")  # a reaper, where there is one, ends the job's processes now
    except OSError:
        pass  # none was started (not landlock mode), or it is gone
    os.close(reap_w)
    select.select([reaped_r], [], [], 5.0)  # end of file once the reaper is done (or there is none)
    os.close(reaped_r)
    if config["mode"] not in NAMESPACED:
        # End what the job left running (only our own descendants, see grader.confine), then
        # empty and remove the job's directory: nothing else is touched.
        dedicated = config["uid"] if config["mode"] == "uid" else None
        end_descendants(dedicated)
        scratch = job_dir(config, pid)
        if os.path.isdir(scratch):
            empty_dir_as(dedicated, scratch)
            try:
                os.rmdir(scratch)
            except OSError:
                pass
    exit_info = {"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                 "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, "killed": killed,
                 "cpu": usage.ru_utime + usage.ru_stime, "zygote_cpu": _CLOCK() - zygote_started}
    _send(b"X", json.dumps(exit_info).encode())


_FIONREAD = 0x541B


def _relay(read_fd: int) -> bool:
    """Move what the child wrote to our stdout as one ``C`` message; False at end of file."""
    import fcntl
    import struct

    try:
        available = struct.unpack("i", fcntl.ioctl(read_fd, _FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        available = 0
    if available <= 0:
        data = os.read(read_fd, 1)  # readable with nothing buffered: end of file, or one byte
        if not data:
            return False
        _send(b"C", data)
        return True
    _write_all(1, b"C" + available.to_bytes(4, "big"))
    moved = 0
    while moved < available:
        try:
            moved += os.splice(read_fd, 1, available - moved)
        except OSError:  # stdout cannot take a splice: fall back to a small copy
            chunk = os.read(read_fd, available - moved)
            _write_all(1, chunk)
            moved += len(chunk)
    return True


def _read_exactly(fd: int, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


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
            (n,) = HEADER.unpack(_read_exactly(0, HEADER.size))
            if n > 1 << 16:
                raise ValueError("control frame too large")
            return json.loads(_read_exactly(0, n))
        except (EOFError, ValueError, OSError):
            return None


def zygote_main(config: dict) -> None:
    os.environ.update({"MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    started = time.perf_counter()
    for name in config.get("preload", ()):
        try:
            __import__(name)
        except Exception:
            pass
    isolation = isolate(config)
    _send(b"R", json.dumps({"isolation": isolation, "numpy": np.__version__, "python": sys.version.split()[0],
                            "startup_seconds": round(time.perf_counter() - started, 3)}).encode())
    requests = _ControlReader()
    while True:
        message = requests.read()
        if message is None or message.get("op") == "quit":
            return
        if message.get("op") == "job" and type(message.get("bytes")) is int:
            serve_job(message["bytes"], config)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--zygote":
    zygote_main(json.loads(sys.argv[2]))
