# hold deleted files from a thread whose leader has exited (the leader is a zombie, its fd list empty)
import os, ctypes, threading, time
libc = ctypes.CDLL(None)
if os.fork() == 0:
    fds = []
    for i in range(6):
        fd = os.open(f"t{i}", os.O_CREAT | os.O_RDWR, 0o600)
        for _ in range(60):
            os.write(fd, b"\4" * (1 << 20))
        os.unlink(f"t{i}")
        fds.append(fd)
    threading.Thread(target=lambda: time.sleep(30)).start()
    libc.syscall(60, 0)  # exit(2) of the leader only: the thread goes on, holding the files
time.sleep(1.5)
st = os.statvfs(".")
raise Exception(repr({"fs_used_mib": (st.f_blocks - st.f_bfree) * st.f_frsize >> 20}))
