"""The child of one job (its namespaces or uid, limits, confinement), which then runs the job.

One of the parts shipped as the worker program (order: ``SHIPPED`` in ``grader/sandbox/process.py``);
it imports only the parts shipped before it.
"""
from __future__ import annotations

import builtins
import ctypes
import json
import os
import resource
import signal
import time

from grader.sandbox.worker.wire import frame, read_payload  # shipped-with-wire
from grader.sandbox.worker.config import WorkerConfig  # shipped-with-wire
from grader.sandbox.worker.confine import FS_IOCTL_DEV, FS_READ_FILE, FS_WRITE_FILE, landlock_restrict  # shipped-with-wire
from grader.sandbox.worker.confine import seccomp_program, seccomp_restrict, start_reaper  # shipped-with-wire
from grader.sandbox.worker.isolate import (CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, MS_BIND,  # shipped-with-wire
                                           MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC,  # shipped-with-wire
                                           MS_REMOUNT, NAMESPACED, PR_SET_DUMPABLE,  # shipped-with-wire
                                           PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, PRIVATE_DIRS,  # shipped-with-wire
                                           Isolation, drop_capabilities, libc, mount, prctl,  # shipped-with-wire
                                           unshare)  # shipped-with-wire
from grader.sandbox.worker.jupyter import run_job  # shipped-with-wire

# functions below resolve builtins in this snapshot, not in what the student's code patches
__builtins__ = dict(builtins.__dict__)


