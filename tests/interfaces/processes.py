"""The processes of a grading command the test started: found by parentage in /proc, never by name alone."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """The direct children of ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pool_processes(command: subprocess.Popen) -> list[int]:
    """The grading processes of ``command``'s local pool: the children of its fork server (its own child)."""
    servers = [p for p in children(command.pid) if "forkserver" in cmdline(p)]
    return [p for server in servers for p in children(server)]


def zygotes(pids: list[int]) -> list[int]:
    """The process-sandbox workers started by ``pids``."""
    return [c for p in pids for c in children(p) if "--zygote" in cmdline(c)]


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, timeout: float, what: str, command: subprocess.Popen | None = None):
    """Poll ``condition`` until it gives something true; fail saying ``what`` (and the command's end, if it
    ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if command is not None and command.poll() is not None:
            raise AssertionError(f"the command ended (status {command.returncode}) before {what}: "
                                 f"{command.stderr.read() if command.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def own_group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False
