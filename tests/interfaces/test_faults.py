"""Faults on the grading side end in one clear message (what happened, what was kept, that the same
command resumes), never a traceback and never a half-written file.

The full disk is a small tmpfs mounted in a throw-away mount namespace (``unshare -m``): nothing of this
machine's mounts changes. The out-of-memory kill is a SIGKILL of one grading process of the command the
test started (found by parentage, see ``processes``).
"""
from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES
from processes import pool_processes, wait_until

CLI = [sys.executable, "-m", "grader", "grade"]


def rows(out: Path) -> dict[str, dict]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def make_class(src: Path, n: int) -> Path:
    src.mkdir()
    samples = sorted(p for p in SAMPLES.glob("*.ipynb") if "damaged" not in p.name)
    for i in range(n):
        shutil.copy(samples[i % len(samples)], src / f"s{i}_{samples[i % len(samples)].name}")
    return src


def assert_whole(out: Path) -> list[Path]:
    """Every file the run left is complete: each result parses, no temporary file is left."""
    assert not list(out.rglob("*.tmp")), list(out.rglob("*.tmp"))
    done = sorted((out / "results").glob("*.json"))
    for path in done:
        assert json.loads(path.read_text())["extra_data"]["status"] == "graded"
        assert (out / "feedback" / f"{path.stem}.md").read_text().startswith("# Feedback for ")
    return done


def _can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(["unshare", "-m", "true"]).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs a mount namespace (unshare -m as root)")
def test_a_full_output_disk_stops_with_one_message_keeps_every_file_whole_and_resumes(tmp_path):
    src = make_class(tmp_path / "in", 8)
    disk, logs = tmp_path / "disk", tmp_path / "logs"
    disk.mkdir()
    logs.mkdir()
    grade = " ".join(shlex.quote(a) for a in [*CLI, str(src), "--out", str(disk / "out"), "--jobs", "2", "-q"])
    # a results file and its feedback take about 90 KB: 300 KB hold a few submissions, not eight
    script = f"""
set -u
mount -t tmpfs -o size=300k tmpfs {disk}
cd {ROOT}
{grade} > {logs}/out1 2> {logs}/err1; echo $? > {logs}/rc1
cp -a {disk}/out {tmp_path}/after-full
mount -o remount,size=50m {disk}
{grade} > {logs}/out2 2> {logs}/err2; echo $? > {logs}/rc2
cp -a {disk}/out {tmp_path}/after-resume
"""
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rc1, err1 = int((logs / "rc1").read_text()), (logs / "err1").read_text()
    assert rc1 == 4, err1
    assert "Traceback" not in err1 and (logs / "out1").read_text() == ""
    (message,) = err1.strip().splitlines()
    assert message.startswith(f"Error: could not write to {disk / 'out'} (No space left on device): the run "
                              f"stopped. Kept: the ")
    assert "each file whole" in message and "run the same command again: it resumes" in message
    done = assert_whole(tmp_path / "after-full")
    assert 1 <= len(done) < 8
    assert f"Kept: the {len(done)} submission(s) graded before it" in message
    if (tmp_path / "after-full" / "final_grades.csv").exists():  # written if it still fitted
        assert len(rows(tmp_path / "after-full")) == len(done)
    # with space again, the same command resumes: what was kept is reused
    rc2, err2 = int((logs / "rc2").read_text()), (logs / "err2").read_text()
    assert rc2 == 0, err2
    assert len(rows(tmp_path / "after-resume")) == 8 and len(assert_whole(tmp_path / "after-resume")) == 8
    for path in done:
        assert (tmp_path / "after-resume" / "results" / path.name).read_bytes() == path.read_bytes()


def test_a_grading_process_killed_by_the_oom_killer_costs_nothing(tmp_path):
    """SIGKILL (what the kernel's OOM killer sends) to one grading process of the pool mid-batch: the pool is
    replaced, the submissions it held are graded again, and the run ends with every row graded and a note."""
    src = make_class(tmp_path / "in", 6)
    out = tmp_path / "out"
    command = subprocess.Popen([*CLI, str(src), "--out", str(out), "--jobs", "2", "-q", "--no-report"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        victims = wait_until(lambda: pool_processes(command), 120, "a grading process", command)
        wait_until(lambda: (out / "results").is_dir() and list((out / "results").glob("*.json")), 240,
                   "a first result", command)
        os.kill(victims[0], signal.SIGKILL)
        stdout, stderr = command.communicate(timeout=600)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert command.returncode == 0, stderr
    assert "Traceback" not in stderr
    (note,) = stderr.strip().splitlines()
    assert note.startswith("Note: 1 grading process(es) were lost mid-run (killed from outside, e.g. by the "
                           "out-of-memory killer)")
    table = rows(out)
    assert len(table) == 6 and {r["status"] for r in table.values()} == {"graded"}
    assert len(assert_whole(out)) == 6
