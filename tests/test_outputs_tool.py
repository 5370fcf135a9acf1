"""benchmarks/outputs.py, the before/after proof that a change of the code changes no output: its masks
hide what differs between two runs of the same code (times, durations, CPU figures, the grader's version
and the keys made from it, the temporary directory), and nothing else, so a changed score or message
still shows; its comparison says what differs and exits 1. On tiny output directories written by the
grader's own writers from records made here: nothing is graded, so this runs in about a second.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT
from grader.reports.classreport import write_report
from grader.rubric.record import Cells, CriterionRecord, ExerciseRecord, Provenance, SubmissionRecord
from grader.reports.files import write_grades_csv, write_submission
from variants import golden_sources

_spec = importlib.util.spec_from_file_location("outputs_tool", ROOT / "benchmarks" / "outputs.py")
outputs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(outputs)

HEX = "0123456789abcdef"


def _record(name: str, *, run: int, points: float = 0.5,
            message: str = "sigmoid returned 0.7 where the reference gives 0.5") -> SubmissionRecord:
    """A graded record whose run-to-run fields (time, seconds, CPU, version, key) depend on ``run``."""
    criteria = (CriterionRecord("sigmoid matches 1 / (1 + exp(-x)) on 0-d inputs", points, 1.0,
                                message if points < 1.0 else "", "Mismatch" if points < 1.0 else None),
                CriterionRecord("inputs are not modified", 1.0, 1.0))
    exercises = {"q1": ExerciseRecord("Saturating activations", points + 1.0, 2.0, "", "", criteria)}
    provenance = Provenance(key=(HEX[run] * 64), grader_version=f"0.1.0+{HEX[run] * 10}", seed=5,
                            content_sha256="ab" * 32, sandbox="process", executor="local", isolation="uid",
                            graded_at=f"2026-12-0{run + 1}T22:0{run}:1{run}+00:00",
                            cpu={"trusted": {"read": 198.06 + run, "total": 224.9 * run}, "plans_cached": run == 1},
                            seconds=6.409 + run, conditions={"timeout": 40.0, "step_timeout": 3.0})
    return SubmissionRecord.graded(name, exercises, 2.0, cells=Cells(3), notes=(), provenance=provenance)


def _run(tmp: Path, run: int, report: bool = False, **changes) -> Path:
    """The output of one run as the grader writes it, with its console naming its temporary directory."""
    graded = tmp / f"outputs-snapshot-run{run}" / "out"
    records = [_record("alice.ipynb", run=run, **changes), _record("=bob | <b>.py", run=run)]
    for record in records:
        write_submission(graded, record)
    write_grades_csv(graded, records)
    (graded / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe 0.1.0+1111111111")  # binary: kept as it is
    if report:
        write_report(graded)
    snapshot = tmp / f"snapshot{run}"
    outputs.keep_tree(graded, snapshot / "out", {str(graded.parent): "<tmp>"})
    (snapshot / "console").mkdir()
    (snapshot / "console" / "grade.stdout").write_text(outputs.mask(
        f"2 submission(s): 2 graded (0 reused; 2 new). Wrote {graded / 'final_grades.csv'}.\n", {str(graded.parent): "<tmp>"}))
    return snapshot


def _compare(a: Path, b: Path) -> tuple[bool, str]:
    said: list[str] = []
    same = outputs.compare_trees(a, b, echo=said.append)
    return same, "\n".join(said)


def test_two_runs_differing_in_times_versions_and_paths_compare_identical(tmp_path):
    a, b = _run(tmp_path, 1, report=True), _run(tmp_path, 2, report=True)
    raw = [(tmp_path / f"outputs-snapshot-run{r}/out/results/alice.json").read_text() for r in (1, 2)]
    assert raw[0] != raw[1] and "0.1.0+1111111111" in raw[0]  # the run-to-run fields did differ
    masked = (a / "out/results/alice.json").read_text()
    for hidden in ("2026-12-02T22:01:11+00:00", "6.409", "7.409", "198.06", "0.1.0+1111111111", "1" * 64):
        assert hidden not in masked
    assert '"graded_at": "<time>"' in masked and '"cpu": "<cpu>"' in masked and '"seconds": <seconds>' in masked
    assert '"content_sha256": "' + "ab" * 32 in masked and '"seed": 5' in masked  # only what varies is masked
    assert "Grader version <version>." in (a / "out/report.html").read_text()
    same, said = _compare(a, b)
    assert same, said
    assert said.endswith("identical")


def test_a_changed_score_shows_in_the_results_the_feedback_and_the_grades(tmp_path):
    same, said = _compare(_run(tmp_path, 1), _run(tmp_path, 2, points=0.25))
    assert not same
    assert "-alice.ipynb,1.5,0,0,0,0,0,0,0,0,0,1.5,2,graded" in said and "+alice.ipynb,1.25,0,0,0,0,0,0,0,0,0,1.25,2,graded" in said
    assert '- "score": 1.5,' in said and '+ "score": 1.25,' in said
    assert "out/feedback/alice.md" in said
    assert said.endswith("0 only in " + str(tmp_path / "snapshot1") + ", 0 only in " + str(tmp_path / "snapshot2")
                         + ", 3 differ")  # results, feedback, the CSV


def test_a_changed_message_shows_and_a_file_on_one_side_is_named(tmp_path):
    a, b = _run(tmp_path, 1), _run(tmp_path, 2, message="sigmoid returned 0.7 where the reference gives 0.50")
    (b / "out/feedback/extra.md").write_text("new\n")
    size = len((b / "out/plot.png").read_bytes())
    (b / "out/plot.png").write_bytes((b / "out/plot.png").read_bytes() + b"\x00")
    same, said = _compare(a, b)
    assert not same
    assert "+  sigmoid returned 0.7 where the reference gives 0.50" in said
    assert f"only in {b}: out/feedback/extra.md" in said
    assert f"binary out/plot.png differs: {size} and {size + 1} bytes" in said


def test_masks_are_precise():
    kept = ('"score": 97.5,\n "message": "took 6.409 seconds on 2026-12-07T22:03:01+00:00, version 0.1.0",\n'
            ' "content_sha256": "' + "c" * 64 + '",\n "seed": 5,\n')
    assert outputs.mask(kept) == kept  # the same words and numbers anywhere but in their fields stay
    assert outputs.mask('"seconds": 0.06,\n "execution_time": 12,\n "seconds": 1e-05\n}') == \
        '"seconds": <seconds>,\n "execution_time": <seconds>,\n "seconds": <seconds>\n}'
    assert outputs.mask('  "graded_at": "2026-12-07T22:03:01+00:00",') == '  "graded_at": "<time>",'
    assert outputs.mask("Grader version 0.1.0+3897db51de.") == "Grader version <version>."
    assert outputs.mask('   "cpu": {\n    "a": {\n     "b": 1\n    },\n    "c": true\n   },\n   "seconds": 2\n  }') == \
        '   "cpu": "<cpu>",\n   "seconds": <seconds>\n  }'
    assert outputs.mask("Wrote /tmp/outputs-snapshot-x1/out/final_grades.csv", {"/tmp/outputs-snapshot-x1": "<tmp>"}) \
        == "Wrote <tmp>/out/final_grades.csv"


def test_compare_exits_0_when_identical_and_1_on_a_difference(tmp_path):
    a, b = _run(tmp_path, 1), _run(tmp_path, 2)
    runner = CliRunner()
    result = runner.invoke(outputs.main, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    (b / "out/final_grades.csv").write_text((b / "out/final_grades.csv").read_text().replace("1.5", "1.25", 1))
    result = runner.invoke(outputs.main, ["compare", str(a), str(b)])
    assert result.exit_code == 1 and "+alice.ipynb,1.25" in result.output


def test_the_class_is_the_same_files_each_time_and_holds_every_golden_file():
    files = outputs.class_files(200)
    assert files == outputs.class_files(200) and len(files) >= 200
    for name, source in golden_sources().items():
        assert files[f"golden/{name}"] == source.encode()
    assert {p.name for p in (ROOT / "samples").glob("*.ipynb")} <= {k.split("/")[-1] for k in files}
    assert len([k for k in files if k.startswith("slow/")]) == 2  # with golden/looping.py: three that loop
    assert {"a b.ipynb", "a_b.ipynb", "<b>bold.ipynb", "ünïcødé 学生.ipynb"} <= set(files)
    # each mistake alone, in a notebook
    assert sum(1 for k, v in files.items() if k.startswith("mistakes/") and k.endswith(".ipynb")) >= 40
    cells = json.loads(files["a b.ipynb"])["cells"]
    assert [c["id"] for c in cells] == [f"cell-{k}" for k in range(len(cells))]


@pytest.mark.parametrize("command", ["make-class", "make-golden"])
def test_a_class_is_written_once_into_a_new_directory(tmp_path, command):
    runner = CliRunner()
    result = runner.invoke(outputs.main, [command, str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / ("golden/solution.py" if command == "make-class" else "solution.py")).is_file()
    again = runner.invoke(outputs.main, [command, str(tmp_path / "c")])
    assert again.exit_code == 1 and "not empty" in again.output
