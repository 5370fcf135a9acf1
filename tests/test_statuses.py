"""Statuses and positions are enums, compared with their members, never with a string literal.

A submission's status (``grader.rubric.record.Status``), a call's (``CallStatus``) and where the child
was (``grader.pipeline.execution.Position``) are typed. Their members equal their text (so a record read
from disk compares equal, and every output keeps its bytes), which is also why a literal would still
"work": ``status == "graded"`` hides a typo (``"grade"`` is always false) from every tool. The scan
below finds, in every module of ``grader/`` but the record module (where the vocabulary is defined),
a comparison (``==``, ``!=``, ``in``, ``not in``) of a status or a position with a string literal or
a tuple, list or set of them. Wire event names (``ev``) and a poll's ``kind`` are the worker's
protocol, not statuses, and are not concerned.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from grader.pipeline.execution import START, Execution, Position, Where, apply_event, blame
from grader.rubric.record import GRADED, SCORED_STATUSES, CallStatus, Provenance, Status, SubmissionRecord

ROOT = Path(__file__).resolve().parent.parent
RECORD_MODULE = "grader/rubric/record.py"
#: What names a status or a position: ``x.status``, a variable ``status``, ``x.get("status")``,
#: ``x["status"]``, and the same for ``where`` and ``position``.
WORDS = ("status", "where", "position")


def _names_a_status(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in WORDS
    if isinstance(node, ast.Name):
        return node.id in WORDS
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and key.value in WORDS
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value in WORDS
    return False


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_literal(e) for e in node.elts)
    return False


def literal_comparisons(source: str) -> list[str]:
    """Every comparison of a status or a position with a string literal in ``source``, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for (left, right), op in zip(zip(operands, operands[1:]), node.ops):
            if not isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)):
                continue
            if (_names_a_status(left) and _is_literal(right)) or (_names_a_status(right) and _is_literal(left)):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_status_or_position_is_compared_with_a_string_literal_outside_the_record_module():
    offences = []
    for path in sorted((ROOT / "grader").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative != RECORD_MODULE:
            offences += [f"{relative}:{hit}" for hit in literal_comparisons(path.read_text())]
    assert not offences, "compare with the enum's members (grader.rubric.record.Status ...):\n" + "\n".join(offences)


@pytest.mark.parametrize("source", [
    'graded = sum(e.status == "graded" for e in entries)',  # what grader/interfaces/cli.py did
    'if record.status in ("error", "timeout"): pass',
    'if "refused" != item.status: pass',
    'ok = failure.fields.get("status") == "raised"',
    'ok = rec["status"] not in {"ok", "raised"}',
    'if status == "timeout": pass',
    'if where == ("exercise", q): pass',
])
def test_the_scan_finds_a_literal_comparison(source):
    assert literal_comparisons(source), source


@pytest.mark.parametrize("source", [
    "graded = sum(e.status == Status.GRADED for e in entries)",
    "if record.status in SCORED_STATUSES: pass",
    'if kind == "exit": pass',  # a poll's kind: the worker's protocol
    'if ev.get("ev") == "done": pass',
    'label = {"ok": 1}.get(out.status)',  # not a comparison
    "if where == Where(Position.EXERCISE, q): pass",
])
def test_the_scan_leaves_members_and_the_protocol_alone(source):
    assert not literal_comparisons(source), source


def test_a_status_is_its_text_everywhere_it_is_written():
    """JSON, CSV cells, f-strings and str() give the text; a status read back is the member."""
    assert json.dumps({"status": Status.TOO_LARGE}) == '{"status": "too-large"}'
    assert f"{Status.INVALID_NOTEBOOK}|{CallStatus.NOT_RUN:>8}" == "invalid-notebook| not-run"
    assert str(Status.ERROR) == "error" and hash(Status.ERROR) == hash("error") and GRADED in SCORED_STATUSES
    record = SubmissionRecord.not_graded("a.py", Status.REFUSED, "no", [("q1", "One", 10)], 10.0,
                                         provenance=Provenance())
    data = record.to_dict()
    assert type(data["status"]) is str and data["status"] == "refused"
    assert SubmissionRecord.from_dict(data).status is Status.REFUSED
    assert SubmissionRecord.from_dict({**data, "status": "someone-else's"}).status == "someone-else's"


def test_positions_are_typed_and_failures_outside_any_cell_are_counted_not_read_from_notes():
    """A worker report whose text says "outside any cell" is not a failure outside any cell: the second
    real one, and only it, stops the exercises still pending."""
    result, pending = Execution(outcomes={"q1": {}}), ["q1"]
    moved, _ = apply_event({"ev": "cell", "i": 0}, result, pending, {}, START, n_cells=1)
    assert moved == Where(Position.CELL, 0)
    apply_event({"ev": "fatal", "error": "the worker died outside any cell or exercise"}, result, pending, {})
    assert result.worker_reports == 1 and result.failures_outside == 0
    plans = {"q1": type("P", (), {"calls": []})()}
    blame(result, START, pending, plans, CallStatus.CRASHED, "the process exited")
    assert pending == ["q1"] and result.failures_outside == 1
    blame(result, Where(Position.PROBES), pending, plans, CallStatus.CRASHED, "the process exited")
    assert pending == [] and result.exercise_notes["q1"] == "the grader stopped this exercise: the process exited."
