# hold a deleted file from a process nobody may look at: exec a binary it cannot read (not dumpable)
import os, subprocess, time
fd = os.open("big", os.O_CREAT | os.O_RDWR, 0o600)
for _ in range(60):
    os.write(fd, b"\3" * (1 << 20))
os.unlink("big")
exe = os.open("hidden", os.O_CREAT | os.O_WRONLY, 0o111)
os.write(exe, open("/bin/sleep", "rb").read())
os.close(exe)
procs = [subprocess.Popen(["./hidden", "30"], pass_fds=[fd]) for _ in range(5)]
os.close(fd)
time.sleep(1.5)
raise Exception(repr({"hidden": [p.poll() for p in procs]}))
