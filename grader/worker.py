"""The untrusted side: executes a submission and runs probe calls on it.

This file is shipped verbatim (after ``grader/wire.py``) to a fresh interpreter
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
import shutil
import signal
import sys
import time
import types

import numpy as np

from grader.wire import FrameReader, ResultTooLarge, decode_arg, encode_result, frame  # shipped-with-wire

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
CLONE_NEWIPC = 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38

PRIVATE_DIRS = ("/tmp", "/dev/shm", "/var/tmp")  # fresh for every submission

_libc = ctypes.CDLL(None, use_errno=True)

# What the worker reports about a call (did it raise ValueError, did it modify its inputs) is
# decided in the student's own process, so it must not follow the student's monkeypatches:
# ``builtins.ValueError = Exception`` or ``np.array_equal = lambda *a, **k: True`` would otherwise
# earn the points of those checks. Functions defined below resolve builtins in this snapshot
# (the student's code still sees, and may patch, the real module), and the numpy objects they
# need are taken now, before any submission runs. (This stops patching, not a process that
# rewrites its own memory or writes to the event pipe: such facts are only ever self-reported.)
__builtins__ = dict(builtins.__dict__)
_NDARRAY, _EQUAL, _ISNAN = np.ndarray, np.equal, np.isnan


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
    """Isolate the zygote once; returns the isolation that is in force.

    ``root``: new mount and network namespaces; a new root filesystem built
    from an allowlist (system directories and the Python runtime, read-only);
    the grader and the reference masked even where they sit inside the
    runtime's site-packages. Children then run as a separate uid.
    ``userns`` does the same from an unprivileged user namespace, where the
    children keep the caller's uid but lose every capability. ``container``
    and ``none`` leave the filesystem and network as they are (a container
    isolates from outside; ``none`` is the documented fallback).
    """
    mode = config["mode"]
    if mode in ("container", "none"):
        if mode == "container":
            _prctl(PR_SET_DUMPABLE, 0)  # a same-uid child cannot ptrace or read the zygote
        return mode
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
    os.chroot(root)
    os.chdir("/")
    return mode


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
def child_main(job: dict, config: dict, out_fd: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
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
            scratch = os.path.join(config["scratch_base"], f"job-{os.getpid()}")
            os.mkdir(scratch, 0o700)
            if os.geteuid() == 0 and config.get("drop_to"):
                # an autograder container running us as root: the student's code gets its own uid
                os.chown(scratch, config["drop_to"], config["drop_to"])
                os.setgroups([])
                os.setresgid(config["drop_to"], config["drop_to"], config["drop_to"])
                os.setresuid(config["drop_to"], config["drop_to"], config["drop_to"])
            _killed_first_when_memory_runs_out()
        _fresh_keyrings(clear_user=mode in ("root", "container"))
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _set_limits(config)
        os.chdir(scratch)
        _redirect_stdio()
        _scrub_environment(scratch)
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
    (its command line holds the zygote's configuration, its fds the zygote's pipes)."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    try:
        _mount("proc", "/proc", "proc", flags, "hidepid=2")
    except OSError:
        _mount("proc", "/proc", "proc", flags)


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


def _scrub_environment(scratch: str) -> None:
    keep = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
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
            error = _describe_error(exc)
        emit({"ev": "cell_done", "i": i, "error": error})


def _describe_error(exc: BaseException) -> dict:
    try:
        message = str(exc)[:400]
    except BaseException:
        message = "<unprintable>"
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("<cell"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return {"type": type(exc).__name__, "message": message, "line": line if isinstance(line, int) else None}


def _arrays_in(values, prefix: str):
    for i, value in enumerate(values):
        name = f"{prefix}{i + 1}"
        if isinstance(value, _NDARRAY):
            yield name, value
        elif isinstance(value, list):
            for j, item in enumerate(value):
                if isinstance(item, _NDARRAY):
                    yield f"{name}[{j}]", item


def _unchanged(before: np.ndarray, after) -> bool:
    """``array_equal(before, after, equal_nan=True)`` without numpy's Python layer (which the
    submission can patch); anything but a plain ndarray in an argument's place counts as changed."""
    if type(after) is not _NDARRAY or after.shape != before.shape or after.dtype != before.dtype:
        return False
    if after.tobytes() == before.tobytes():
        return True
    return bool((_EQUAL(before, after) | (_ISNAN(before) & _ISNAN(after))).all())


