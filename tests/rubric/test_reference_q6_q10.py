"""The answer keys of q6-q10 against closed forms and finite differences, and q7's statistics.

The keys in ``reference.keys`` come from autograd; the closed forms below are
written here, in the tests only, to check them. Finite differences are central
(error O(eps**2)) and taken away from the kinks of ReLU and PReLU.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from grader.rubric.exercises import EXERCISES
from grader.rubric.exercises import q10_deep_gradients as q10
from grader.rubric.exercises import q07_initialisation as q7
from grader.rubric.probes import EDGE_VALUES, shapes_of_every_rank
from grader.rubric.checks import Outcome
from grader.rubric.runner import run_criteria
from reference import forward as F
from reference import keys

EPS = 1e-6
FD_TOL = dict(rtol=1e-5, atol=1e-8)


def cases(seed: int = 0, scale: float = 3.0):
    """(a, b, grad_out) triples of every rank, in the style of autograd's test_util loops."""
    rng = np.random.default_rng(seed)
    for shape in shapes_of_every_rank(rng) + [(16, 8)]:
        yield tuple(rng.normal(0.0, scale, size=shape) for _ in range(3))


# --- q6: glu ------------------------------------------------------------------------------------
def glu_closed_form(a, b, g):
    """(g * s, g * a * s * (1 - s)) with s = sigmoid(b); 1 - s is computed as sigmoid(-b), without cancellation."""
    s = special.expit(b)
    return g * s, g * a * s * special.expit(-b)


def test_glu_backward_key_equals_the_closed_form():
    for a, b, g in cases():
        for got, want in zip(keys.glu_backward(a, b, g), glu_closed_form(a, b, g)):
            assert got.shape == np.shape(a)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_glu_backward_key_is_finite_and_exact_at_the_edge_values():
    b = EDGE_VALUES
    a, g = np.linspace(-2.0, 2.0, b.size), np.linspace(1.0, 3.0, b.size)
    grad_a, grad_b = keys.glu_backward(a, b, g)
    assert np.isfinite(grad_a).all() and np.isfinite(grad_b).all()
    np.testing.assert_allclose(grad_a, glu_closed_form(a, b, g)[0], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad_b, glu_closed_form(a, b, g)[1], rtol=1e-12, atol=1e-300)
    assert np.isfinite(F.glu(EDGE_VALUES, EDGE_VALUES[::-1])).all()


def test_glu_backward_key_equals_central_differences():
    for a, b, g in cases(seed=1, scale=2.0):
        grad_a, grad_b = keys.glu_backward(a, b, g)
        fd_a = g * (F.glu(a + EPS, b) - F.glu(a - EPS, b)) / (2 * EPS)  # glu is elementwise
        fd_b = g * (F.glu(a, b + EPS) - F.glu(a, b - EPS)) / (2 * EPS)
        np.testing.assert_allclose(grad_a, fd_a, **FD_TOL)
        np.testing.assert_allclose(grad_b, fd_b, **FD_TOL)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(a=st.floats(-1e3, 1e3), b=st.floats(-1e3, 1e3), g=st.floats(-10, 10))
def test_glu_backward_key_equals_the_closed_form_for_any_scalar(a, b, g):
    got = keys.glu_backward(np.array(a), np.array(b), np.array(g))
    for value, want in zip(got, glu_closed_form(a, b, g)):
        assert value.shape == () and np.isfinite(value)
        np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-300)


# --- q9: PReLU ----------------------------------------------------------------------------------
ALPHAS = (0.25, 0.01, 0.0, -0.2, 0.7)


def prelu_closed_form(x, alpha, g):
    return g * np.where(x > 0, 1.0, alpha), float(np.sum(g * np.where(x > 0, 0.0, x)))


def test_prelu_backward_key_equals_the_closed_form_including_exact_zeros():
    rng = np.random.default_rng(2)
    inputs = [x for x, _, _ in cases(seed=2)] + [EDGE_VALUES, np.zeros((3, 4)), np.array(0.0),
                                                  rng.integers(-2, 3, size=(6, 5)).astype(float)]
    for x in inputs:
        g = rng.normal(size=np.shape(x))
        for alpha in ALPHAS:
            grad_x, grad_alpha = keys.prelu_backward(x, alpha, g)
            want_x, want_alpha = prelu_closed_form(x, alpha, g)
            assert grad_x.shape == np.shape(x) and isinstance(grad_alpha, float)
            np.testing.assert_allclose(grad_x, want_x, rtol=1e-15, atol=0)
            np.testing.assert_allclose(grad_alpha, want_alpha, rtol=1e-12, atol=1e-12)


