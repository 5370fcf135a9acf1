"""The rubric's vocabulary: calls picked by tag, criteria built one way, known mistakes computed lazily."""
from __future__ import annotations

import numpy as np
import pytest

from grader.rubric.checks import MISTAKE_ATOL, MISTAKE_RTOL, Mismatch, Outcome, assert_close, matches_mistake
from grader.rubric.criteria import Mistake, calls, each_call, gate_groups, known, mistakes, unmutated
from grader.rubric.exercises import EXERCISES
from grader.rubric.probes import Call, Plan
from grader.rubric.runner import run_criteria


def _plan() -> Plan:
    return Plan("q0", 0, [Call("f/a", "f", (np.zeros(2),), {}, tag="0d"), Call("f/b", "f", (np.ones(3),), {}, tag="nd"),
                          Call("f/c", "f", (np.ones(3),), {"alpha": 0.5}, tag="nd"),
                          Call("g/a", "g", (np.zeros(2),), {}, tag="0d")])


def test_plan_select_picks_by_function_tag_and_keyword_arguments_in_plan_order():
    plan = _plan()
    ids = lambda chosen: [c.id for c in chosen]  # noqa: E731
    assert ids(plan.select()) == ["f/a", "f/b", "f/c", "g/a"]
    assert ids(plan.select(func="f")) == ["f/a", "f/b", "f/c"]
    assert ids(plan.select(func=("g", "f"), tags="0d")) == ["f/a", "g/a"]
    assert ids(plan.select(func="f", tags=("nd",), with_kwargs=False)) == ["f/b"]
    assert ids(plan.select(tags="nd", with_kwargs=True)) == ["f/c"]
    assert plan.select(tags="n") == []  # a tag is matched whole, never as a part of another
    assert ids(calls("f", "nd", order=lambda c: -len(c.kwargs))(plan)) == ["f/c", "f/b"]


@pytest.mark.parametrize("q", list(EXERCISES))
def test_every_call_of_every_plan_has_a_tag_and_every_criterion_grades_something(q):
    ex = EXERCISES[q]
    plan = ex.plan(0)
    assert all(c.tag for c in plan.calls), [c.id for c in plan.calls if not c.tag]
    # nothing defined: a criterion whose selection were empty (a mistyped tag) would pass here
    results = run_criteria(ex.criteria, plan, {c.id: Outcome("undefined") for c in plan.calls})
    assert [r.name for r in results if r.passed] == []


def test_gate_groups_take_the_0d_calls_together_and_drop_the_uninformative():
    plan = _plan()
    plan.expected.update({"f/a": np.array(1.0), "g/a": np.array(2.0), "f/b": np.array([1.0, 2.0, 3.0]),
                          "f/c": np.ones(3)})
    assert [[c.id for c in g] for g in gate_groups(plan, plan.calls)] == [["f/a", "g/a"], ["f/b"]]


def test_known_mistakes_are_computed_only_when_the_values_fail():
    evaluated = []

    def wrong(x):
        evaluated.append(x)
        return x * 2.0

    table = mistakes((wrong, "doubled"))
    call = Call("f/x", "f", (np.arange(3.0),), {}, tag="1d")
    assert_close(np.arange(3.0), np.arange(3.0), call, mistakes=known(table, *call.args))
    assert evaluated == []
    with pytest.raises(Mismatch, match="doubled"):
        assert_close(np.arange(3.0) * 2.0, np.arange(3.0), call, mistakes=known(table, *call.args))
    assert len(evaluated) == 1
    assert isinstance(table[0], Mistake) and table[0].meaning == "doubled"


def test_a_known_mistake_is_recognised_at_one_tolerance_and_quietly():
    value = np.array([1.0, -2.0])
    assert matches_mistake(value * (1 + 0.5 * MISTAKE_RTOL), value)
    assert not matches_mistake(value * (1 + 20 * MISTAKE_RTOL), value)
    assert matches_mistake(np.array([MISTAKE_ATOL / 2]), np.zeros(1)) and not matches_mistake(np.zeros(2), np.zeros(3))
    (overflowing,) = mistakes((lambda x: np.exp(x), "exp"))
    with np.errstate(all="raise"):
        assert np.isinf(overflowing.formula(np.array(1000.0)))
        ((got, meaning),) = known(mistakes((lambda x: np.exp(x), "exp")), np.array(1000.0))
    assert np.isinf(got) and meaning == "exp"


def test_each_call_and_unmutated_take_one_argument_order():
    plan = _plan()
    plan.expected.update({c.id: np.asarray(c.args[0]) for c in plan.calls})
    ok = {c.id: Outcome("ok", value=np.asarray(c.args[0])) for c in plan.calls}
    check = lambda plan, results, call: assert_close(results[call.id].value, plan.expected[call.id], call)  # noqa
    (values, same) = run_criteria([each_call("values", 1.0, calls("f", "nd"), check),
                                   unmutated("not modified", 0.5, calls(("f", "g")))], plan, ok)
    assert (values.points, same.points) == (1.0, 0.5)
    ok["f/b"] = Outcome("ok", value=np.zeros(3), mutated=("argument 1",))
    (values, same) = run_criteria([each_call("values", 1.0, calls("f", "nd"), check),
                                   unmutated("not modified", 0.5, calls(("f", "g")))], plan, ok)
    assert (values.points, same.points) == (0.0, 0.0)
    assert "3 elements differ" in values.message and "modified its input argument 1" in same.message
