"""`activation-grader grade`: the outputs an instructor gets, end to end."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.pipeline import batch
from grader.rubric.exercises import EXERCISES, TOTAL_POINTS
from grader.pipeline.tasks import Options
from grader.reports.files import CSV_COLUMNS
from grader.sandbox.process import Limits

from conftest import ROOT, SAMPLES

CLI = [sys.executable, "-m", "grader"]
OPTIONS = Options(seed=7, limits=Limits(timeout=30, step_timeout=5))


def rows(out: Path) -> dict[str, dict]:
    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def samples_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run([*CLI, "grade", str(SAMPLES), "--out", str(out), "--jobs", "2"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return out


def test_samples_grade_into_csv_results_and_feedback(samples_out):
    table = rows(samples_out)
    assert sorted(table) == sorted(p.name for p in SAMPLES.iterdir() if p.suffix == ".ipynb")
    with open(samples_out / "final_grades.csv", newline="") as f:
        assert next(csv.reader(f)) == CSV_COLUMNS == ["file", *[f"q{i}" for i in range(1, 11)], "total",
                                                      "possible", "status"]
    for name in table:
        stem = Path(name).stem
        assert (samples_out / "results" / f"{stem}.json").is_file()
        assert (samples_out / "feedback" / f"{stem}.md").read_text().startswith(f"# Feedback for `{name}`")


def test_correct_sample_gets_full_marks_and_blank_gets_zero(samples_out):
    table = rows(samples_out)
    assert float(table["alice_correct.ipynb"]["total"]) == TOTAL_POINTS == 100
    assert table["alice_correct.ipynb"]["status"] == "graded"
    assert float(table["carol_blank.ipynb"]["total"]) == 0
    assert table["carol_blank.ipynb"]["status"] == "graded"


def test_partly_wrong_sample_loses_exactly_on_its_four_mistakes(samples_out):
    row = rows(samples_out)["bob_partly_wrong.ipynb"]
    lost = {q for q, ex in EXERCISES.items() if float(row[q]) < ex.points}
    assert lost == {"q1", "q2", "q4", "q9"}


def test_damaged_notebook_gets_a_row_with_a_status_that_says_why(samples_out):
    row = rows(samples_out)["dave_damaged.ipynb"]
    assert row["status"] == "invalid-notebook" and float(row["total"]) == 0
    result = json.loads((samples_out / "results" / "dave_damaged.json").read_text())
    assert "not valid JSON" in result["extra_data"]["message"]


def test_results_follow_gradescope_schema(samples_out):
    result = json.loads((samples_out / "results" / "bob_partly_wrong.json").read_text())
    assert set(result) >= {"score", "tests", "output"}
    assert [t["number"] for t in result["tests"]] == list(EXERCISES)
    for test in result["tests"]:
        assert set(test) >= {"name", "number", "score", "max_score", "output", "visibility"}
        assert 0 <= test["score"] <= test["max_score"] == EXERCISES[test["number"]].points
    assert result["score"] == pytest.approx(sum(t["score"] for t in result["tests"]))


def test_feedback_names_the_mistake_and_how_to_fix_it(samples_out):
    text = (samples_out / "feedback" / "bob_partly_wrong.md").read_text()
    assert "this is sigmoid(x), not sigmoid(x) * (1 - sigmoid(x))" in text
    assert "subtract the maximum" in text


def test_one_notebook_prints_a_table_of_the_ten_exercises(tmp_path):
    proc = subprocess.run([*CLI, "grade", str(SAMPLES / "bob_partly_wrong.ipynb"), "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    for q in EXERCISES:
        assert f"{q}: " in proc.stdout


def test_rerun_reuses_results_with_the_same_key_and_regrade_forces(tmp_path):
    first = batch.run([SAMPLES], tmp_path, OPTIONS, jobs=2, progress=False)
    again = batch.run([SAMPLES], tmp_path, OPTIONS, jobs=2, progress=False)
    assert (first.graded, first.reused) == (4, 0) and (again.graded, again.reused) == (0, 4)
    assert [r.score for r in again.records] == [r.score for r in first.records]
    forced = batch.run([SAMPLES], tmp_path, OPTIONS, jobs=2, regrade=True, progress=False)
    assert (forced.graded, forced.reused) == (4, 0)


def test_an_interrupted_run_loses_nothing(tmp_path):
    """A result file written before the interruption is kept; a half-written one does not exist."""
    batch.run([SAMPLES / "alice_correct.ipynb"], tmp_path, OPTIONS, progress=False)
    (tmp_path / "results" / ".bob_partly_wrong.json.abc.tmp").write_text("{")  # a write cut short
    resumed = batch.run([SAMPLES], tmp_path, OPTIONS, jobs=2, progress=False)
    assert (resumed.graded, resumed.reused) == (3, 1)
    assert len(rows(tmp_path)) == 4


def test_a_class_of_fifty_grades_with_two_jobs_without_losing_a_row(tmp_path):
    src = tmp_path / "class"
    src.mkdir()
    for i in range(50):
        sample = sorted(SAMPLES.glob("*.ipynb"))[i % 4]
        shutil.copy(sample, src / f"student{i:02d}_{sample.name}")
    result = batch.run([src], tmp_path / "out", Options(limits=Limits(timeout=30, step_timeout=5)), jobs=2,
                       progress=False)
    table = rows(tmp_path / "out")
    assert len(table) == len(result.records) == 50
    assert all(r["status"] in {"graded", "invalid-notebook"} for r in table.values())
    assert sum(r["status"] == "graded" for r in table.values()) == 38


def test_seed_gives_every_submission_the_same_inputs_and_default_differs(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("x = 2\n")
    default = batch.run([a, b], tmp_path / "d", Options(), progress=False)
    fixed = batch.run([a, b], tmp_path / "f", Options(seed=3), progress=False)
    assert default.records[0].provenance.seed != default.records[1].provenance.seed
    assert {r.provenance.seed for r in fixed.records} == {3}


def test_same_submission_same_seed_same_scores_and_feedback(tmp_path):
    one = batch.run([SAMPLES / "bob_partly_wrong.ipynb"], tmp_path / "1", OPTIONS, progress=False).records[0]
    two = batch.run([SAMPLES / "bob_partly_wrong.ipynb"], tmp_path / "2", OPTIONS, progress=False).records[0]
    assert one.exercises == two.exercises


def test_a_grader_failure_is_not_reused_on_the_next_run(tmp_path):
    batch.run([SAMPLES / "alice_correct.ipynb"], tmp_path, OPTIONS, progress=False)
    path = tmp_path / "results" / "alice_correct.json"
    data = json.loads(path.read_text())
    data["extra_data"]["status"] = "error"
    path.write_text(json.dumps(data))
    again = batch.run([SAMPLES / "alice_correct.ipynb"], tmp_path, OPTIONS, progress=False)
    assert (again.graded, again.reused) == (1, 0) and again.records[0].status == "graded"


def test_help_and_version_load_neither_autograd_nor_the_exercises():
    """The command line starts quickly: click and the grader's errors, nothing of the grading."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom grader.interfaces.cli import main\n"
            "for args in (['--help'], ['--version'], ['grade', '--help'], ['merge', '--help'], ['report', '--help']):\n"
            "    result = CliRunner().invoke(main, args)\n"
            "    assert result.exit_code == 0, (args, result.output)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('autograd', 'numpy', 'reference')\n"
            "             or m.startswith(('grader.rubric.exercises', 'grader.pipeline.grading', 'grader.reports.files'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


