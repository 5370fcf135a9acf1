"""A worker restarted in the middle of a job whose processes left in sessions of their own,
inside a throw-away container or namespace ONLY (never on the host itself).

    python restart.py MODE

Starts a warm worker in MODE next to a bystander (a process of our own uid), runs a job that
leaves daemons (double fork, ``setsid``: sleepers, and busy loops that fork on), restarts the
worker while the job still runs (as the trusted side does when the worker stops answering),
then runs a small job on the fresh worker. Prints one ``VERDICT`` line of JSON: the job's
processes still running after the restart and after ``close()``, how long the restart took,
what the next job returned, and whether the bystander is alive.
"""
import json, os, subprocess, sys, time

sys.path.insert(0, os.environ.get("SRC", "/src"))
from grader.sandbox.process import Limits, Zygote  # noqa: E402

MARK = "4244.5"
JOB = r'''
import os, time
def daemon(body):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                body()
            finally:
                os._exit(0)
        os._exit(0)
    os.wait()
def sleeper():
    os.execv("/bin/sleep", ["sleep", "MARK"])
def spinner():
    import ctypes
    ctypes.CDLL(None).prctl(15, b"ag-restart-spin", 0, 0, 0)
    while True:
        if os.fork() == 0:
            time.sleep(0.05)
            os._exit(0)
        os.wait()
for _ in range(3):
    daemon(sleeper)
for _ in range(3):
    daemon(spinner)
time.sleep(1000)
'''.replace("MARK", MARK)


def job_processes() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            lines = open(f"/proc/{entry}/status").read().splitlines()
            status = dict(line.split(":", 1) for line in lines if ":" in line)
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if status.get("State", "").strip().startswith(("Z", "X")):
            continue
        uids = [int(u) for u in status.get("Uid", "").split()[:3]]
        name = status.get("Name", "").strip()
        if any(u >= 61000 for u in uids) or name == "ag-restart-spin" or f"sleep\x00{MARK}" in cmdline:
            found.append(f"{entry} uid={uids} {name}")
    return found


def run(z: Zygote, cells: list[str], seconds: float) -> tuple[list, dict | None]:
    z.begin({"cells": cells, "exercises": []})
    frames, deadline = [], time.monotonic() + seconds
    while True:
        kind, value = z.poll(deadline)
        if kind == "frames":
            frames += value
        elif kind == "exit":
            return frames, value
        else:
            return frames, None


def main() -> None:
    mode = sys.argv[1]
    bystander = subprocess.Popen(["sleep", "600"])
    z = Zygote(mode=mode, limits=Limits(timeout=60))
    z.start()
    _, ended = run(z, [JOB], 2.0)  # the job is still running after 2 s
    during = job_processes()
    started = time.monotonic()
    z.restart()
    restart_seconds = round(time.monotonic() - started, 2)
    time.sleep(0.3)
    after_restart = job_processes()
    frames, exit_info = run(z, ["x = 6 * 7\nprint(x)"], 60.0)
    z.close()
    time.sleep(0.3)
    print("VERDICT " + json.dumps({
        "isolation": z.info.get("isolation") if z.info else None, "ended_early": ended,
        "during": len(during), "after_restart": after_restart, "after_close": job_processes(),
        "restart_seconds": restart_seconds, "next_job": exit_info, "next_frames": len(frames),
        "bystander_alive": bystander.poll() is None}))
    bystander.kill()


main()