def run_call(ns: dict, call: dict) -> dict:
    """Call one student function on freshly decoded arguments; report plain data."""
    func = ns.get(call["func"])
    if func is None or not callable(func):
        return {"status": "undefined"}
    args = [decode_arg(a) for a in call["args"]]
    kwargs = {k: decode_arg(v) for k, v in call["kwargs"].items()}
    originals = [(name, arr.copy()) for name, arr in _arrays_in(args, "argument ")]
    try:
        value = func(*args, **kwargs)
    except BaseException as exc:
        err = _describe_error(exc)
        # type(), not isinstance(): an exception can claim any class through a __class__ property
        return {"status": "raised", "error_type": err["type"], "error_message": err["message"],
                "is_value_error": issubclass(type(exc), ValueError)}
    after = dict(_arrays_in(args, "argument "))
    mutated = [name for name, before in originals if name not in after or not _unchanged(before, after[name])]
    try:
        # arrays, numbers, lists and tuples, with the difference between a list and a tuple kept
        # (see wire.encode_result); a result over the size the trusted side accepts is refused here,
        # where it costs this call only, instead of flooding the channel and costing the exercise
        encoded = encode_result(value)
    except ResultTooLarge as exc:
        return {"status": "invalid", "mutated": mutated, "error_message": str(exc)}
    except BaseException as exc:
        return {"status": "invalid", "error_message": f"{type(exc).__name__}: {str(exc)[:200]}", "mutated": mutated}
    return {"status": "ok", "result": encoded, "mutated": mutated}


def run_job(job: dict, emit) -> None:
    ns = fresh_namespace()
    run_cells(job["cells"], set(job.get("skip_cells", ())), ns, emit)
    emit({"ev": "cells_done"})
    for exercise in job["exercises"]:
        emit({"ev": "exercise", "q": exercise["q"]})
        for call in exercise["calls"]:
            emit({"ev": "result", "q": exercise["q"], "id": call["id"], **run_call(ns, call)})
    emit({"ev": "done"})


# --- the zygote: serving jobs ----------------------------------------------------------------------
def _send(kind: bytes, payload: bytes) -> None:
    _write_all(1, kind + len(payload).to_bytes(4, "big") + payload)


def _sweep_strays(uid: int) -> None:
    """Container mode: end every process of the student's ``uid`` but ourselves and our ancestors."""
    keep = {os.getpid()}
    pid = os.getppid()
    while pid > 1:
        keep.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    keep.add(1)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in keep and _uid_of(entry) == uid:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def _uid_of(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _remove_sysv_ipc() -> None:
    """Container mode: one IPC namespace serves every job, so remove the SysV shared memory,
    message queues and semaphores a job left (root and userns modes give each job its own)."""
    ipc_rmid = 0
    for table, remove in (("shm", _libc.shmctl), ("msg", _libc.msgctl), ("sem", _libc.semctl)):
        try:
            with open(f"/proc/sysvipc/{table}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            ident = int(row.split()[1])
            if table == "sem":
                remove(ctypes.c_int(ident), ctypes.c_int(0), ctypes.c_int(ipc_rmid))
            else:
                remove(ctypes.c_int(ident), ctypes.c_int(ipc_rmid), None)


def _empty_dir(path: str) -> None:
    for entry in os.listdir(path) if os.path.isdir(path) else ():
        full = os.path.join(path, entry)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                os.unlink(full)
        except OSError:
            pass


def serve_job(job: dict, config: dict, requests: FrameReader) -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        child_main(job, config, write_fd)
    os.close(write_fd)
    pidfd = os.pidfd_open(pid)
    alive, killed = True, False
    while True:
        ready, _, _ = select.select([read_fd, 0] + ([pidfd] if alive else []), [], [])
        if read_fd in ready:
            data = os.read(read_fd, 1 << 16)
            if data:
                _send(b"C", data)
                continue
            if not alive:
                break
        if pidfd in ready:
            alive = False
            # the child is gone; drain what it wrote, without waiting on strays holding the pipe
            while select.select([read_fd], [], [], 0)[0]:
                data = os.read(read_fd, 1 << 16)
                if not data:
                    break
                _send(b"C", data)
            break
        if 0 in ready:
            chunk = os.read(0, 1 << 16)
            if not chunk:
                os.kill(pid, signal.SIGKILL)
                os._exit(0)
            for message in requests.feed(chunk):
                if message.get("op") == "kill" and not killed:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    os.close(read_fd)
    if config["mode"] in ("container", "none"):
        if config["mode"] == "container":
            _sweep_strays(config.get("drop_to") or os.getuid())
        _empty_dir(config["scratch_base"])
        if config["mode"] == "container":
            for d in ("/tmp", "/dev/shm", "/var/tmp"):
                _empty_dir(d)
            _remove_sysv_ipc()
    exit_info = {"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                 "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, "killed": killed}
    _send(b"X", json.dumps(exit_info).encode())


def zygote_main(config: dict) -> None:
    os.environ.update({"MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    started = time.perf_counter()
    for name in config.get("preload", ()):
        try:
            __import__(name)
        except Exception:
            pass
    isolation = isolate(config)
    requests = FrameReader()
    _send(b"R", json.dumps({"isolation": isolation, "numpy": np.__version__, "python": sys.version.split()[0],
                            "startup_seconds": round(time.perf_counter() - started, 3)}).encode())
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return
        for message in requests.feed(chunk):
            if message.get("op") == "job":
                serve_job(message["job"], config, requests)
            elif message.get("op") == "quit":
                return


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--zygote":
    zygote_main(json.loads(sys.argv[2]))
