# what a job learns without reading anything: /proc listing (the isolation scenario's harm loop
# starts with it), inotify on the grader's directories, stat of its files, the mount table
import os, ctypes
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def inotify():
    fd = libc.inotify_init1(0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "init")
    wd = libc.inotify_add_watch(fd, b"/tmp/victim", 0xfff)
    if wd < 0:
        raise OSError(ctypes.get_errno(), "watch")
    return wd
for name, f in [("listdir_proc", lambda: len(os.listdir("/proc"))),
                ("inotify_grader_dir", inotify),
                ("stat_grader_file", lambda: os.stat("/tmp/victim/secret.txt").st_size),
                ("mountinfo", lambda: "/src" in open("/proc/self/mountinfo").read()),
                ("root_magic_link", lambda: open("/proc/self/root/tmp/victim/keep/a.txt").read()),
                ("cwd_parent", lambda: os.listdir("/proc/self/cwd/.."))]:
    try:
        out[name] = "ok " + repr(f())[:12]
    except BaseException as e:
        out[name] = "D" + str(getattr(e, "errno", type(e).__name__))
raise Exception(repr(out))
