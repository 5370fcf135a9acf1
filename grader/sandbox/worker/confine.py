"""Unprivileged confinement of one job: Landlock and seccomp.

One of the parts shipped as the worker program (order: ``SHIPPED`` in ``grader/sandbox/process.py``): it
imports nothing from the grader. Where the worker
cannot make namespaces (a container that forbids ``unshare``, a JupyterHub pod,
a locked-down CI job), these are the kernel's mechanisms that still bind:

* **Landlock** (:func:`landlock_restrict`): the job's process tree may read only
  an allowlist (the Python runtime and system libraries, never the grader or
  the answer keys) and write only its own scratch directory; with ABI 4 it can
  neither bind nor connect a TCP socket; with ABI 6 it can signal no process
  outside itself and reach no abstract unix socket outside itself. Landlock also
  stops ptrace (and so ``/proc/PID/environ``, ``/proc/PID/mem``) of anything
  outside the job.
* **seccomp** (:func:`seccomp_restrict`, through ``pyseccomp``): refuses network
  sockets of any family but ``AF_UNIX``, IPC objects that would outlive the job
  (SysV shared memory, queues, semaphores, POSIX message queues), kernel keys,
  ``io_uring`` (which bypasses seccomp), ptrace, inotify and fanotify (which watch what
  Landlock forbids to read), ``memfd_create`` (memory outside every limit), new namespaces,
  and changing the
  limits, priority or scheduling of any process but itself.

Ending exactly what the job started is ``grader/sandbox/worker/reaping.py``; removing only its own
files, ``grader/sandbox/worker/scratch.py``.
"""
from __future__ import annotations

import ctypes
import errno
import os
import signal

_libc = ctypes.CDLL(None, use_errno=True)

# --- Landlock -------------------------------------------------------------------------------------
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # same on x86_64 and aarch64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2
READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(number: int, *args) -> int:
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where Landlock is absent, disabled or filtered out."""
    try:
        return _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def _handled_fs(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute ... make_sym
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def landlock_restrict(abi: int, read: list[str], listable: list[str], write: list[str],
                      devices: dict[str, int]) -> list[str]:
    """Confine this process and everything it starts; returns what is in force ("fs", "tcp", "scope").

    ``read``: read and execute beneath these paths; ``listable``: list these directories only
    (a site-packages holding the grader: every other entry is in ``read``); ``write``: everything
    beneath these; ``devices``: a device file and its rights. Needs ``no_new_privs``.
    """
    if abi < 1:
        return []
    handled = _handled_fs(abi)
    attr = _RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        rules = [(p, READ) for p in read] + [(p, FS_READ_DIR) for p in listable]
        rules += [(p, handled) for p in write] + list(devices.items())
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # gone since the list was made: nothing to allow
            try:
                if not os.path.isdir(path):
                    rights &= _FILE_RIGHTS
                rule = _PathBeneath(rights & handled, fd)
                _syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0))
            finally:
                os.close(fd)
        _syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return ["fs"] + (["tcp"] if abi >= 4 else []) + (["scope"] if abi >= 6 else [])


def start_reaper(wake_fd: int, close_fds: tuple[int, ...] = ()) -> bool:
    """Landlock mode: leave behind a process that can end exactly the job, however fast it forks.

    This process first enters a Landlock domain that only scopes signals (ABI 6), then forks the
    reaper, which stays in that domain; the job then restricts itself further (a nested domain).
    With scoped signals a process may signal only its own domain and those nested in it, so when
    the zygote writes to ``wake_fd`` the reaper's ``kill(-1, SIGKILL)`` reaches every process of
    the job and nothing else: not the grader, not the zygote, not a process of the same uid. The
    job cannot signal or ptrace the reaper, which is outside its domain. False where the kernel
    cannot scope signals (then the subreaper's rounds in :func:`end_descendants` are all there is).
    """
    if landlock_abi() < 6:
        return False
    attr = _RulesetAttr(0, 0, SCOPE_SIGNAL)
    try:
        ruleset = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(24), ctypes.c_uint32(0))
        try:
            _syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
        finally:
            os.close(ruleset)
    except OSError:
        return False
    if os.fork() == 0:
        try:
            for fd in close_fds:
                os.close(fd)
            os.read(wake_fd, 1)  # the zygote's word, or end of file if the zygote is gone
            os.kill(-1, signal.SIGKILL)
        except BaseException:
            pass
        os._exit(0)
    return True


# --- seccomp --------------------------------------------------------------------------------------
_REFUSED = (  # never needed by NumPy, SciPy or Matplotlib; each could reach past the job
    "shmget", "msgget", "semget", "mq_open",  # IPC objects that outlive the job
    "add_key", "request_key", "keyctl",  # kernel keyrings are per uid, not per job
    "io_uring_setup", "io_uring_enter", "io_uring_register",  # its operations bypass seccomp
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "bpf", "perf_event_open",
    "userfaultfd", "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    # a watch needs only that DAC lets the job read the directory, whatever Landlock says, and each
    # event names a file: the results of other students as the grader writes them, the reference read
    "inotify_init", "inotify_init1", "inotify_add_watch",
    # memory outside every limit: not in the address space until mapped (RLIMIT_AS), not on the
    # job's size-limited tmpfs, and, unmapped, in no process's RSS for the OOM killer to weigh
    "memfd_create", "memfd_secret",
)
# Landlock does not cover a file's metadata: without these a job could change the modes, owners,
# extended attributes or times of whatever its uid owns (outside its directory too), and use
# them to pass notes to the next job
_METADATA = ("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
             "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
             "utime", "utimes", "utimensat", "futimesat")
# a process's own limits, priority and scheduling stay the student's to change: argument
# ``arg`` (the pid, or ``who``) must be 0, and where given, argument ``kind`` (``which``) must
# say "a process" (PRIO_PROCESS = 0, IOPRIO_WHO_PROCESS = 1), not "a process group" or "a user"
_SELF_ONLY = {"prlimit64": (0, None), "setpriority": (1, (0, 0)), "sched_setscheduler": (0, None),
              "sched_setparam": (0, None), "sched_setattr": (0, None), "sched_setaffinity": (0, None),
              "ioprio_set": (1, (0, 1)), "migrate_pages": (0, None), "move_pages": (0, None)}
_RLIMIT_CORE = 4
_CLONE_NEW = (0x00020000, 0x10000000, 0x20000000, 0x40000000, 0x08000000, 0x04000000, 0x02000000)


def seccomp_available() -> bool:
    try:
        import pyseccomp  # noqa: F401
    except Exception:  # not installed, or no libseccomp.so.2
        return False
    return True


def seccomp_restrict(network: bool = True, program: bytes | None = None) -> bool:
    """Load the filter described above; False where no seccomp binding is available.
    ``network=False`` (a network namespace already has no network, and each job its own mount
    namespace) leaves sockets and file metadata alone. ``program``: that filter as
    :func:`seccomp_program` compiled it (once per zygote; compiling it is most of the cost)."""
    if program is not None:
        _load_program(program)
        return True
    f = _seccomp_filter(network)
    if f is None:
        return False
    f.load()
    return True


def seccomp_program(network: bool = True) -> bytes | None:
    """The filter of :func:`seccomp_restrict` as the BPF program libseccomp would load (None
    where no seccomp binding is available)."""
    f = _seccomp_filter(network)
    if f is None:
        return None
    r, w = os.pipe()
    try:
        with os.fdopen(w, "wb", closefd=False) as out:
            f.export_bpf(out)
        os.close(w)
        w = -1
        chunks = []
        while chunk := os.read(r, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _load_program(program: bytes) -> None:
    """What libseccomp's ``seccomp_load`` does with its program (no_new_privs is already set)."""
    if not program or len(program) % 8 or len(program) // 8 > 0xFFFF:
        raise OSError(errno.EINVAL, "not a seccomp program")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
    if _libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECCOMP): {os.strerror(err)}")