# --- the child: one job ---------------------------------------------------------------------------
def child_main(size: int, config: WorkerConfig, isolation: Isolation, out_fd: int, got_job_fd: int,
               reap_fds: tuple[int, int]) -> None:
    """Runs in the forked child; never returns. Reads its job (``size`` bytes) from stdin first."""
    code = 0
    try:
        # Dies with the zygote, from the start: a restart of the worker (which kills the zygote)
        # ends the job too, in every mode (set again after any change of uid, which clears it).
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if config.mode not in NAMESPACED:  # readable by the zygote's helper (grader.sandbox.worker.nameless)
            prctl(PR_SET_DUMPABLE, 1)
        try:
            raw = read_exactly(0, size)
            os.write(got_job_fd, b"1")
        finally:
            os.close(got_job_fd)  # stdin goes back to the zygote
        job, blob = read_payload(raw)
        del raw
        os.setsid()
        mode = config.mode
        if mode in ("root", "userns"):
            # A new IPC namespace too: SysV shared memory, semaphores and message queues (and POSIX
            # queues) otherwise outlive the job in the host's namespace, where the next submission
            # with the same uid, or anyone, can read them.
            if os.getpid() == 1:  # the zygote forked us into a PID namespace of our own (serve_job)
                unshare(CLONE_NEWNS | CLONE_NEWIPC)
            else:  # (where it cannot: a user namespace's zygote) entered with one more fork
                unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC)
                inner = os.fork()
                if inner:
                    os._exit(_wait_exit(inner))
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # we are PID 1: our death ends everything
            _mount_proc()
            _killed_first_when_memory_runs_out()  # (inherited by the student's process, below)
            _readonly_proc()
            _redirect_stdio()  # PID 1 needs nothing of the zygote's stdin/stdout: keep no handle on them
            opts = f"size={config.tmpfs_bytes},nr_inodes={config.disk_entries},mode=1777"
            for d in PRIVATE_DIRS:
                mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, opts)
            for i, path in enumerate(isolation.rebind):
                os.makedirs(path, exist_ok=True)
                mount(f"/.runtime/{i}", path, None, MS_BIND | MS_REC)
                mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
            if isolation.rebind:  # the parking place itself is not for the student
                mount("tmpfs", "/.runtime", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000,size=4k")
            scratch = "/tmp/submission"
            os.mkdir(scratch, 0o700)
            if mode == "root":
                os.chown(scratch, config.uid, config.gid)
            student = os.fork()
            if student:
                _reap_until(student)
            _killed_first_when_memory_runs_out()
            if mode == "root":
                _join_session_keyring()  # as root: the next job's uid cannot see it (see _fresh_keyrings)
                os.setgroups([])
                os.setresgid(config.gid, config.gid, config.gid)
                os.setresuid(config.uid, config.uid, config.uid)
            else:
                drop_capabilities()
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
                uid = config.uid
                for d in (os.path.join(scratch, "tmp"), scratch):  # inner first: root may lack DAC_OVERRIDE
                    os.chown(d, uid, uid)
                _join_session_keyring()  # as root: the next job's uid cannot see it (see _fresh_keyrings)
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                if isolation.landlock_abi >= 4:  # (then Landlock keeps it from writing its /proc/self)
                    prctl(PR_SET_DUMPABLE, 1)  # (cleared by the change of uid; seccomp keeps it set)
            elif os.geteuid() == 0:
                drop_capabilities()  # uid 0 without a capability, Landlock and no_new_privs
        _fresh_keyrings(clear_user=mode in ("root", "uid"))  # (root, uid: their session keyring is joined)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _set_limits(config)
        os.chdir(scratch)
        _redirect_stdio()
        _scrub_environment(scratch, "/tmp" if mode in NAMESPACED else os.path.join(scratch, "tmp"))
        _confine(config, isolation, scratch, reap_fds, out_fd)
        run_job(job, lambda obj, chunks=None: write_all(out_fd, frame(obj, chunks)), blob)
    except BaseException as exc:  # report, never propagate into the zygote's loop
        try:
            write_all(out_fd, frame({"ev": "fatal", "error": f"{type(exc).__name__}: {exc}"}))
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
            mount("proc", "/proc", "proc", flags, options)
            return
        except OSError:
            continue


def _readonly_proc() -> None:
    """The job's /proc, read-only once its OOM score is set: in ``userns`` mode the job owns its
    /proc/self files, and nothing outside the user namespace locked that score (only a writer with
    CAP_SYS_RESOURCE over the machine does), so it could write 0 there and no longer be the OOM
    killer's first victim. Nothing a submission runs needs to write to /proc."""
    try:
        mount(None, "/proc", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    except OSError:
        pass  # no /proc of its own (see _mount_proc): nothing to write to either


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


def _keyctl(*args: int) -> int:
    return libc.syscall(ctypes.c_long(_SYS_KEYCTL), *(ctypes.c_long(a) for a in args))


def _join_session_keyring() -> None:
    """A new, empty session keyring for the job. Where the job then drops to the sandbox's uid
    (root and uid modes), this is done before, as root: the keyring is root's, so once the job is
    over and it awaits the kernel's key collector, the next job (that uid) does not see it in
    /proc/keys and need not wait for it to go (it would, about 50 ms a job)."""
    if _SYS_KEYCTL is not None:
        _keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)


def _fresh_keyrings(clear_user: bool) -> None:
    """Kernel keyrings belong to no namespace we create: a key that one submission adds to its
    uid's keyring is still there for the next submission with that uid. Give each job a new
    session keyring and, where the uid is the sandbox's own, empty the user keyrings it inherits
    (best effort: Docker's default seccomp profile forbids keyctl altogether)."""
    if _SYS_KEYCTL is None:
        return
    if not clear_user:
        _join_session_keyring()
        return
    keyctl = _keyctl
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
    return os.WEXITSTATUS(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _reap_until(pid: int) -> None:
    """PID 1's loop: reap orphans; when the student's process ends, end the namespace."""
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if done == pid:
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _set_limits(config: WorkerConfig) -> None:
    limits = {
        resource.RLIMIT_AS: config.memory_bytes,
        resource.RLIMIT_CPU: config.cpu_seconds,
        resource.RLIMIT_FSIZE: config.file_bytes,
        resource.RLIMIT_NPROC: config.nproc,
        resource.RLIMIT_NOFILE: 256,
        # 1, not 0: a core_pattern that pipes to a program (systemd-coredump, apport) ignores a limit
        # of 0 and runs that program as the machine's root for each crash of a dumpable job; the
        # kernel refuses exactly 1 (and a file core needs a page). seccomp keeps it at 1.
        resource.RLIMIT_CORE: 1,
    }
    for what, value in limits.items():
        resource.setrlimit(what, (value, value))


def _redirect_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def job_dir(config: WorkerConfig, pid: int) -> str:
    """The directory of the job whose child is ``pid`` (modes without namespaces)."""
    return os.path.join(config.scratch_base, f"job-{pid}")


def _confine(config: WorkerConfig, isolation: Isolation, scratch: str, reap_fds: tuple[int, int],
             out_fd: int) -> None:
    """Landlock and seccomp, the last step before student code (see ``grader.sandbox.worker.confine``)."""
    if config.mode == "landlock":
        start_reaper(reap_fds[0], (out_fd,))
    for fd in reap_fds:  # the reaper keeps its copies; the job has none
        os.close(fd)
    if isolation.landlock_abi >= 4:
        devices = {"/dev/null": FS_READ_FILE | FS_WRITE_FILE | FS_IOCTL_DEV,
                   "/dev/zero": FS_READ_FILE, "/dev/urandom": FS_READ_FILE, "/dev/random": FS_READ_FILE}
        landlock_restrict(isolation.landlock_abi, list(config.read), list(config.listable), [scratch], devices)
    if isolation.seccomp:
        seccomp_restrict(network=config.mode not in NAMESPACED, program=SECCOMP_PROGRAM.get("bpf"))


#: The job's seccomp filter, compiled once by the zygote (see prepare_seccomp); jobs only load it.
SECCOMP_PROGRAM: dict[str, bytes] = {}


def prepare_seccomp(config: WorkerConfig, isolation: Isolation) -> None:
    """Compile the jobs' seccomp filter once, in the zygote (where there is one to load)."""
    if isolation.seccomp:
        program = seccomp_program(network=config.mode not in NAMESPACED)
        if program:
            SECCOMP_PROGRAM["bpf"] = program


def _scrub_environment(scratch: str, tmp: str) -> None:
    """A fresh environment: every directory a library writes its configuration, caches or start-up
    files to is inside the job's own directory (removed after it), never where a process outside
    the sandbox would read it."""
    keep = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "TMPDIR": tmp, "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(scratch, ".matplotlib"),
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "XDG_CONFIG_HOME": os.path.join(scratch, ".config"), "XDG_CACHE_HOME": os.path.join(scratch, ".cache"),
            "XDG_DATA_HOME": os.path.join(scratch, ".local", "share"), "IPYTHONDIR": os.path.join(scratch, ".ipython"),
            "JUPYTER_CONFIG_DIR": os.path.join(scratch, ".jupyter"),
            "JUPYTER_DATA_DIR": os.path.join(scratch, ".local", "share", "jupyter"),
            "PYTHONUSERBASE": os.path.join(scratch, ".local"), "PYTHONNOUSERSITE": "1"}
    os.environ.clear()
    os.environ.update(keep)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (a pipe takes part of it at a time): frames to the zygote and the grader."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_exactly(fd: int, n: int) -> bytes:
    """Read exactly ``n`` bytes from ``fd`` (EOFError if it ends first): a job, a control frame, the configuration."""
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)
