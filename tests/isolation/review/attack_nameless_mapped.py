# hold disk through deleted files that stay only mapped (descriptor closed): nothing in /proc/PID/fd
import os, mmap, time
keep = []
for i in range(6):  # 6 x 60 MiB
    fd = os.open(f"m{i}", os.O_CREAT | os.O_RDWR, 0o600)
    for _ in range(60):
        os.write(fd, b"\2" * (1 << 20))
    keep.append(mmap.mmap(fd, 4096))
    os.close(fd)
    os.unlink(f"m{i}")
st = os.statvfs(".")
time.sleep(1.0)
raise Exception(repr({"fs_used_mib": (st.f_blocks - st.f_bfree) * st.f_frsize >> 20}))