class _FailingExecutor:
    """An executor whose every task fails as a worker process that died would."""

    def submit(self, fn, /, *args, **kwargs):
        import concurrent.futures as cf

        future: cf.Future = cf.Future()
        future.set_exception(cf.process.BrokenProcessPool("a worker process died"))
        return future

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        pass


def test_a_task_that_fails_gets_an_error_record_with_every_field(tmp_path):
    from dataclasses import fields

    from grader.rubric.record import Provenance

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.py").write_text("x = 1\n")
    result = batch.run([tmp_path / "in"], tmp_path / "out", OPTIONS, executor=_FailingExecutor(), progress=False)
    (record,) = result.records
    assert record.status == "error" and record.score == 0
    # the student is told it is not theirs to fix; the instructor gets the cause
    assert record.message.startswith("not graded because of a problem on the grading side; your instructor has "
                                     "been told")
    assert "report" not in record.message and "BrokenProcessPool" not in record.message
    assert "lost" in record.provenance.error and "BrokenProcessPool" in record.provenance.error
    assert list(record.exercises) == list(EXERCISES)
    assert all(ex.score == 0 and record.message in ex.feedback for ex in record.exercises.values())
    on_disk = json.loads((tmp_path / "out" / "results" / "a.json").read_text())["extra_data"]
    # the same fields as a graded record (only the CPU figures are missing: nothing ran), and the cause
    assert list(on_disk["provenance"]) == [f.name for f in fields(Provenance) if f.name != "cpu"]
    assert on_disk["provenance"]["seed"] == 7 and on_disk["provenance"]["isolation"] is None
    assert list(on_disk) == ["schema", "file", "status", "message", "score", "possible", "exercises", "cells",
                             "notes", "provenance"]
    row = rows(tmp_path / "out")["a.py"]
    assert row["status"] == "error" and row["total"] == "" and all(row[q] == "" for q in EXERCISES)
    assert row["possible"] == "100"
    feedback = (tmp_path / "out" / "feedback" / "a.md").read_text()
    assert "**Not graded**" in feedback and "your instructor has been told" in feedback
    assert "0 /" not in feedback and "report" not in feedback
    assert result.failures == {"a.py": record.provenance.error}
    again = batch.run([tmp_path / "in"], tmp_path / "out", OPTIONS, executor=_FailingExecutor(), progress=False)
    assert (again.graded, again.reused) == (1, 0)  # a grader failure is never reused


