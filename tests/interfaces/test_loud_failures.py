"""A run in which the grader itself fails says so: before grading when the set-up cannot work, at the end
(on stderr, even with -q, and in the exit status) when it failed mid-run; a submission it failed on has
no score that could pass for the student's, and feedback that asks nothing of the student."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.rubric.exercises import EXERCISES

from conftest import ROOT, SAMPLES
from processes import pool_processes

CLI = [sys.executable, "-m", "grader", "grade"]


def rows(out: Path) -> dict[str, dict]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def grade(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})})


def assert_one_line_before_grading(proc: subprocess.CompletedProcess, out: Path, *fragments: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (out / "results").exists() and not (out / "final_grades.csv").exists()  # nothing graded


@pytest.mark.docker
def test_a_missing_image_stops_before_grading_with_one_line(tmp_path):
    proc = grade(str(SAMPLES), "--out", str(tmp_path / "out"), "--sandbox", "docker", "--image",
                 "activation-grader:nope", "-q")
    assert_one_line_before_grading(proc, tmp_path / "out", "activation-grader:nope", "does not exist",
                                   "activation-grader image build")


def test_a_stopped_engine_stops_before_grading_with_one_line(tmp_path):
    nowhere = tmp_path / "no-engine.sock"  # nothing listens here: as if the engine were stopped
    proc = grade(str(SAMPLES), "--out", str(tmp_path / "out"), "--sandbox", "docker", "-q",
                 env={"DOCKER_HOST": f"unix://{nowhere}"})
    assert_one_line_before_grading(proc, tmp_path / "out", "cannot reach the Docker engine", "Start it")


def test_isolation_refused_stops_before_grading_with_one_line(tmp_path):
    proc = grade(str(SAMPLES), "--out", str(tmp_path / "out"), "--isolation", "landlock",
                 "--require-isolation", "uid")
    assert_one_line_before_grading(proc, tmp_path / "out", "below the required 'uid'")


def _kill_every_pool_process(command: subprocess.Popen, stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL each grading process of ``command``'s pool as soon as it appears (only those: the children
    of the fork server the command started)."""
    while not stop.is_set() and command.poll() is None:
        for pid in pool_processes(command):
            if pid not in killed:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
        time.sleep(0.02)


def test_a_worker_failure_mid_run_exits_non_zero_with_a_summary_even_with_q(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(SAMPLES / "alice_correct.ipynb", src / "alice.ipynb")
    shutil.copy(SAMPLES / "bob_partly_wrong.ipynb", src / "bob.ipynb")
    out = tmp_path / "out"
    command = subprocess.Popen([*CLI, str(src), "--out", str(out), "--jobs", "2", "-q", "--no-report"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_every_pool_process, args=(command, stop, killed))
    killer.start()
    try:
        stdout, stderr = command.communicate(timeout=300)
    finally:
        stop.set()
        killer.join()
    assert killed, "no grading process was seen"
    assert command.returncode == 3, (command.returncode, stderr)
    assert stdout == "" and "Traceback" not in stderr
    *notes, summary = stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("Note: ") and "lost mid-run" in notes[0]
    assert summary.startswith("Error: the grader failed on 2 of 2 submission(s): the process grading it was lost")
    assert "status 'error' and no score" in summary and "run the same command again" in summary
    table = rows(out)
    for name in ("alice.ipynb", "bob.ipynb"):
        row = table[name]
        assert row["status"] == "error" and row["total"] == "" and {row[q] for q in EXERCISES} == {""}
        feedback = (out / "feedback" / f"{Path(name).stem}.md").read_text()
        assert ("not graded because of a problem on the grading side; your instructor has been told"
                in " ".join(feedback.split()))
        assert "report" not in feedback.lower() and "/ 10" not in feedback
        record = json.loads((out / "results" / f"{Path(name).stem}.json").read_text())["extra_data"]
        assert "lost" in record["provenance"]["error"]

    # the rerun grades them, and its note names the real cause, once per submission
    again = grade(str(src), "--out", str(out), "--jobs", "1", "--no-report", env={"COLUMNS": "400"})
    assert again.returncode == 0, again.stderr
    assert rows(out)["alice.ipynb"]["total"] == "100" and rows(out)["alice.ipynb"]["status"] == "graded"
    text = again.stdout
    assert "alice.ipynb: score changed on regrade" in text
    assert text.count("the earlier run was not graded: the grader failed (the process grading it was lost") == 2
    assert "time limits" not in text and "timeout under load" not in text
    assert "q1:" not in text  # nothing per exercise: the earlier run had no points to compare
    assert "(0 reused; 2 regraded: the earlier run failed on the grading side)" in " ".join(text.split())
