"""A result on disk is reused only when nothing that can change its score or the trust in it differs.

The decision is ``grader.pipeline.batch``'s; the executor here stands for the grading (it answers at once with a
record whose provenance is the real one for the task's options), so each rerun shows exactly which
submissions were handed out again and why. One run end to end checks the command's summary line.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.pipeline import batch
from grader.rubric.exercises import EXERCISES, TOTAL_POINTS
from grader.pipeline.grading import provenance
from grader.sandbox.isolation import isolation_mode
from grader.rubric.record import Cells, ExerciseRecord, SubmissionRecord
from grader.sandbox.process import Limits
from grader.pipeline.tasks import Options, conditions, seeding, task_key

from conftest import ROOT, SAMPLES

BASE = Options(limits=Limits(timeout=30, step_timeout=5))
MODE = isolation_mode("auto")


class Grades:
    """An executor that grades at once: every criterion passed, the provenance the grader would write (the
    isolation the options give here, unless told another)."""

    def __init__(self, isolation: str | None = None) -> None:
        self.names: list[str] = []
        self.isolation = isolation

    def submit(self, fn, task):
        from dataclasses import replace

        self.names.append(task["name"])
        options = Options.from_dict(task["options"])
        exercises = {q: ExerciseRecord(ex.title, float(ex.points), float(ex.points), "ok")
                     for q, ex in EXERCISES.items()}
        isolation = self.isolation or ("docker+uid" if options.sandbox == "docker" else isolation_mode(options.isolation))
        origin = replace(provenance(task["content"], options), isolation=isolation)
        record = SubmissionRecord.graded(task["name"], exercises, float(TOTAL_POINTS), cells=Cells(), notes=(),
                                         provenance=origin)
        future: cf.Future = cf.Future()
        future.set_result(record.to_dict())
        return future

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        pass


@pytest.fixture
def klass(tmp_path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        (src / f"s{i}.py").write_text(f"x = {i}\n")
    return src


def run(src: Path, out: Path, options: Options, **kw) -> tuple[batch.Batch, list[str]]:
    grades = Grades(**kw)
    result = batch.run([src], out, options, executor=grades, progress=False)
    return result, grades.names


def test_the_same_options_reuse_every_result(klass, tmp_path):
    first, graded = run(klass, tmp_path / "out", BASE)
    assert len(graded) == 5 and first.reuse_summary == "0 reused; 5 new"
    again, graded = run(klass, tmp_path / "out", BASE)
    assert graded == [] and again.reused == 5 and again.reuse_summary == "5 reused"
    # options that change neither score nor trust do not count: the executor, warm or fresh containers
    again, graded = run(klass, tmp_path / "out", Options(limits=BASE.limits, fresh_containers=True))
    assert graded == [] and again.reused == 5


@pytest.mark.parametrize("changed, reason", [
    (Options(sandbox="docker", limits=BASE.limits), "sandbox changed process→docker"),
    (Options(limits=Limits(timeout=1, step_timeout=1)), "time limit changed 30→1 s"),
    (Options(limits=Limits(timeout=30, step_timeout=2)), "step time limit changed 5→2 s"),
    (Options(limits=Limits(timeout=30, step_timeout=5, memory_bytes=256 * 2**20)), "memory limit changed 2048→256 MiB"),
    (Options(limits=BASE.limits, isolation="landlock"), "isolation changed auto→landlock"),
    (Options(limits=BASE.limits, seed=3), "seeding changed content→fixed"),
])
def test_another_sandbox_isolation_limit_or_seeding_regrades_everything_and_says_why(klass, tmp_path, changed,
                                                                                      reason):
    run(klass, tmp_path / "out", BASE)
    again, graded = run(klass, tmp_path / "out", changed)
    assert sorted(graded) == [f"s{i}.py" for i in range(5)] and again.reused == 0
    assert reason in again.regraded_because and again.regraded_because[reason] == 5
    assert again.reuse_summary.startswith("0 reused; 5 regraded: ") and reason in again.reuse_summary
    # ... and the next run with the same options reuses them
    third, graded = run(klass, tmp_path / "out", changed)
    assert graded == [] and third.reused == 5


def test_a_partial_change_is_counted_per_reason(klass, tmp_path):
    run(klass, tmp_path / "out", BASE)
    (klass / "s1.py").write_text("x = 'changed'\n")
    again, graded = run(klass, tmp_path / "out", BASE)
    assert graded == ["s1.py"]
    assert again.reuse_summary == "4 reused; 1 regraded: content changed; seed changed"


def test_the_seed_secret_is_in_the_key_by_a_digest_never_in_clear(klass, tmp_path):
    a, b = Options(limits=BASE.limits, seed_secret="alpha-secret"), Options(limits=BASE.limits,
                                                                            seed_secret="beta-secret")
    assert seeding(a) != seeding(b) and seeding(a).startswith("secret:") and "alpha" not in seeding(a)
    run(klass, tmp_path / "out", a)
    again, graded = run(klass, tmp_path / "out", b)
    assert len(graded) == 5 and any(r.startswith("seeding changed secret:") for r in again.regraded_because)
    same, graded = run(klass, tmp_path / "out", b)
    assert graded == []
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert "beta-secret" not in path.read_text() and "alpha-secret" not in path.read_text()


def test_a_result_graded_with_another_isolation_or_below_the_required_one_is_regraded(klass, tmp_path):
    weaker = "landlock" if MODE != "landlock" else "none"
    run(klass, tmp_path / "out", BASE, isolation=weaker)  # graded where auto gave a weaker mode
    again, graded = run(klass, tmp_path / "out", BASE)
    assert len(graded) == 5 and f"isolation changed {weaker}→{MODE}" in again.regraded_because
    run(klass, tmp_path / "out", Options(limits=BASE.limits, isolation=weaker), isolation=weaker)
    required = Options(limits=BASE.limits, isolation=weaker, require_isolation="uid")
    again, graded = run(klass, tmp_path / "out", required, isolation=weaker)
    assert len(graded) == 5 and f"isolation {weaker} is below the required uid" in again.regraded_because


def test_every_condition_is_in_the_key():
    content = b"x = 1\n"
    keys = {task_key(content, o) for o in (
        BASE, Options(limits=BASE.limits, sandbox="docker"), Options(limits=BASE.limits, isolation="landlock"),
        Options(limits=Limits(timeout=31, step_timeout=5)), Options(limits=Limits(timeout=30, step_timeout=4)),
        Options(limits=Limits(timeout=30, step_timeout=5, memory_bytes=2**30)),
        Options(limits=BASE.limits, sandbox="docker", image="other:tag"),
        Options(limits=BASE.limits, seed_secret="s"))}
    assert len(keys) == 8
    assert set(conditions(BASE)) == {"sandbox", "isolation", "image", "timeout", "step_timeout", "memory_mb",
                                     "seeding"}


def test_a_missing_feedback_file_or_an_error_is_graded_again(klass, tmp_path):
    run(klass, tmp_path / "out", BASE)
    (tmp_path / "out" / "feedback" / "s2.md").unlink()
    path = tmp_path / "out" / "results" / "s3.json"
    data = json.loads(path.read_text())
    data["extra_data"]["status"] = "error"
    path.write_text(json.dumps(data))
    again, graded = run(klass, tmp_path / "out", BASE)
    assert sorted(graded) == ["s2.py", "s3.py"]
    assert again.regraded_because == {"its feedback file is missing": 1,
                                      "the earlier run failed on the grading side": 1}


def test_the_command_says_how_many_were_reused_and_why_the_others_were_not(tmp_path):
    cli = [sys.executable, "-m", "grader", "grade", str(SAMPLES / "alice_correct.ipynb"),
           str(SAMPLES / "dave_damaged.ipynb"), "--out", str(tmp_path), "--jobs", "1", "--no-report"]
    first = subprocess.run([*cli, "--timeout", "30"], capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*cli, "--timeout", "20"], capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert "(0 reused; 2 regraded: time limit changed 30→20 s)" in " ".join(again.stdout.split())
    same = subprocess.run([*cli, "--timeout", "20"], capture_output=True, text=True, cwd=ROOT)
    assert "(2 reused)" in " ".join(same.stdout.split())