def _seccomp_filter(network: bool):
    try:
        import pyseccomp as sc
    except Exception:
        return None
    deny = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(defaction=sc.ALLOW)

    def rule(action: int, name: str, *args) -> None:
        try:
            f.add_rule(action, name, *args)
        except (OSError, RuntimeError, ValueError):
            pass  # not a syscall on this architecture, or unknown to this libseccomp

    if network:
        # no socket at all (socketpair still works): no network, and no way to a pathname unix
        # socket of the grader's uid (a D-Bus session, an agent, the Docker socket)
        rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket")
        rule(deny, "connect")
        for name in _METADATA:
            rule(deny, name)
        # the job stays readable to the zygote's helper, which counts the files it deleted but
        # keeps open against its disk budget (grader.sandbox.worker.nameless)
        rule(deny, "prctl", sc.Arg(0, sc.EQ, 4))  # PR_SET_DUMPABLE
    for name in _REFUSED:
        rule(deny, name)
    for name, (arg, kind) in _SELF_ONLY.items():
        rule(deny, name, sc.Arg(arg, sc.NE, 0))
        if kind is not None:
            rule(deny, name, sc.Arg(kind[0], sc.NE, kind[1]))
    # RLIMIT_CORE stays at 1 (see _set_limits in grader/sandbox/worker/child.py): lowering it to 0 would let a crash
    # start the machine's core handler (a core_pattern pipe ignores 0); reading it is fine
    rule(deny, "setrlimit", sc.Arg(0, sc.EQ, _RLIMIT_CORE))
    rule(deny, "prlimit64", sc.Arg(1, sc.EQ, _RLIMIT_CORE), sc.Arg(2, sc.NE, 0))
    for flag in _CLONE_NEW:  # no new namespaces through clone; clone3 hides its flags in memory
        rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rule(sc.ERRNO(errno.ENOSYS), "clone3")  # glibc then falls back to clone
    return f