def test_prelu_backward_key_has_slope_alpha_at_zero():
    for alpha in ALPHAS:
        grad_x, grad_alpha = keys.prelu_backward(np.zeros(5), alpha, np.full(5, 2.0))
        np.testing.assert_array_equal(grad_x, np.full(5, 2.0 * alpha))
        assert grad_alpha == 0.0


def test_prelu_backward_key_equals_central_differences_away_from_the_kink():
    for x, _, g in cases(seed=3):
        x = np.where(np.abs(x) < 1e-3, 1.0, x)  # keep the kink out of [x - eps, x + eps]
        for alpha in ALPHAS:
            grad_x, grad_alpha = keys.prelu_backward(x, alpha, g)
            fd_x = g * (F.prelu(x + EPS, alpha) - F.prelu(x - EPS, alpha)) / (2 * EPS)
            fd_alpha = np.sum(g * (F.prelu(x, alpha + EPS) - F.prelu(x, alpha - EPS))) / (2 * EPS)
            np.testing.assert_allclose(grad_x, fd_x, **FD_TOL)
            np.testing.assert_allclose(grad_alpha, fd_alpha, **FD_TOL)


# --- q8: dead units -------------------------------------------------------------------------------
def dead_units_by_counting(preacts, threshold):
    n_samples, n_units = preacts.shape
    return np.array([sum(preacts[i, j] > 0 for i in range(n_samples)) < threshold * n_samples
                     for j in range(n_units)])


def test_dead_relu_key_equals_counting_on_every_planned_input():
    for seed in range(5):
        plan = EXERCISES["q8"].plan(seed)
        for call in plan.calls:
            want = dead_units_by_counting(call.args[0], call.kwargs.get("threshold", 0.01))
            np.testing.assert_array_equal(plan.expected[call.id], want)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(n_samples=st.integers(1, 300), positives=st.lists(st.integers(0, 300), min_size=1, max_size=6),
       threshold=st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.5]))
def test_dead_relu_key_is_strictly_below_the_threshold(n_samples, positives, threshold):
    counts = [min(k, n_samples) for k in positives]
    preacts = np.array([[1.0 if i < k else (0.0 if i % 2 else -1.0) for k in counts] for i in range(n_samples)])
    want = np.array([k / n_samples < threshold for k in counts])
    np.testing.assert_array_equal(F.dead_relu_units(preacts, threshold), want)


# --- q10: per-layer gradient norms ----------------------------------------------------------------
def backprop_closed_form(weights, x, y, activation):
    """Hand-written backward pass, for the test only: d loss / d W for every layer."""
    act = {"sigmoid": special.expit, "relu": lambda z: np.where(z > 0, z, 0.0)}[activation]
    hs, zs = [x], []
    for W in weights[:-1]:
        zs.append(hs[-1] @ W)
        hs.append(act(zs[-1]))
    delta = (hs[-1] @ weights[-1] - y) / x.shape[0]
    grads = [hs[-1].T @ delta]
    for layer in range(len(weights) - 2, -1, -1):
        h = hs[layer + 1]
        local = h * (1.0 - h) if activation == "sigmoid" else (zs[layer] > 0).astype(float)
        delta = (delta @ weights[layer + 1].T) * local
        grads.insert(0, hs[layer].T @ delta)
    return grads


def test_layer_gradient_keys_equal_the_closed_form_on_every_planned_network():
    for seed in range(3):
        plan = EXERCISES["q10"].plan(seed)
        for call in plan.calls:
            if call.id not in plan.expected:
                continue
            weights, x, y, activation = call.args
            for got, want in zip(keys.weight_gradients(weights, x, y, activation),
                                 backprop_closed_form(weights, x, y, activation)):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)
            norms = [np.sqrt(np.sum(g**2)) for g in backprop_closed_form(weights, x, y, activation)]
            np.testing.assert_allclose(plan.expected[call.id], norms, rtol=1e-10, atol=1e-300)


