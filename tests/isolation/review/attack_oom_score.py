# the job starts as the OOM killer's first victim (1000): may it take that back?
import ctypes
out = {"dumpable": ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)}
try:
    out["before"] = open("/proc/self/oom_score_adj").read().strip()
except OSError as e:
    out["before"] = "D" + str(e.errno)
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("0")
    out["lowered"] = "ok"
except OSError as e:
    out["lowered"] = "D" + str(e.errno)
try:
    out["after"] = open("/proc/self/oom_score_adj").read().strip()
except OSError as e:
    out["after"] = "D" + str(e.errno)
raise Exception(repr(out))
