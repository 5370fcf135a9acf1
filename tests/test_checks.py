"""The checks themselves: they fail on wrong answers, pass right ones, and say what is wrong."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.checks import (CallFailed, CheckFailure, Criterion, Mismatch, MissingValueError, NotFinite, Outcome,
                           PropertyViolated, WrongShape, array_result, assert_close, assert_finite,
                           assert_not_mutated, assert_property, assert_raises_value_error, each, run_criteria,
                           tuple_result)
from grader.probes import Call

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
        "(rtol=1e-07, atol=1e-10).\n"
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