def test_layer_gradient_keys_equal_central_differences():
    rng = np.random.default_rng(4)
    for activation in ("sigmoid", "relu"):
        for depth in (1, 2, 3):
            widths = [int(n) for n in rng.integers(2, 5, size=depth + 1)]
            weights = [rng.normal(size=(a, b)) for a, b in zip(widths[:-1], widths[1:])]
            x, y = rng.normal(size=(4, widths[0])), rng.normal(size=(4, widths[-1]))
            h = x
            for W in weights[:-1]:  # the relu kink stays out of reach of eps
                assert np.min(np.abs(h @ W)) > 1e-4
                h = F.ACTIVATIONS[activation](h @ W)
            grads = keys.weight_gradients(weights, x, y, activation)
            for layer, W in enumerate(weights):
                fd = np.zeros_like(W)
                for idx in np.ndindex(W.shape):
                    plus = [w.copy() for w in weights]
                    minus = [w.copy() for w in weights]
                    plus[layer][idx] += EPS
                    minus[layer][idx] -= EPS
                    fd[idx] = (F.mlp_loss(plus, x, y, activation) - F.mlp_loss(minus, x, y, activation)) / (2 * EPS)
                np.testing.assert_allclose(grads[layer], fd, **FD_TOL)


def test_the_kink_case_pins_relu_derivative_zero_at_zero():
    for seed in range(20):
        call = EXERCISES["q10"].plan(seed).call("layer_gradient_norms/relu/kink")
        weights, x, y, _ = call.args
        key = keys.layer_gradient_norms(weights, x, y, "relu")
        wrong = q10.relu_at_zero_one_norms(weights, x, y, "relu")
        assert np.max(np.abs(wrong - key) / key) > q10.KINK_EFFECT


def test_the_deep_keys_show_vanishing_sigmoid_and_healthy_relu_gradients():
    ratios = {"sigmoid": [], "relu": []}
    for seed in range(60):
        plan = EXERCISES["q10"].plan(seed)
        for activation in ratios:
            norms = plan.expected[f"layer_gradient_norms/{activation}/deep"]
            ratios[activation].append(norms[0] / norms[-1])
    assert max(ratios["sigmoid"]) < q10.VANISHING_RATIO / 10
    assert min(ratios["relu"]) > q10.HEALTHY_RATIO * 10


def test_an_unknown_activation_has_no_key():
    with pytest.raises(ValueError):
        keys.layer_gradient_norms([np.eye(2), np.eye(2)], np.ones((3, 2)), np.ones((3, 2)), "tanh")


# --- q7: variances and the statistical bounds -------------------------------------------------------
def test_variance_keys_equal_the_formulas():
    for n_in, n_out in [(1, 1), (3, 5), (400, 300), (784, 256)]:
        assert F.xavier_variance(n_in, n_out) == 2.0 / (n_in + n_out)
        assert F.he_variance(n_in) == 2.0 / n_in
        assert q7.scheme_variance("he", n_in, n_out) == 2.0 / n_in


def normality_pieces(n: int, alpha: float):
    """c_lo, c_hi, p_lo, p_hi, t_lo, t_hi of the normal-shape test, from scipy.stats."""
    c_lo = math.sqrt(stats.chi2.ppf(alpha / 4, n) / n)
    c_hi = math.sqrt(stats.chi2.isf(alpha / 4, n) / n)
    p_lo, p_hi = 2 * stats.norm.cdf(c_lo) - 1, 2 * stats.norm.cdf(c_hi) - 1
    return c_lo, c_hi, p_lo, p_hi, stats.binom.ppf(alpha / 4, n, p_lo), stats.binom.isf(alpha / 4, n, p_hi)


@pytest.mark.parametrize("n", [50, 1000, 100000, 120000])
def test_the_bounds_are_the_scipy_stats_quantiles(n):
    b = q7.standard_bounds(n)
    a = q7.ALPHA
    assert b.mean == pytest.approx(stats.t.isf(a / 2, n - 1) / math.sqrt(n), rel=1e-9)
    assert b.variance[0] == pytest.approx(stats.chi2.ppf(a / 2, n - 1) / (n - 1), rel=1e-9)
    assert b.variance[1] == pytest.approx(stats.chi2.isf(a / 2, n - 1) / (n - 1), rel=1e-9)
    *_, t_lo, t_hi = normality_pieces(n, a)
    assert b.fraction == (t_lo / n, t_hi / n)


