"""The contract's array-likes score exactly like ndarrays, in every exercise.

A function may return a list, nested lists, a tuple of numbers, a numpy
scalar, a Python float or int, or a 0-d array wherever one array is expected,
and a tuple or a list of array-likes where it returns several results. Each
form below converts the golden solution's results (and a wrong solution's) and
must score what the plain ndarrays score, criterion by criterion; the wire
keeps a list apart from a tuple, and what is not one array is refused with a
message that says so.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from grader.rubric.checks import WrongShape, array_result, tuple_result
from grader.rubric.runner import CriterionResult
from grader.rubric.exercises import EXERCISES
from grader.rubric.probes import Call
from grader.sandbox.outcomes import outcome_from_record
from helpers import grade_source
from grader.sandbox.worker.wire import MAX_ELEMENTS, WireError, encode_result, read_result
from grader.sandbox.worker import calls

from conftest import GOLDEN
from variants import variant

# How one array-like result is written, given the solution's array ``a`` (source run in the submission).
FORMS = {
    "ndarray": "a",
    "tolist": "a.tolist()",  # a Python float/int/bool for 0-d, nested lists otherwise
    "list of rows": "list(a) if a.ndim else a[()]",  # numpy scalars, or a list of arrays
    "tuple of numbers": "_innermost_tuples(a)",  # (x, y, ...) for 1-d, lists of tuples above
    "nested 0-d arrays": "_nested_0d(a)",
    "ints where integral": "_ints(a)",
}

CONVERT = '''
import numpy as np

_solution = {}
exec(compile(SOLUTION, "<solution>", "exec"), _solution)


def _innermost_tuples(a):
    if a.ndim == 0:
        return a.item()
    if a.ndim == 1:
        return tuple(a.tolist())
    return [_innermost_tuples(row) for row in a]


def _nested_0d(a):
    return np.array(a) if a.ndim == 0 else [_nested_0d(row) for row in a]


def _ints(a):
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return a.astype(int).tolist()
    return a.tolist()


def _form(a):
    a = np.asarray(a)
    return FORM


def _wrap(f):
    def wrapped(*args, **kwargs):
        value = f(*args, **kwargs)
        if isinstance(value, tuple):  # several results
            items = [_form(item) for item in value]
            return tuple(items) if CONTAINER == "tuple" else items
        return _form(value)
    return wrapped


for _name in NAMES:
    globals()[_name] = _wrap(_solution[_name])
'''


def submission(source: str, form: str, container: str, names: tuple[str, ...]) -> str:
    return (f"SOLUTION = {source!r}\nNAMES = {names!r}\nCONTAINER = {container!r}\n"
            + CONVERT.replace("FORM", FORMS[form], 1).replace("return FORM", f"return {FORMS[form]}"))


def scores(results: list[CriterionResult]) -> dict[str, float]:
    return {r.name: r.points for r in results}


SOLUTION = (GOLDEN / "solution.py").read_text()
WRONG = variant("wrong_q3_q5_q7_q10.py")
CASES = [(q, form, container) for q in EXERCISES for form in FORMS for container in ("tuple", "list")
         if not (form == "ndarray" and container == "tuple")]


@pytest.fixture(scope="module")
def plain():
    """Criterion points of the plain-ndarray answers (right and wrong), per exercise."""
    out = {}
    for q, ex in EXERCISES.items():
        for label, source in (("right", SOLUTION), ("wrong", WRONG)):
            out[q, label] = scores(grade_source(q, submission(source, "ndarray", "tuple", ex.names), seed=3))
    return out


def test_the_plain_answers_are_full_and_the_wrong_ones_are_not(plain):
    for q, ex in EXERCISES.items():
        assert sum(plain[q, "right"].values()) == ex.points, (q, plain[q, "right"])
    assert all(sum(plain[q, "wrong"].values()) < EXERCISES[q].points for q in ("q3", "q5", "q7", "q10"))


@pytest.mark.parametrize("q, form, container", CASES, ids=[f"{q}-{f}-{c}" for q, f, c in CASES])
def test_every_form_scores_like_the_ndarray(plain, q, form, container):
    names = EXERCISES[q].names
    right = grade_source(q, submission(SOLUTION, form, container, names), seed=3)
    assert scores(right) == plain[q, "right"], [r.message for r in right if not r.passed]
    wrong = grade_source(q, submission(WRONG, form, container, names), seed=3)
    assert scores(wrong) == plain[q, "wrong"], [r.message for r in wrong if not r.passed]


# --- the wire keeps lists and tuples apart ------------------------------------------------------------
def read(value):
    """What the trusted side reads of ``value`` returned by a student function (through JSON)."""
    return outcome_from_record(json.loads(json.dumps({"status": "ok", "result": encode_result(value)})))


CALL = Call("c", "f", (np.zeros(3),))


@pytest.mark.parametrize("value, shape", [
    ([[1.0, 2.0], [3.0, 4.0]], (2, 2)),
    ([np.array([1.0, 2.0]), np.array([3.0, 4.0])], (2, 2)),
    ((1.0, 2.0, 3.0), (3,)),
    ([np.float64(1.0), 2, True], (3,)),
    ([[(1, 2), (3, 4)]], (1, 2, 2)),
    (np.float32(0.5), ()),
    (7, ()),
    (np.array(2.0), ()),
    ([], (0,)),
])
def test_array_likes_read_as_one_array(value, shape):
    out = read(value)
    got = array_result({"c": out}, CALL, shape)
    assert type(got) is np.ndarray and got.dtype == np.float64
    assert np.array_equal(got, np.asarray(value, dtype=np.float64))


@pytest.mark.parametrize("value, container", [
    ((np.ones((2, 3)), np.zeros(2)), "tuple"),
    ([np.ones((2, 3)), np.zeros(2)], "list"),
    (([[1.0, 2.0], [3.0, 4.0]], [5.0, 6.0]), "tuple"),
    ([np.ones(2), np.zeros(2)], "list"),  # equal shapes: one (2, 2) array on the wire, still two results
    ((np.ones(2), np.zeros(2)), "tuple"),
    ((np.array(1.5), -2.0), "tuple"),  # a tuple of numbers
    ([0.5, [1.0, 2.0]], "list"),
])
def test_several_results_as_tuple_or_list(value, container):
    out = read(value)
    assert out.container == container
    a, b = tuple_result({"c": out}, CALL, (None, None))
    assert np.array_equal(a, np.asarray(value[0], dtype=float)) and np.array_equal(b, np.asarray(value[1]))


def test_a_tuple_of_arrays_is_not_one_array_and_a_stacked_array_is_not_a_tuple():
    with pytest.raises(WrongShape, match=r"returned a tuple of 2 items, expected one array of shape \(2, 2\)"):
        array_result({"c": read((np.ones(2), np.zeros(2)))}, CALL, (2, 2))
    with pytest.raises(WrongShape, match="returned a list of 2 items, expected one array") as failure:
        array_result({"c": read([np.ones(2), np.zeros(3)])}, CALL, (2, 2))
    assert "(2,), (3,)" in failure.value.hint
    with pytest.raises(WrongShape, match="returned a single array, expected a tuple of 2 arrays"):
        tuple_result({"c": read(np.stack([np.ones(2), np.zeros(2)]))}, CALL, (None, None))
    with pytest.raises(WrongShape, match="returned a list of 3 items, expected a tuple of 2"):
        tuple_result({"c": read([1.0, 2.0, 3.0])}, CALL, (None, None))
    with pytest.raises(WrongShape, match="item 1 .* do not form one array"):
        tuple_result({"c": read((np.ones(2), [np.ones(2), np.ones(3)]))}, CALL, (None, None))


def test_items_of_a_tuple_keep_their_dtype():
    out = read((np.zeros(2), np.array([True, False])))
    assert isinstance(out.value, tuple) and out.value[1].dtype == np.bool_
    assert read([True, False]).source_dtype == "bool" and read([1, 2]).source_dtype == "int64"


@pytest.mark.parametrize("value", [["a", "b"], [1j, 2.0], [object()], ([1.0], (x for x in "ab")), {"a": 1}])
def test_non_numeric_lists_and_tuples_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        encode_result(value)


def test_ragged_containers_are_bounded_in_length_and_depth():
    with pytest.raises(TypeError, match="100 items that do not form one array"):
        encode_result([np.ones(i + 1) for i in range(100)])
    with pytest.raises(TypeError, match="nested more than 2 deep"):
        encode_result([[np.ones(1), [np.ones(1), np.ones(2)]], np.ones(3)])
    # regular nesting of any depth is one array
    assert read([[[[1.0]]]]).value.shape == (1, 1, 1, 1)


def test_results_too_large_in_one_list_or_in_all_cost_only_that_call():
    ns = {"one": lambda: [0.0] * (MAX_ELEMENTS + 1),
          "all": lambda: tuple(np.zeros(MAX_ELEMENTS // 2 + 1) for _ in range(2)) + (np.zeros(1),),
          "fine": lambda: (np.zeros(MAX_ELEMENTS // 2), [0.0] * 10)}
    for name, words in (("one", "more than the 4,000,000 the grader accepts"), ("all", "in all")):
        record = calls.run_call(ns, {"func": name, "args": [], "kwargs": {}})
        assert record["status"] == "invalid" and words in record["error_message"], record
    assert calls.run_call(ns, {"func": "fine", "args": [], "kwargs": {}})["status"] == "ok"


def rec(value: np.ndarray, **extra) -> dict:
    from grader.sandbox.worker.wire import encode_array

    return {"value": encode_array(value), "source_dtype": str(value.dtype), **extra}


@pytest.mark.parametrize("record", [
    {"tuple": [rec(np.ones(2))], "list": []},
    {"list": "not a list"},
    {"list": [rec(np.ones(1))] * 65},
    {"tuple": [{"tuple": [{"tuple": [rec(np.ones(1))]}]}]},
    rec(np.ones(2), container="dict"),
    rec(np.array(1.0), container="list"),
    rec(np.ones(2), extra=1),
    {"list": [rec(np.zeros(MAX_ELEMENTS // 2 + 1)), rec(np.zeros(MAX_ELEMENTS // 2 + 1))]},
])
def test_hostile_result_trees_are_refused(record):
    with pytest.raises(WireError):
        read_result(json.loads(json.dumps(record)))
    assert outcome_from_record({"status": "ok", "result": record}).status == "invalid"


@pytest.mark.parametrize("form, container, sandbox", [
    ("tolist", "tuple", "process"), ("list of rows", "list", "process"),
    pytest.param("tolist", "list", "docker", marks=pytest.mark.docker),
])
def test_through_the_sandbox_lists_score_full(form, container, sandbox):
    """The same through the real worker (its shipped copy of the wire), all ten exercises at once."""
    from grader.pipeline.grading import grade
    from grader.pipeline.tasks import Options
    from grader.pipeline.warm import close_workers
    from grader.sandbox.process import Limits

    names = tuple(n for ex in EXERCISES.values() for n in ex.names)
    content = submission(SOLUTION, form, container, names).encode()
    options = Options(seed=3, sandbox=sandbox, limits=Limits(timeout=60, step_timeout=10))
    try:
        record = grade({"name": "forms.py", "content": content, "options": options.to_dict()})
    finally:
        close_workers()
    assert record["status"] == "graded" and record["score"] == 100, {
        q: [c["message"] for c in ex["criteria"] if c["points"] < c["max_points"]]
        for q, ex in record["exercises"].items()}


def test_snapshot_of_the_messages_about_what_was_returned():
    """What a student reads when the result is not the one array or the several results expected."""
    import os

    from conftest import ROOT

    cases = [
        ("tuple where one array", lambda: array_result({"c": read((np.ones(2), np.zeros(2)))}, CALL, (2, 2))),
        ("ragged list where one array", lambda: array_result({"c": read([np.ones(2), np.zeros(3)])}, CALL, (2, 2))),
        ("(J,) where one array", lambda: array_result({"c": read((np.eye(2),))}, CALL, (2, 2))),
        ("one array where a tuple", lambda: tuple_result({"c": read(np.ones((2, 2)))}, CALL, (None, None))),
        ("list of 3 where a tuple of 2", lambda: tuple_result({"c": read([1.0, 2.0, 3.0])}, CALL, (None, None))),
        ("ragged item", lambda: tuple_result({"c": read((np.ones(2), [np.ones(2), np.ones(3)]))}, CALL, (None, None))),
    ]
    lines = []
    for what, check in cases:
        with pytest.raises(WrongShape) as failure:
            check()
        lines.append(f"## {what}\n{failure.value}\n")
    for name, value in (("strings", ["a", "b"]), ("100 ragged items", [np.ones(i + 1) for i in range(100)]),
                        ("too large", [0.0] * (MAX_ELEMENTS + 1))):
        record = calls.run_call({"f": lambda: value}, {"func": "f", "args": [], "kwargs": {}})
        lines.append(f"## invalid: {name}\n{record['error_message']}\n")
    text = "\n".join(lines)
    snapshot = ROOT / "tests" / "snapshots" / "array_like_messages.md"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text)
    assert text == snapshot.read_text(), f"messages changed: UPDATE_SNAPSHOTS=1 to accept ({snapshot})"
