# make each look at the job's processes slow: 30 processes of 30,000 mappings each (maps of ~3 MB)
import mmap, os, time
maps = []
for i in range(30000):
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ if i % 2 else mmap.PROT_READ | mmap.PROT_WRITE)
    maps.append(m)
kids = []
for _ in range(30):
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
time.sleep(8)
raise Exception("not ended")