def false_failure_probabilities(n: int) -> tuple[float, float, float]:
    """P(a correct draw of n values fails the mean, the variance, the normal-shape test), from the bounds."""
    b = q7.standard_bounds(n)
    # mean: m / (s / sqrt(n)) ~ t(n - 1), rejected beyond b.mean * sqrt(n)
    p_mean = 2 * stats.t.sf(b.mean * math.sqrt(n), n - 1)
    # variance: (n - 1) s^2 / sigma^2 ~ chi2(n - 1)
    p_var = stats.chi2.cdf(b.variance[0] * (n - 1), n - 1) + stats.chi2.sf(b.variance[1] * (n - 1), n - 1)
    # normal shape: union bound of the module docstring
    c_lo, c_hi, p_lo, p_hi, _, _ = normality_pieces(n, b.alpha)
    t_lo, t_hi = round(b.fraction[0] * n), round(b.fraction[1] * n)
    p_shape = (stats.chi2.cdf(c_lo**2 * n, n) + stats.chi2.sf(c_hi**2 * n, n)
               + stats.binom.cdf(t_lo - 1, n, p_lo) + stats.binom.sf(t_hi, n, p_hi))
    return p_mean, p_var, p_shape


def test_a_correct_implementation_fails_some_statistical_test_with_probability_below_one_in_a_million():
    total = 0.0
    for scheme, n_in, n_out in q7.DRAWS:
        p_mean, p_var, p_shape = false_failure_probabilities(n_in * n_out)
        assert p_mean == pytest.approx(q7.ALPHA, rel=1e-6)
        assert p_var == pytest.approx(q7.ALPHA, rel=1e-6)
        assert p_shape <= q7.ALPHA
        total += p_mean + p_var + p_shape
    assert q7.N_STATISTICAL_TESTS == 3 * len(q7.DRAWS)
    assert total <= q7.TOTAL_FALSE_FAILURE == 1e-6


def test_every_recognised_variance_mistake_passes_the_variance_test_with_negligible_probability():
    for scheme, n_in, n_out in q7.DRAWS:
        n = n_in * n_out
        b = q7.standard_bounds(n)
        v = q7.scheme_variance(scheme, n_in, n_out)
        for wrong, _ in q7._variance_mistakes(scheme, n_in, n_out):
            # s^2 = wrong * chi2(n - 1) / (n - 1); P(it lands inside the acceptance band of v)
            lo, hi = (f * v / wrong * (n - 1) for f in b.variance)
            assert stats.chi2.cdf(hi, n - 1) - stats.chi2.cdf(lo, n - 1) < 1e-12, (scheme, wrong)


def test_a_uniform_draw_with_the_right_variance_is_far_outside_the_normal_band():
    for scheme, n_in, n_out in q7.DRAWS:
        lo, _ = q7.standard_bounds(n_in * n_out).fraction
        # T / n of a uniform sample concentrates at 1 / sqrt(3) with sd about sqrt(p(1-p)/n) ~ 0.0015
        assert lo - q7.UNIFORM_FRACTION > 40 * math.sqrt(0.25 / (n_in * n_out))
        rng = np.random.default_rng(0)
        for _ in range(5):
            w = rng.uniform(-1.0, 1.0, size=n_in * n_out)
            assert q7.within_rms_fraction(w) < lo


def test_a_correct_draw_passes_the_statistical_tests_for_200_seeds():
    """The three statistical criteria on the plan's draws, made as a correct implementation makes them."""
    exercise = EXERCISES["q7"]
    # the variance is graded per scheme (two criteria), mean and normality for both draws
    statistical = [c for c in exercise.criteria
                   if any(k in c.name for k in ("sample mean", "sample variance", "normally distributed"))]
    assert len(statistical) == 4
    for seed in range(200):
        plan = exercise.plan(seed)
        outcomes = {}
        for call in plan.calls:
            if call.id.startswith("init_weights/draw/"):
                n_in, n_out, scheme, rng = call.args
                weights = np.random.default_rng(rng.seed).normal(
                    0.0, math.sqrt(q7.scheme_variance(scheme, n_in, n_out)), size=(n_in, n_out))
                outcomes[call.id] = Outcome("ok", value=weights, source_dtype="float64")
        assert all(r.passed for r in run_criteria(statistical, plan, outcomes)), seed
