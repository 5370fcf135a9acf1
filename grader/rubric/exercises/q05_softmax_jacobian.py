"""q5: the Jacobian of softmax, given the probabilities s = softmax(z)."""
from __future__ import annotations

import numpy as np

from grader.rubric.checks import PropertyViolated, Results, WrongShape, array_result, assert_close, assert_finite, assert_property
from grader.rubric.criteria import calls, each_call, known, mistakes, unmutated, works
from grader.rubric.exercise import Exercise
from grader.rubric.gates import gated
from grader.rubric.probes import Call, Plan, exercise_rng
from reference import forward as F
from reference import keys

FUNC = "softmax_jacobian"
RANDOM = ("n2", "small", "n10")
PEAKED = ("peaked",)
PEAK = 20.0  # the other probabilities are ~exp(-20) ~ 2e-9: small, but far above atol
#: Smallest eigenvalue of (J + J^T) / 2 still counted as >= 0. The exact J has eigenvalues >= 0 (one is exactly
#: 0, for the vector of ones); rounding moves them by ~n * eps * max|J| < 1e-14, and a sign-flipped J has an
#: eigenvalue below -1e-9 on every probe, the peaked one included.
PSD_TOL = 1e-10
FINITE_HINT = "J is built from s alone, s_i * (delta_ij - s_j), and is finite for every probability vector s."


def add_call(plan: Plan, tag: str, z: np.ndarray, label: str) -> Call:
    """Append ``softmax_jacobian(softmax(z))`` with the autograd Jacobian of softmax at z as its answer."""
    s = np.asarray(F.softmax(z), dtype=np.float64)
    call = Call(f"{FUNC}/{tag}", FUNC, (s,), {}, label, tag=tag)
    plan.calls.append(call)
    plan.expected[call.id] = keys.softmax_jacobian_at_logits(z)
    return call


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q5")
    p = Plan("q5", seed, [])
    for tag, n in [("n2", 2), ("small", int(rng.integers(3, 7))), ("n10", int(rng.integers(8, 13)))]:
        add_call(p, tag, rng.normal(0.0, 2.0, n), f"s = softmax(z) for {n} logits z, normal with std 2")
    n = int(rng.integers(4, 9))
    z = rng.normal(0.0, 1.0, n)
    z[rng.integers(n)] += PEAK
    add_call(p, "peaked", z, f"s = softmax(z) for {n} logits, one of them {PEAK:g} above the others "
                             "(one probability near 1, the others ~1e-9)")
    return p


def jacobian(results: Results, call: Call) -> np.ndarray:
    """The (n, n) result; a vector of n values gets a hint that the whole matrix is asked for."""
    n = call.args[0].shape[0]
    try:
        return array_result(results, call, (n, n))
    except WrongShape as failure:
        if failure.fields.get("got_shape") == (n,):
            raise WrongShape(failure.message, hint="this is one value per class: return the whole (n, n) matrix "
                             "J[i, j] = s_i * (delta_ij - s_j), not only its diagonal.", **failure.fields) from None
        raise


def _finite_jacobian(results: Results, call: Call) -> np.ndarray:
    J = jacobian(results, call)
    assert_finite(J, call, hint=FINITE_HINT)
    return J


MISTAKES = mistakes(
    (lambda s: np.diag(s), "this is diag(s): subtract the outer product, J = diag(s) - np.outer(s, s)."),
    (lambda s: np.outer(s, s) - np.diag(s),
     "the sign is flipped: J = diag(s) - np.outer(s, s), not np.outer(s, s) - diag(s)."),
    (lambda s: np.outer(s, 1.0 - s),
     "this is s_i * (1 - s_j) everywhere: 1 - s_j belongs on the diagonal only (delta_ij - s_j); "
     "off the diagonal J[i, j] = -s_i * s_j."),
    (lambda s: np.diag(s * (1.0 - s)), "only the diagonal is filled: off the diagonal J[i, j] = -s_i * s_j."),
    (lambda s: -np.outer(s, s), "diag(s) is missing: J = diag(s) - np.outer(s, s)."),
    (lambda s: np.diag(s) - np.dot(s, s),
     "np.dot(s, s) (or s @ s.T) is a number, the inner product of a 1-d s with itself; "
     "the outer product is np.outer(s, s)."),
    (lambda s: np.diag(s) - s * s.T,
     "s * s.T is elementwise for a 1-d s (s.T is s itself); the outer product is np.outer(s, s)."),
)


