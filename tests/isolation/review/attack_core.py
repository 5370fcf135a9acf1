# a crash of a dumpable job starts the machine's core handler (as root) where core_pattern is a
# pipe, whatever RLIMIT_CORE = 0 says: lower the limit to 0 (from 1), and see what a crash would do
import ctypes, os, resource
libc = ctypes.CDLL(None, use_errno=True)
out = {"core": resource.getrlimit(resource.RLIMIT_CORE), "dumpable": libc.prctl(3, 0, 0, 0, 0)}
for name, f in (("setrlimit_0", lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))),
                ("prlimit_0", lambda: resource.prlimit(0, resource.RLIMIT_CORE, (0, 0))),
                ("prlimit_read", lambda: resource.prlimit(0, resource.RLIMIT_CORE))):
    try:
        out[name] = "ok " + repr(f())
    except (OSError, ValueError) as e:  # (Python reports EPERM from setrlimit as ValueError)
        out[name] = "D" + str(getattr(e, "errno", None) or type(e).__name__)
out["core_after"] = resource.getrlimit(resource.RLIMIT_CORE)
raise Exception(repr(out))
