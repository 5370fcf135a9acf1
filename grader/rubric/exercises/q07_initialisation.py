"""q7: initialisation variances and ``init_weights(n_in, n_out, scheme, rng)``.

The two variance formulas are compared with the reference values. The weights
are random, so ``init_weights`` is graded by its shape, by reproducibility
(the same seed gives the same array, two seeds give two arrays: this catches
the global ``np.random``) and by statistical tests on two large draws.

Statistical tests and their false-failure probability
----------------------------------------------------------
For a draw of n weights w_1..w_n that are, as the contract asks, independent
N(0, sigma^2) with sigma^2 the scheme's variance, each draw gets three tests,
each of which a correct implementation fails with probability at most
``ALPHA = TOTAL_FALSE_FAILURE / N_STATISTICAL_TESTS``. By the union bound a
correct implementation fails some statistical test of the plan with probability
at most ``TOTAL_FALSE_FAILURE = 1e-6``.

1. Mean, without using sigma, so that a wrong variance costs only test 2. With
   m = mean(w) and s^2 = var(w, ddof=1), m / (s / sqrt(n)) has exactly Student's
   t distribution with n - 1 degrees of freedom. The test rejects when
   |m| > t * s / sqrt(n) with t = F_t^-1(1 - ALPHA / 2), so P(reject) = ALPHA
   exactly. (For these n, t is within 1e-4 of the normal quantile used by a
   z-test with the scheme's sigma; that test would also reject a zero-mean draw
   whose variance is many times too large.)
2. Variance. With s^2 = var(w, ddof=1), (n - 1) s^2 / sigma^2 is exactly
   chi-square with n - 1 degrees of freedom. The test rejects when s^2 lies
   outside sigma^2 * [q(ALPHA / 2), q(1 - ALPHA / 2)] / (n - 1), q the chi2(n - 1)
   quantile function, so P(reject) = ALPHA exactly.
3. Normal shape (not, say, uniform with the right variance), without using
   sigma, so that a wrong variance costs only test 2. With r^2 = mean(w^2), the
   statistic is T = #{i : |w_i| < r}, about 68.3 % of n for a normal sample and
   57.7 % for a uniform one. Its bounds are derived as follows:
   n r^2 / sigma^2 is exactly chi2(n), so r / sigma lies in [c_lo, c_hi],
   c = sqrt(chi2(n) quantile at ALPHA / 4 and 1 - ALPHA / 4, divided by n), except
   with probability ALPHA / 2. On that event
   N_lo = #{|w_i| < c_lo sigma} <= T <= #{|w_i| < c_hi sigma} = N_hi, where
   N_lo ~ Binomial(n, 2 Phi(c_lo) - 1) and N_hi ~ Binomial(n, 2 Phi(c_hi) - 1)
   exactly (c_lo, c_hi are constants). The test rejects when T < t_lo or
   T > t_hi, with t_lo the binomial ALPHA / 4 quantile of N_lo (so
   P(N_lo < t_lo) <= ALPHA / 4) and t_hi the inverse survival function of N_hi at
   ALPHA / 4 (so P(N_hi > t_hi) <= ALPHA / 4). Hence
   P(reject) <= ALPHA / 2 + ALPHA / 4 + ALPHA / 4 = ALPHA.

With n = 120000 the bounds are about +-2.2 % on the variance and
[0.669, 0.696] on T / n, far from every recognised mistake (the closest, 1 / n_in
for Xavier's 2 / (n_in + n_out) at 400 x 300, is 12.5 % off; T / n = 0.577 for a
uniform distribution).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from grader.rubric.checks import PropertyViolated, Results, WrongShape, array_result, assert_close, assert_finite
from grader.rubric.criteria import calls, each_call, known, mistakes, raises_value_error
from grader.rubric.gates import gated, right_somewhere
from grader.rubric.exercise import Exercise
from grader.rubric.probes import Call, Plan, Rng, exercise_rng
from grader.rubric.runner import Criterion
from reference import forward as F

#: (scheme, n_in, n_out) of the large draws graded statistically. n_in != n_out
#: so that fan-in and fan-out give different variances.
#: Neither variance is the square of a round standard deviation (He at n_in = 200 would be 0.1**2, and
#: ``rng.standard_normal(shape) * 0.1`` would pass it without computing anything).
DRAWS = (("xavier", 400, 300), ("he", 300, 400))
FUNC = "init_weights"
#: Tags of the init_weights calls: shapes, the large draws and the reproducibility triples (by scheme), bad schemes.
SHAPES, BAD = "shape", "bad"
DRAWN = tuple(f"draw-{scheme}" for scheme, _, _ in DRAWS)
WEIGHTS = (SHAPES, *DRAWN, "repro-xavier", "repro-he")
TESTS_PER_DRAW = 3
N_STATISTICAL_TESTS = TESTS_PER_DRAW * len(DRAWS)
#: Probability that a correct implementation fails any statistical test of a plan (at most).
TOTAL_FALSE_FAILURE = 1e-6
ALPHA = TOTAL_FALSE_FAILURE / N_STATISTICAL_TESTS

#: Schemes that are not "xavier" or "he" and must raise ValueError.
BAD_SCHEMES = ("bogus", "XAVIER", "")
#: Normal: P(|Z| < 1); uniform with any variance: P(|U| < its standard deviation) = 1 / sqrt(3).
NORMAL_FRACTION = math.erf(1.0 / math.sqrt(2.0))
UNIFORM_FRACTION = 1.0 / math.sqrt(3.0)


@dataclass(frozen=True)
class StandardBounds:
    """Acceptance bounds of the three tests for n standard-normal values (sigma = 1)."""

    n: int
    alpha: float
    mean: float  # |sample mean| <= mean * sample standard deviation
    variance: tuple[float, float]  # s^2 / sigma^2 within
    fraction: tuple[float, float]  # T / n within


@functools.lru_cache(maxsize=None)
def standard_bounds(n: int, alpha: float = ALPHA) -> StandardBounds:
    """The bounds of the module docstring for a draw of n values, each test at level ``alpha``.

    The quantiles come from ``scipy.special`` (the inverses behind ``scipy.stats``'
    norm, chi2 and binom, without the import time of ``scipy.stats``):
    t.isf(q, k) = -stdtrit(k, q), chi2.ppf(q, k) = 2 gammaincinv(k / 2, q),
    chi2.isf(q, k) = 2 gammainccinv(k / 2, q); the binomial quantiles are found by
    bisection on the exact CDF ``bdtr`` and survival function ``bdtrc``.
    """
    from scipy import special

    t = float(-special.stdtrit(n - 1, alpha / 2))
    var_lo = 2.0 * float(special.gammaincinv((n - 1) / 2, alpha / 2)) / (n - 1)
    var_hi = 2.0 * float(special.gammainccinv((n - 1) / 2, alpha / 2)) / (n - 1)
    c_lo = math.sqrt(2.0 * float(special.gammaincinv(n / 2, alpha / 4)) / n)
    c_hi = math.sqrt(2.0 * float(special.gammainccinv(n / 2, alpha / 4)) / n)
    p_lo, p_hi = (math.erf(c / math.sqrt(2.0)) for c in (c_lo, c_hi))
    # binom.ppf: the smallest t with P(N_lo <= t) >= alpha / 4, so P(N_lo < t_lo) < alpha / 4.
    t_lo = _smallest(n, lambda t: float(special.bdtr(t, n, p_lo)) >= alpha / 4)
    # binom.isf: the smallest t with P(N_hi > t) <= alpha / 4.
    t_hi = _smallest(n, lambda t: float(special.bdtrc(t, n, p_hi)) <= alpha / 4)
    return StandardBounds(n, alpha, t / math.sqrt(n), (var_lo, var_hi), (t_lo / n, t_hi / n))


def _smallest(n: int, holds: Callable[[int], bool]) -> int:
    """The smallest t in 0..n for which the monotone predicate ``holds`` is true (n if none)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if holds(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def scheme_variance(scheme: str, n_in: int, n_out: int) -> float:
    return float(F.INIT_VARIANCE[scheme](n_in, n_out))


def _seeds(rng: np.random.Generator, k: int) -> list[int]:
    """k distinct seeds for ``Rng``."""
    seeds: list[int] = []
    while len(seeds) < k:
        s = int(rng.integers(0, 2**31 - 1))
        if s not in seeds:
            seeds.append(s)
    return seeds


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q7")
    p = Plan("q7", seed, [])

    pairs = [(400, 300), (784, 256), (1, 1), (3, 5), (int(rng.integers(1, 1000)), int(rng.integers(1, 1000)))]
    for i, (n_in, n_out) in enumerate(pairs):
        call = Call(f"xavier_variance/{i}", "xavier_variance", (n_in, n_out), tag="formula")
        p.calls.append(call)
        p.expected[call.id] = np.float64(F.xavier_variance(n_in, n_out))
    for i, n_in in enumerate([200, 300, 1, 784, int(rng.integers(1, 1000))]):
        call = Call(f"he_variance/{i}", "he_variance", (n_in,), tag="formula")
        p.calls.append(call)
        p.expected[call.id] = np.float64(F.he_variance(n_in))

    seeds = iter(_seeds(rng, 16))
    for i, (n_in, n_out, scheme) in enumerate([(3, 5, "xavier"), (5, 3, "he"), (1, 7, "he"), (7, 1, "xavier")]):
        p.calls.append(Call(f"init_weights/shape/{i}", FUNC, (n_in, n_out, scheme, Rng(next(seeds))), tag=SHAPES))
    for scheme, n_in, n_out in DRAWS:
        call = Call(f"init_weights/draw/{scheme}", FUNC, (n_in, n_out, scheme, Rng(next(seeds))),
                    label=f"a large draw of {n_in * n_out} weights", tag=f"draw-{scheme}")
        p.calls.append(call)
        p.expected[call.id] = standard_bounds(n_in * n_out)
    for scheme, (n_in, n_out) in (("xavier", (20, 30)), ("he", (30, 20))):
        same, other = next(seeds), next(seeds)
        for tag, s in (("a", same), ("a_again", same), ("b", other)):
            p.calls.append(Call(f"init_weights/repro/{scheme}/{tag}", FUNC, (n_in, n_out, scheme, Rng(s)),
                                tag=f"repro-{scheme}"))
    for i, scheme in enumerate(BAD_SCHEMES):
        p.calls.append(Call(f"init_weights/bad/{i}", FUNC, (4, 3, scheme, Rng(next(seeds))), tag=BAD))
    return p


# --- the variance formulas ---------------------------------------------------------------------
XAVIER_MISTAKES = mistakes(
    (lambda n_in, n_out: 1.0 / (n_in + n_out),
     "this is 1 / (n_in + n_out): Xavier's variance is 2 / (n_in + n_out), the factor 2 is missing."),
    (lambda n_in, n_out: math.sqrt(2.0 / (n_in + n_out)),
     "this is the standard deviation sqrt(2 / (n_in + n_out)); return the variance 2 / (n_in + n_out)."),
    (lambda n_in, n_out: 2.0 / n_in, "this is He's variance 2 / n_in; Xavier's is 2 / (n_in + n_out)."),
    (lambda n_in, n_out: 1.0 / n_in, "this is 1 / n_in; Xavier's variance is 2 / (n_in + n_out)."),
    (lambda n_in, n_out: 2.0 / (n_in * n_out), "divide by the sum n_in + n_out, not the product."),
    (lambda n_in, n_out: (n_in + n_out) / 2.0, "the fraction is upside down: 2 / (n_in + n_out)."),
)
HE_MISTAKES = mistakes(
    (lambda n_in: 1.0 / n_in, "this is 1 / n_in; He's variance is 2 / n_in, the factor 2 is missing."),
    (lambda n_in: math.sqrt(2.0 / n_in),
     "this is the standard deviation sqrt(2 / n_in); return the variance 2 / n_in."),
    (lambda n_in: n_in / 2.0, "the fraction is upside down: 2 / n_in."),
)


FORMULA_MISTAKES = {"xavier_variance": XAVIER_MISTAKES, "he_variance": HE_MISTAKES}


def formula_value(plan: Plan, results: Results, call: Call) -> None:
    got = array_result(results, call, ())
    assert_close(got, plan.expected[call.id], call, mistakes=known(FORMULA_MISTAKES[call.func], *call.args))


# --- init_weights ---------------------------------------------------------------------------------
def _shape(plan: Plan, results: Results, call: Call) -> None:
    array_result(results, call, call.args[:2])


def _draw(results: Results, call: Call) -> np.ndarray:
    """The weights of a statistical draw, flattened: only their number is checked here."""
    n_in, n_out = call.args[:2]
    w = array_result(results, call, None)
    if w.size != n_in * n_out:
        raise WrongShape(f"{call.signature()} returned {w.size} values, expected {n_in * n_out} "
                         f"(shape ({n_in}, {n_out})).", hint="return an array of shape (n_in, n_out).",
                         expected_shape=(n_in, n_out), got_shape=w.shape)
    assert_finite(w, call, hint="weights drawn from a normal distribution are finite: check the scale.")
    return w.ravel()


def _variance_mistakes(scheme: str, n_in: int, n_out: int) -> list[tuple[float, str]]:
    """(variance a known mistake draws with, what it means) for a draw of ``scheme``."""
    v = scheme_variance(scheme, n_in, n_out)
    std_as_var = "you passed the variance as the scale; rng.normal's scale is the standard deviation sqrt(variance)."
    if scheme == "xavier":
        specific = [(1.0 / (n_in + n_out), "the variance is 1 / (n_in + n_out); Xavier's is 2 / (n_in + n_out)."),
                    (2.0 / n_in, "the variance is He's, 2 / n_in; scheme 'xavier' uses 2 / (n_in + n_out)."),
                    (1.0 / n_in, "the variance is 1 / n_in; scheme 'xavier' uses 2 / (n_in + n_out)."),
                    (2.0 / n_out, "the variance is 2 / n_out; scheme 'xavier' uses 2 / (n_in + n_out).")]
    else:
        specific = [(2.0 / n_out, "He's variance uses the fan-in: 2 / n_in, not 2 / n_out."),
                    (1.0 / n_in, "the variance is 1 / n_in; He's is 2 / n_in."),
                    (F.xavier_variance(n_in, n_out), "this is Xavier's variance; scheme 'he' uses 2 / n_in.")]
    return [(v * v, std_as_var)] + specific + [
        (v / 3.0, "the variance is a third of the target: uniform(-s, s) has variance s**2 / 3; draw from a "
                  "normal distribution with standard deviation sqrt(variance)."),
        (1.0, "the weights have variance 1: multiply standard normal draws by sqrt(variance)."),
    ]


NON_NEGATIVE_HINT = ("every weight is >= 0: rng.random()/rng.uniform(0, ...) draw non-negative numbers; the weights "
                     "must be drawn from a normal distribution centred at 0.")


def _accepts(bounds: StandardBounds, var: float, s2: float) -> bool:
    lo, hi = bounds.variance
    return lo * var <= s2 <= hi * var


def mean_of_draw(plan: Plan, results: Results, call: Call) -> None:
    """The sample mean of one large draw is consistent with 0."""
    w, bounds = _draw(results, call), plan.expected[call.id]
    m, s = float(np.mean(w)), float(np.std(w, ddof=1))
    if not s > 0.0 or float(np.ptp(w)) == 0.0:
        raise PropertyViolated(f"{call.describe()}: all {w.size} weights are equal ({m:.6g}); weights drawn "
                               "from a normal distribution differ from each other.",
                               hint="draw them: rng.normal(0.0, np.sqrt(variance), size=(n_in, n_out)).",
                               statistic=m, bounds=(0.0, 0.0))
    limit = bounds.mean * s
    if abs(m) <= limit:
        return
    hint = (NON_NEGATIVE_HINT if np.all(w >= 0) else
            "the weights must have mean 0: rng.normal(0.0, np.sqrt(variance), size=(n_in, n_out)).")
    raise PropertyViolated(
        f"{call.describe()}: the mean of the {w.size} weights is {m:.6g}, outside +-{limit:.3g}, the range "
        f"in which the mean of a zero-mean normal draw with this sample standard deviation ({s:.6g}) falls "
        f"with probability 1 - {bounds.alpha:.2g} (t-statistic {m / s * np.sqrt(w.size):.3g}).",
        hint=hint, statistic=m, bounds=(-limit, limit))


def variance_of_draw(plan: Plan, results: Results, call: Call) -> None:
    """The sample variance of one large draw is consistent with the scheme's variance."""
    n_in, n_out, scheme = call.args[:3]
    w, bounds = _draw(results, call), plan.expected[call.id]
    v = scheme_variance(scheme, n_in, n_out)
    s2 = float(np.var(w, ddof=1))
    if _accepts(bounds, v, s2):
        return
    hint = next((meaning for wrong, meaning in _variance_mistakes(scheme, n_in, n_out)
                 if _accepts(bounds, wrong, s2)), "")
    if not hint and np.all(w >= 0):
        hint = NON_NEGATIVE_HINT
    lo, hi = (b * v for b in bounds.variance)
    raise PropertyViolated(
        f"{call.describe()}: the sample variance of the {w.size} weights is {s2:.6g}, outside "
        f"[{lo:.6g}, {hi:.6g}], the range in which it falls with probability 1 - {bounds.alpha:.2g} for "
        f"the variance of scheme {scheme!r}, {v:.6g} (ratio {s2 / v:.4g}).",
        hint=hint, statistic=s2, bounds=(lo, hi))


#: Shape, mean, normality, reproducibility and ValueError are true of rng.standard_normal(shape) * 0.1 or of a
#: function that raises on every scheme: they count once init_weights draws with a right variance.
VARIANCE_RIGHT = right_somewhere("init_weights draws with the right variance for at least one scheme",
                                 lambda plan: [[c] for c in plan.select(func=FUNC, tags=DRAWN)], variance_of_draw)


def within_rms_fraction(w: np.ndarray) -> float:
    """T / n of the module docstring: the fraction of |w_i| below the root mean square."""
    rms = math.sqrt(float(np.mean(np.square(w))))
    return float(np.count_nonzero(np.abs(w) < rms)) / w.size


def normal_draw(plan: Plan, results: Results, call: Call) -> None:
    """The weights of one large draw are normally distributed (the third test of the module docstring)."""
    w, bounds = _draw(results, call), plan.expected[call.id]
    frac = within_rms_fraction(w)
    lo, hi = bounds.fraction
    if lo <= frac <= hi:
        return
    hint = ("the values look uniformly distributed (57.7 % of a uniform sample lies within one standard "
            "deviation): draw from a normal distribution, rng.normal or rng.standard_normal."
            if abs(frac - UNIFORM_FRACTION) < 0.02 else
            "the values are not normally distributed: draw with rng.normal(0.0, np.sqrt(variance), size) "
            "or rng.standard_normal(size) * np.sqrt(variance).")
    raise PropertyViolated(
        f"{call.describe()}: {100 * frac:.2f} % of the weights lie within one root-mean-square of 0, "
        f"outside [{100 * lo:.2f} %, {100 * hi:.2f} %], where a zero-mean normal draw lies with "
        f"probability 1 - {bounds.alpha:.2g} (about {100 * NORMAL_FRACTION:.1f} %).",
        hint=hint, statistic=frac, bounds=(lo, hi))


def reproducible(plan: Plan, results: Results) -> None:
    """Each triple (seed s, seed s again, another seed) gives the same weights twice, then others."""
    for scheme in ("xavier", "he"):
        a, a_again, b = plan.select(func=FUNC, tags=f"repro-{scheme}")
        wa, wa2, wb = (array_result(results, c, None) for c in (a, a_again, b))
        if wa.shape != wa2.shape or not np.array_equal(wa, wa2):
            raise PropertyViolated(
                f"{a.signature()} gave different weights in two calls, each with a new generator of the same "
                "seed.", hint="draw only from the rng argument (rng.normal, rng.standard_normal); never from "
                              "np.random.* or np.random.default_rng() without a seed.")
        if wa.shape == wb.shape and np.array_equal(wa, wb):
            raise PropertyViolated(
                f"{a.signature()} and {b.signature()} gave identical weights although their seeds differ.",
                hint="use the rng argument; do not create a generator with a fixed seed inside the function.")


EXERCISE = Exercise(
    id="q7",
    title="Initialisation variances",
    points=8,
    names=("xavier_variance", "he_variance", "init_weights"),
    plan=plan,
    criteria=(
        each_call("xavier_variance(n_in, n_out) = 2 / (n_in + n_out)", 1, calls("xavier_variance"), formula_value),
        each_call("he_variance(n_in) = 2 / n_in", 1, calls("he_variance"), formula_value),
        each_call("init_weights(..., 'xavier', rng): the sample variance is consistent with 2 / (n_in + n_out)", 1,
                  calls(FUNC, "draw-xavier"), variance_of_draw),
        each_call("init_weights(..., 'he', rng): the sample variance is consistent with 2 / n_in", 1,
                  calls(FUNC, "draw-he"), variance_of_draw),
        *gated(VARIANCE_RIGHT,
               each_call("init_weights returns shape (n_in, n_out)", 1, calls(FUNC, WEIGHTS), _shape),
               each_call("init_weights: the sample mean is consistent with 0", 1, calls(FUNC, DRAWN), mean_of_draw),
               each_call("init_weights: the weights are normally distributed", 1, calls(FUNC, DRAWN), normal_draw),
               Criterion("init_weights draws only from its rng: same seed, same weights; other seed, other weights",
                         0.5, reproducible),
               raises_value_error("init_weights raises ValueError for a scheme other than 'xavier' or 'he'", 0.5,
                                  calls(FUNC, BAD))),
    ),
)