def _one_value(plan: Plan, results: Results, call: Call) -> None:
    assert_close(jacobian(results, call), plan.expected[call.id], call, mistakes=known(MISTAKES, *call.args))


def _shape(plan: Plan, results: Results, call: Call) -> None:
    jacobian(results, call)


def _symmetric(plan: Plan, results: Results, call: Call) -> None:
    J = _finite_jacobian(results, call)
    assert_property(J, J.T, call, what=" compared with its transpose",
                    hint="J[i, j] = -s_i * s_j = J[j, i] off the diagonal: J must be symmetric.")


def _rows_sum_to_zero(plan: Plan, results: Results, call: Call) -> None:
    sums = _finite_jacobian(results, call).sum(axis=1)
    assert_property(sums, np.zeros_like(sums), call, what=" summed along each row",
                    hint="every row sums to s_i * (1 - sum_j s_j) = 0: the diagonal is s_i * (1 - s_i), "
                         "the rest of row i is -s_i * s_j.")


def _positive_semidefinite(plan: Plan, results: Results, call: Call) -> None:
    J = _finite_jacobian(results, call)
    lowest = float(np.linalg.eigvalsh((J + J.T) / 2.0)[0])
    if lowest < -PSD_TOL:
        raise PropertyViolated(
            f"{call.describe()}: the smallest eigenvalue of (J + J^T) / 2 is {lowest:.3g}; a positive "
            f"semi-definite J has none below 0 (tolerance {PSD_TOL:g}).",
            hint="x^T J x = sum_i s_i x_i^2 - (s . x)^2 >= 0 for every x; a negative eigenvalue usually "
                 "means the sign is flipped: J = diag(s) - np.outer(s, s).",
            min_eigenvalue=lowest)


#: Shape, symmetry, zero row sums, PSD, the peaked s and "not modified" are true of J = 0 or J = eye:
#: they count once J is right for some random s.
WORKS = works("softmax_jacobian is right for at least one random s", calls(FUNC, RANDOM), _one_value)

EXERCISE = Exercise(
    id="q5",
    title="Softmax Jacobian",
    points=10,
    names=(FUNC,),
    plan=plan,
    criteria=(
        each_call("softmax_jacobian matches d softmax(z)_i / d z_j for random z with n = 2", 1.0, calls(FUNC, "n2"),
                  _one_value),
        each_call("softmax_jacobian matches d softmax(z)_i / d z_j for random z with n = 3 to 6", 1.5,
                  calls(FUNC, "small"), _one_value),
        each_call("softmax_jacobian matches d softmax(z)_i / d z_j for random z with n = 8 to 12", 1.5,
                  calls(FUNC, "n10"), _one_value),
        *gated(WORKS,
               each_call("softmax_jacobian is accurate for a peaked s (one probability near 1)", 1.0,
                         calls(FUNC, PEAKED), _one_value),
               each_call("softmax_jacobian returns an (n, n) matrix for s of shape (n,)", 1.0, calls(FUNC), _shape),
               each_call("J is symmetric", 1.0, calls(FUNC), _symmetric),
               each_call("the rows of J sum to 0", 1.0, calls(FUNC), _rows_sum_to_zero),
               each_call("J is positive semi-definite", 1.0, calls(FUNC), _positive_semidefinite)),
        unmutated("inputs are not modified", 1.0, calls(FUNC), WORKS),
    ),
)
