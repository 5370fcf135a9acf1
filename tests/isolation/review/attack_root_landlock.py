# `landlock` mode as root (auto picks it when the runtime is not readable by others, e.g. a venv
# under /root): the job is uid 0 without capabilities, and uid 0 owns the system's files
import os, stat
out = {}
for name, f in [("setuid_perl", lambda: os.chmod("/usr/bin/perl", 0o4755)),
                ("chmod_shadow", lambda: os.chmod("/etc/shadow", 0o666)),
                ("chmod_victim", lambda: os.chmod("/tmp/victim/keep", 0)),
                ("renice_all_root", lambda: os.setpriority(os.PRIO_USER, 0, 19))]:
    try:
        out[name] = "ok " + repr(f())[:12]
    except BaseException as e:
        out[name] = "D" + str(getattr(e, "errno", type(e).__name__))
out["perl_mode"] = oct(os.stat("/usr/bin/perl").st_mode)
out["shadow_mode"] = oct(os.stat("/etc/shadow").st_mode)
raise Exception(repr(out))