# --- a large class: the batch process keeps no record, and reads a submission only when it hands it out ------
class _CannedExecutor:
    """Answers every task at once with a made-up record (``points`` on q1), counting what is in flight."""

    def __init__(self, points: float = 0.0) -> None:
        self.points, self.submitted, self.finished, self.most_in_flight = points, 0, 0, 0

    def submit(self, fn, task):
        import concurrent.futures as cf

        from grader.rubric.record import Cells, ExerciseRecord, Provenance, SubmissionRecord

        self.submitted += 1
        self.most_in_flight = max(self.most_in_flight, self.submitted - self.finished)
        exercises = {q: ExerciseRecord(ex.title, self.points if q == "q1" else 0.0, float(ex.points), "fb")
                     for q, ex in EXERCISES.items()}
        record = SubmissionRecord.graded(task["name"], exercises, float(TOTAL_POINTS), cells=Cells(),
                                         notes=(), provenance=Provenance(key="k", isolation="uid"))
        future: cf.Future = cf.Future()
        future.set_result(record.to_dict())
        return future

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        pass


def test_a_batch_lets_every_record_go_once_it_is_written_and_bounds_what_is_in_flight(tmp_path):
    import gc
    import weakref

    from grader.reports.files import load_record

    (tmp_path / "in").mkdir()
    for i in range(40):
        (tmp_path / "in" / f"s{i:02d}.py").write_text(f"x = {i}\n")
    executor, alive = _CannedExecutor(points=1.0), []

    def seen(record):
        executor.finished += 1
        alive.append(weakref.ref(record))

    result = batch.run([tmp_path / "in"], tmp_path / "out", OPTIONS, jobs=2, executor=executor, on_result=seen,
                       progress=False)
    gc.collect()
    assert len(alive) == 40 and not [ref for ref in alive if ref() is not None]  # no record kept
    assert executor.most_in_flight == batch.IN_FLIGHT_PER_JOB * 2  # not all 40 read and handed out at once
    # what the batch reports is what it wrote
    assert [e.file for e in result.entries] == [f"s{i:02d}.py" for i in range(40)]
    assert {e.status for e in result.entries} == {"graded"} and {e.isolation for e in result.entries} == {"uid"}
    assert result.records[3] == load_record(tmp_path / "out" / "results" / "s03.json")
    assert [r.exercises["q1"].score for r in result.records] == [1.0] * 40
    assert [r.file for r in result.records[38:]] == ["s38.py", "s39.py"]
    assert [r["q1"] for r in rows(tmp_path / "out").values()] == ["1"] * 40

    # a regrade still says what changed, from the record it replaces
    again = batch.run([tmp_path / "in"], tmp_path / "out", OPTIONS, jobs=2, executor=_CannedExecutor(points=0.5),
                      regrade=True, progress=False)
    assert again.graded == 40 and again.changes["s07.py"][0].startswith("total: 1 -> 0.5 (")
    assert again.changes["s07.py"][1].startswith("q1: ") and "1 -> 0.5" in again.changes["s07.py"][1]
