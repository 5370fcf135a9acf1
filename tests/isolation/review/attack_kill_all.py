# `landlock` mode on a kernel without Landlock scopes (ABI 4 and 5: Linux 6.7 to 6.11): the job
# shares the grader's uid, so kill(-1) reaches every process of it
import os, signal, socket
out = {}
try:
    s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect("\0victim-abstract"); s.sendall(b"attacker"); out["abstract"] = "ok"
except BaseException as e:
    out["abstract"] = "D" + str(getattr(e, "errno", e))
try:
    os.kill(os.getppid(), 0); out["signal_zygote"] = "ok"
except BaseException as e:
    out["signal_zygote"] = "D" + str(getattr(e, "errno", e))
try:
    os.kill(os.getppid(), signal.SIGCONT); out["sigcont_zygote"] = "ok"
except BaseException as e:
    out["sigcont_zygote"] = "D" + str(getattr(e, "errno", e))
raise Exception(repr(out))
# %%
# what follows from it (left out here, it stops this driver too): os.kill(-1, signal.SIGKILL)
