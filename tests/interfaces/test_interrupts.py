"""An interrupted run (Ctrl-C, SIGTERM) keeps what it graded, writes the table and the report for it, says
how many remain and that the same command resumes, and exits 128 + the signal: tested on the real
command, sent the signal in the middle of a batch."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES
from processes import alive, own_group_gone, pool_processes, wait_until, zygotes

CLI = [sys.executable, "-m", "grader", "grade"]
CLASS = 8


def rows(out: Path) -> dict[str, dict]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


@pytest.fixture
def klass(tmp_path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    samples = sorted(p for p in SAMPLES.glob("*.ipynb") if "damaged" not in p.name)
    for i in range(CLASS):
        shutil.copy(samples[i % len(samples)], src / f"s{i}_{samples[i % len(samples)].name}")
    return src


def results(out: Path) -> list[Path]:
    return sorted((out / "results").glob("*.json")) if (out / "results").is_dir() else []


@pytest.mark.parametrize("signum, whole_group", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_a_signal_mid_batch_keeps_what_was_graded_and_the_same_command_resumes(klass, tmp_path, signum,
                                                                               whole_group):
    """Ctrl-C reaches the whole process group (the pool's processes too); SIGTERM (``kill``, a job scheduler)
    only the command."""
    out = tmp_path / "out"
    args = [*CLI, str(klass), "--out", str(out), "--jobs", "2", "-q"]
    # bystanders of our uid: a process outside the command's group, files in /tmp and /dev/shm
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    files = [Path(d) / f"ag-bystander-{os.getpid()}-{signum}" for d in ("/tmp", "/dev/shm")]
    for f in files:
        f.write_text("keep me")
    command = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               start_new_session=True)
    try:
        wait_until(lambda: len(results(out)) >= 2, 240, "two results", command)
        sandboxes = zygotes(pool_processes(command))
        if whole_group:
            os.killpg(command.pid, signum)
        else:
            os.kill(command.pid, signum)
        stdout, stderr = command.communicate(timeout=120)
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait()
    assert command.returncode == 128 + signum, (command.returncode, stderr)
    assert "Traceback" not in stderr and "Aborted" not in stderr and stdout == ""
    done = results(out)
    assert 2 <= len(done) < CLASS
    (message,) = stderr.strip().splitlines()
    assert message.startswith(f"Interrupted: {len(done)} of {CLASS} submission(s) have their row in ")
    assert f"; {CLASS - len(done)} remain. Run the same command again to resume" in message
    # the table and the report list exactly what was graded, every file whole
    table = rows(out)
    assert sorted(table) == sorted(json.loads(p.read_text())["extra_data"]["file"] for p in done)
    assert all(r["status"] == "graded" for r in table.values())
    assert (out / "report.html").is_file() and (out / "summary.csv").is_file()
    assert not list(out.rglob("*.tmp"))
    # nothing of the run is left: its process group, and the sandboxes its pool started
    wait_until(lambda: own_group_gone(command.pid), 30, "the command's processes to end")
    wait_until(lambda: not [z for z in sandboxes if alive(z)], 30, "the sandboxes to end")
    try:
        assert bystander.poll() is None and all(f.read_text() == "keep me" for f in files)
    finally:
        bystander.kill()
        bystander.wait()
        for f in files:
            f.unlink()

    kept = {p: p.read_bytes() for p in done}
    again = subprocess.run(args[:-1], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode == 0, again.stderr
    assert len(rows(out)) == CLASS and all(r["status"] == "graded" for r in rows(out).values())
    assert f"({len(done)} reused; {CLASS - len(done)} new)" in " ".join(again.stdout.split())
    assert all(p.read_bytes() == data for p, data in kept.items())  # reused, not graded again


def test_an_interrupted_single_notebook_writes_nothing_half_and_exits_130(tmp_path):
    """One notebook is graded in the command's own process: Ctrl-C while it runs leaves no row, no
    half-written file, and says the same command resumes."""
    out = tmp_path / "out"
    looping = ROOT / "tests" / "hostile" / "infinite_loop_cell.py"
    command = subprocess.Popen([*CLI, str(looping), "--out", str(out), "-q", "--timeout", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               start_new_session=True)
    try:
        wait_until(lambda: [z for z in _descendants(command.pid) if "--zygote" in _cmd(z)], 60,
                   "the sandbox to start", command)
        import time

        time.sleep(2)  # inside the looping cell
        os.killpg(command.pid, signal.SIGINT)
        stdout, stderr = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait()
    assert command.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Interrupted: 0 of 1 submission(s)" in stderr and "1 remain" in stderr
    assert rows(out) == {} and results(out) == [] and not list(out.rglob("*.tmp"))


def _descendants(pid: int) -> list[int]:
    from processes import children

    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def _cmd(pid: int) -> str:
    from processes import cmdline

    return cmdline(pid)
