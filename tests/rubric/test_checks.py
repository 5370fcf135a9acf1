"""The checks themselves: they fail on wrong answers, pass right ones, and say what is wrong."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.rubric.checks import (CallFailed, CheckFailure, Mismatch, MissingValueError, NotFinite, Outcome,
                           PropertyViolated, WrongShape, array_result, assert_close, assert_finite,
                           assert_not_mutated, assert_property, assert_raises_value_error, each, tuple_result)
from grader.rubric.runner import Criterion, run_criteria
from grader.rubric.probes import Call

CALL = Call("f/x", "f", (np.zeros(3),), {}, "x of shape (3,)")


def test_assert_close_reports_count_max_errors_worst_index_and_input():
    expected = np.array([[0.25, 0.2], [0.1, 0.0]])
    got = np.array([[0.5, 0.2], [0.1000001, 0.0]])
    inputs = np.array([[0.0, 1.0], [2.0, 3.0]])
    with pytest.raises(Mismatch) as info:
        assert_close(got, expected, CALL, inputs=inputs)
    failure = info.value
    assert (failure.n_mismatch, failure.n_total, failure.worst_index) == (2, 4, (0, 0))
    assert failure.max_abs == pytest.approx(0.25) and failure.max_rel == pytest.approx(1.0)
    assert str(failure) == (
        "f([0., 0., 0.]) with x of shape (3,): 2 of 4 elements differ from the expected values "
        "(rtol=1e-10, atol=1e-12).\n"
        "  Max absolute difference: 0.25 at index (0, 0), where x = 0: expected 0.25, got 0.5.\n"
        "  Max relative difference: 1.")


def test_assert_close_names_a_recognised_mistake():
    expected, wrong = np.array([0.25, 0.1966]), np.array([0.5, 0.7311])
    with pytest.raises(Mismatch) as info:
        assert_close(wrong, expected, CALL, mistakes=[(np.array([0.1, 0.1]), "not this one"),
                                                      (wrong, "this is sigmoid(x)")])
    assert info.value.hint == "this is sigmoid(x)"
    assert str(info.value).endswith("Hint: this is sigmoid(x)")


def test_nan_against_a_finite_key_is_a_mismatch_with_an_overflow_hint():
    with pytest.raises(Mismatch) as info:
        assert_close(np.array([np.nan, 1.0]), np.array([0.5, 1.0]), CALL)
    assert info.value.n_mismatch == 1 and "exp() that overflows" in info.value.hint


def test_equal_infinities_and_underflow_to_zero_pass():
    assert_close(np.array([np.inf, -np.inf, 0.0]), np.array([np.inf, -np.inf, 5e-300]), CALL)


def test_shape_mismatch_is_wrong_shape_with_a_hint():
    with pytest.raises(WrongShape) as info:
        assert_close(np.zeros((3, 2)), np.zeros((2, 3)), CALL)
    assert "axes are swapped" in info.value.hint


@settings(derandomize=True, max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
                  elements=st.floats(-1e6, 1e6, allow_nan=False)))
def test_a_few_ulps_always_pass(expected):
    assert_close(expected * (1 + 4e-16) + 0.0, expected, CALL)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                  elements=st.floats(1e-3, 1e6)), st.floats(1e-6, 10.0))
def test_any_relative_error_above_rtol_fails(expected, rel):
    with pytest.raises(Mismatch) as info:
        assert_close(expected * (1 + rel), expected, CALL)
    assert info.value.n_mismatch == expected.size
    assert info.value.max_rel == pytest.approx(rel, rel=1e-6)


def test_assert_finite_quotes_the_first_bad_input():
    with pytest.raises(NotFinite) as info:
        assert_finite(np.array([0.5, np.nan, np.inf]), CALL, inputs=np.array([0.0, -1000.0, 1000.0]))
    assert info.value.n_bad == 2
    assert "returned nan at x = -1000 (2 of 3 elements are nan or inf)" in str(info.value)


def test_assert_property_fails_as_property_violated_with_its_own_hint():
    with pytest.raises(PropertyViolated) as info:
        assert_property(np.array([1.0, 1.2]), np.ones(2), CALL, what=" summed", hint="normalise")
    assert info.value.hint == "normalise" and " summed: 1 of 2 elements differ" in str(info.value)


@pytest.mark.parametrize("outcome, kind, text", [
    (Outcome("undefined"), CallFailed, "f is not defined."),
    (Outcome("raised", error_type="ZeroDivisionError", error_message="division by zero"), CallFailed,
     "raised ZeroDivisionError: division by zero"),
    (Outcome("timeout", error_message="did not finish within 3 s"), CallFailed, "did not finish in time"),
    (Outcome("crashed", error_message="the process was killed by SIGKILL"), CallFailed, "could not be graded"),
    (Outcome("invalid", error_message="TypeError: result of type str"), WrongShape, "not a number or array"),
    (Outcome("ok", value=(np.zeros(3), np.zeros(3))), WrongShape, "returned a tuple of 2 items"),
    (Outcome("ok", value=np.zeros(4)), WrongShape, "returned shape (4,), expected (3,)"),
])
def test_every_way_a_call_can_fail_has_its_own_message(outcome, kind, text):
    with pytest.raises(kind) as info:
        array_result({CALL.id: outcome}, CALL, (3,))
    assert text in str(info.value)


def test_a_scalar_in_a_one_element_array_gets_a_specific_hint():
    with pytest.raises(WrongShape) as info:
        array_result({CALL.id: Outcome("ok", value=np.zeros(1))}, CALL, ())
    assert "return a scalar" in info.value.hint


def test_tuple_result_checks_count_and_shapes():
    results = {CALL.id: Outcome("ok", value=np.zeros(3))}
    with pytest.raises(WrongShape, match="returned a single array, expected a tuple of 2"):
        tuple_result(results, CALL, [(3,), (3,)])
    results = {CALL.id: Outcome("ok", value=(np.zeros(3), np.zeros(2)))}
    with pytest.raises(WrongShape, match=r"item 1 .* has shape \(2,\), expected \(3,\)"):
        tuple_result(results, CALL, [(3,), (3,)])
    a, b = tuple_result({CALL.id: Outcome("ok", value=(np.ones(3), np.zeros(3)))}, CALL, [(3,), (3,)])
    assert a.sum() == 3 and b.sum() == 0


def test_mutation_and_value_error_checks():
    assert_not_mutated({CALL.id: Outcome("ok", value=np.zeros(3))}, CALL)
    with pytest.raises(CheckFailure, match="modified its input argument 1 in place"):
        assert_not_mutated({CALL.id: Outcome("ok", value=np.zeros(3), mutated=("argument 1",))}, CALL)
    assert_raises_value_error({CALL.id: Outcome("raised", error_type="ValueError", is_value_error=True)}, CALL)
    with pytest.raises(MissingValueError, match="returned normally; it must raise ValueError"):
        assert_raises_value_error({CALL.id: Outcome("ok", value=np.zeros(3))}, CALL)
    with pytest.raises(MissingValueError, match="raised KeyError instead"):
        assert_raises_value_error({CALL.id: Outcome("raised", error_type="KeyError")}, CALL)


def test_each_reports_the_first_failure_and_how_many_more():
    calls = [Call(f"f/{i}", "f", (), {}, "") for i in range(3)]

    def check(call):
        if call.id != "f/0":
            raise Mismatch(f"bad {call.id}")

    with pytest.raises(Mismatch) as info:
        each(calls, check)
    assert str(info.value) == "bad f/1\n  (1 more input(s) of this check fail too.)"


def test_a_failing_criterion_costs_only_its_points():
    def ok(plan, results):
        pass

    def bad(plan, results):
        raise NotFinite("nan", hint="fix it")

    results = run_criteria([Criterion("a", 2, ok), Criterion("b", 3, bad), Criterion("c", 1, ok)], None, {})
    assert [(r.name, r.points, r.passed) for r in results] == [("a", 2, True), ("b", 0, False), ("c", 1, True)]
    assert results[1].message == "nan\n  Hint: fix it"


# --- gates and crash-proof criteria --------------------------------------------------------------
from grader.rubric.runner import CheckError, NotEarned  # noqa: E402
from grader.rubric.gates import Gate, gated, informative  # noqa: E402
from grader.rubric.hints import looks_float32, raised_hint  # noqa: E402
from grader.rubric.exercises import EXERCISES  # noqa: E402
from helpers import namespace_of, run_plan  # noqa: E402

from conftest import GOLDEN  # noqa: E402


def test_a_criterion_whose_check_raises_fails_alone_with_a_message():
    def boom(plan, results):
        return 1 / 0

    results = run_criteria([Criterion("a", 1, lambda p, r: None), Criterion("b", 2, boom),
                            Criterion("c", 1, lambda p, r: None)], None, {})
    assert [(r.name, r.points) for r in results] == [("a", 1), ("b", 0), ("c", 1)]
    assert isinstance(results[1].failure, CheckError)
    assert "could not be checked: ZeroDivisionError" in results[1].message


def test_a_gated_criterion_counts_only_once_its_gate_is_met_and_says_why():
    def unmet(plan, results):
        raise Mismatch("f(x) with x of shape (3,): 3 of 3 elements differ\n  more", hint="look at f")

    calls = []
    gate = Gate("f is right somewhere", lambda p, r: calls.append(1))
    ok, = run_criteria(gated(gate, Criterion("shape", 1, lambda p, r: None)), None, {})
    assert ok.passed and calls == [1]
    bad_gate = Gate("f is right somewhere", unmet)
    a, b = run_criteria(gated(bad_gate, Criterion("shape", 1, lambda p, r: None),
                              Criterion("mutation", 1, lambda p, r: None)), None, {})
    assert not a.passed and not b.passed and isinstance(a.failure, NotEarned)
    assert a.message == ("not awarded yet: this criterion counts once f is right somewhere (f(x) with x of shape "
                         "(3,): 3 of 3 elements differ); the failing criteria above say what to fix.")
    # a gate that raises something else fails its criteria, and only them
    crashing = Gate("g works", lambda p, r: [][1])
    (c,) = run_criteria(gated(crashing, Criterion("shape", 1, lambda p, r: None)), None, {})
    assert not c.passed and "IndexError" in c.message


def test_informative_keys_are_those_no_constant_matches():
    assert not informative(np.zeros(5)) and not informative(np.full(4, 0.25)) and not informative(np.ones(1))
    assert not informative(np.array([1e-14, 3e-13, 0.0]))  # all within atol (1e-12) of 0
    assert informative(np.array([0.0, 1.0])) and informative(np.array(0.2), np.array(0.3))


@pytest.fixture(scope="module")
def solution_runs():
    ns = namespace_of((GOLDEN / "solution.py").read_text())
    out = {}
    with np.errstate(all="ignore"):
        for q, ex in EXERCISES.items():
            plan = ex.plan(0)
            out[q] = (plan, run_plan(plan, ns))
    return out


@pytest.mark.parametrize("q, index", [(q, i) for q, ex in EXERCISES.items() for i in range(len(ex.criteria))])
def test_every_criterion_that_raises_costs_only_itself(q, index, solution_runs):
    plan, outcomes = solution_runs[q]
    criteria = list(EXERCISES[q].criteria)
    victim = criteria[index]

    def raising(plan, results):
        raise RuntimeError("a bug in a check")

    criteria[index] = Criterion(victim.name, victim.points, raising, victim.gate)
    results = run_criteria(criteria, plan, outcomes)
    assert [r.name for r in results if not r.passed] == [victim.name]
    assert "could not be checked: RuntimeError: a bug in a check" in results[index].message
    assert sum(r.points for r in results) == EXERCISES[q].points - victim.points


@pytest.mark.parametrize("q", list(EXERCISES))
def test_a_gate_that_raises_costs_only_the_criteria_behind_it(q, solution_runs):
    plan, outcomes = solution_runs[q]
    gates = {id(c.gate): c.gate for c in EXERCISES[q].criteria if c.gate}
    assert gates, f"{q} has no gated criterion"
    for gate in gates.values():
        broken = Gate(gate.what, lambda p, r: (_ for _ in ()).throw(KeyError("gate bug")))
        criteria = [Criterion(c.name, c.points, c.check, broken if c.gate is gate else c.gate)
                    for c in EXERCISES[q].criteria]
        results = run_criteria(criteria, plan, outcomes)
        assert {r.name for r in results if not r.passed} == {c.name for c in EXERCISES[q].criteria
                                                            if c.gate is gate}


def test_the_float32_hint_needs_float32_values_near_the_key():
    x = np.linspace(-6.0, 6.0, 41)
    expected = 1.0 / (1.0 + np.exp(-x)) * (1.0 - 1.0 / (1.0 + np.exp(-x)))
    s32 = 1 / (1 + np.exp(-x.astype(np.float32)))
    as32 = (s32 * (1 - s32)).astype(np.float64)  # float32 arithmetic: errors of a few 1e-7
    with pytest.raises(Mismatch) as info:
        assert_close(as32, expected, CALL)
    assert "float32" in info.value.hint
    with pytest.raises(Mismatch) as info:  # a real mistake in float64 is not called rounding
        assert_close(expected * (1 + 1e-6), expected, CALL)
    assert "float32" not in info.value.hint
    assert not looks_float32(expected * 2, expected, np.ones(expected.shape, bool))


def test_a_rounded_constant_or_a_float32_step_gets_the_near_miss_hint():
    x = np.linspace(-3.0, 3.0, 41)
    gelu = lambda c: 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x**3)))  # noqa: E731
    expected = gelu(np.sqrt(2.0 / np.pi))
    for c in (float(np.float32(np.sqrt(2.0 / np.pi))), 0.7978846):
        with pytest.raises(Mismatch) as info:
            assert_close(gelu(c), expected, CALL)
        assert "7 significant digits" in info.value.hint and "np.sqrt(2 / np.pi)" in info.value.hint
    gate32 = x * (1.0 / (1.0 + np.exp(-x.astype(np.float32)))).astype(np.float64)  # a float32 gate, float64 product
    with pytest.raises(Mismatch) as info:
        assert_close(gate32, x / (1.0 + np.exp(-x)), CALL)
    assert "7 significant digits" in info.value.hint
    for wrong in (expected * (1 + 1e-6), gelu(0.8)):  # real mistakes are not called rounding
        with pytest.raises(Mismatch) as info:
            assert_close(wrong, expected, CALL)
        assert "significant digits" not in info.value.hint and "float32" not in info.value.hint


@pytest.mark.parametrize("message", [
    "The truth value of an array with more than one element is ambiguous. Use a.any() or a.all()",
    "only length-1 arrays can be converted to Python scalars",
    "only 0-dimensional arrays can be converted to Python scalars",
])
def test_scalar_only_code_on_arrays_gets_a_hint(message):
    assert "one number at a time" in raised_hint("ValueError" if "truth" in message else "TypeError", message)
    out = Outcome("raised", error_type="TypeError", error_message=message)
    with pytest.raises(CallFailed) as info:
        array_result({CALL.id: out}, CALL, (3,))
    assert "np.where" in info.value.hint


def test_other_exceptions_get_no_scalar_hint():
    assert raised_hint("ValueError", "operands could not be broadcast together") == ""
    assert raised_hint("NameError", "name 'np' is not defined") == ""
