"""The answer keys of q2-q5 against closed forms (written here only) and central finite differences.

In the manner of autograd's ``test_util.check_grads``: every key is compared with a numerical derivative of
the reference forward function, over a loop of cases, at points away from kinks.
"""
from __future__ import annotations

import numpy as np
import pytest

from grader.rubric.probes import EDGE_VALUES
from reference import forward as F
from reference import keys

EPS = 1e-6  # central differences: truncation ~EPS**2 * f''', rounding ~1e-16 / EPS; both far below FD_RTOL
FD_RTOL, FD_ATOL = 1e-6, 1e-8
# Closed form against key: a few ulps of the terms before cancellation (1 + tanh(u) for u << 0, s - s**2 near 1)
CF_RTOL, CF_ATOL = 1e-12, 1e-14


def central_difference(f, x: np.ndarray) -> np.ndarray:
    """Elementwise d f / d x for an elementwise f."""
    return (np.asarray(f(x + EPS)) - np.asarray(f(x - EPS))) / (2 * EPS)


def numerical_jacobian(f, x: np.ndarray) -> np.ndarray:
    """J[i, j] = d f_i / d x_j by central differences, one column per unit vector."""
    columns = [(np.asarray(f(x + EPS * e)) - np.asarray(f(x - EPS * e))) / (2 * EPS) for e in np.eye(x.size)]
    return np.stack(columns, axis=-1)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _gelu_prime(x):
    c, k = np.sqrt(2.0 / np.pi), 0.044715
    t = np.tanh(c * (x + k * x ** 3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t ** 2) * c * (1.0 + 3.0 * k * x ** 2)


# (key, forward, closed form of the derivative, parameters)
ELEMENTWISE = {
    "relu": (keys.relu_derivative, F.relu, lambda x: (x > 0).astype(float), {}),
    "leaky_relu": (keys.leaky_relu_derivative, F.leaky_relu, lambda x: np.where(x > 0, 1.0, 0.01), {}),
    "leaky_relu alpha=0.2": (keys.leaky_relu_derivative, F.leaky_relu,
                             lambda x: np.where(x > 0, 1.0, 0.2), {"alpha": 0.2}),
    "elu": (keys.elu_derivative, F.elu, lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))), {}),
    "elu alpha=0.5": (keys.elu_derivative, F.elu,
                      lambda x: np.where(x > 0, 1.0, 0.5 * np.exp(np.minimum(x, 0.0))), {"alpha": 0.5}),
    "gelu": (keys.gelu_derivative, F.gelu, _gelu_prime, {}),
    "silu": (keys.silu_derivative, F.silu, lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x))), {}),
}


@pytest.mark.parametrize("case", ELEMENTWISE, ids=list(ELEMENTWISE))
def test_elementwise_keys_match_their_closed_form_and_finite_differences(case):
    key, forward, closed, params = ELEMENTWISE[case]
    rng = np.random.default_rng(0)
    for scale in (0.1, 1.0, 4.0, 20.0):
        x = rng.normal(0.0, scale, 200)
        x = x[np.abs(x) > 1e-3]  # away from the kink at 0
        got = key(x, **params)
        np.testing.assert_allclose(got, closed(x), rtol=CF_RTOL, atol=CF_ATOL, err_msg=f"{case}, scale {scale}")
        numeric = central_difference(lambda t: forward(t, **params), x)
        np.testing.assert_allclose(got, numeric, rtol=FD_RTOL, atol=FD_ATOL, err_msg=f"{case}, scale {scale}")


@pytest.mark.parametrize("case", ELEMENTWISE, ids=list(ELEMENTWISE))
def test_elementwise_keys_are_finite_and_follow_the_contract_at_the_edge_values(case):
    key, _, closed, params = ELEMENTWISE[case]
    with np.errstate(over="ignore"):
        got = key(EDGE_VALUES, **params)
    assert np.all(np.isfinite(got))
    # the closed forms pick the contract's branch at 0: relu' = 0, leaky' = alpha, elu' = alpha
    np.testing.assert_allclose(got, closed(EDGE_VALUES), rtol=CF_RTOL, atol=CF_ATOL)


def test_elementwise_keys_keep_every_shape_including_0d():
    for shape in [(), (3,), (2, 3), (2, 3, 4)]:
        x = np.random.default_rng(1).normal(size=shape)
        for key, _, _, params in ELEMENTWISE.values():
            assert np.shape(key(x, **params)) == shape


@pytest.mark.parametrize("d, h, o", [(3, 5, 2), (1, 4, 3), (6, 3, 1), (12, 17, 9), (2, 2, 2)])
def test_collapse_affine_key_is_the_product_of_the_layers_and_their_numerical_jacobian(d, h, o):
    rng = np.random.default_rng(d * 100 + h * 10 + o)
    W1, b1, W2, b2 = rng.normal(size=(h, d)), rng.normal(size=h), rng.normal(size=(o, h)), rng.normal(size=o)
    A, c = keys.collapse_affine(W1, b1, W2, b2)
    assert A.shape == (o, d) and c.shape == (o,)
    np.testing.assert_allclose(A, W2 @ W1, rtol=CF_RTOL, atol=CF_ATOL)
    np.testing.assert_allclose(c, W2 @ b1 + b2, rtol=CF_RTOL, atol=CF_ATOL)
    layers = lambda x: F.two_affine_layers(x, W1, b1, W2, b2)  # noqa: E731
    np.testing.assert_allclose(A, numerical_jacobian(layers, rng.normal(size=d)), rtol=FD_RTOL, atol=FD_ATOL)


@pytest.mark.parametrize("shape, axis", [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), 0)])
def test_reference_softmax_matches_its_closed_form_along_any_axis(shape, axis):
    z = np.random.default_rng(2).normal(0.0, 3.0, shape)
    e = np.exp(z)
    np.testing.assert_allclose(F.softmax(z, axis=axis), e / e.sum(axis=axis, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("z", [[1000.0, 999.0, 998.0], [-1000.0, -1000.0], [1e4, -1e4, 9999.0], [-1e4, -9999.5]])
def test_reference_softmax_is_finite_and_normalised_at_extreme_logits(z):
    s = np.asarray(F.softmax(np.array(z)))
    assert np.all(np.isfinite(s))
    assert s.sum() == pytest.approx(1.0, abs=1e-15)
    shift = np.array(z) - max(z)  # small differences: the closed form is exact here
    np.testing.assert_allclose(s, np.exp(shift) / np.exp(shift).sum(), rtol=1e-12)


@pytest.mark.parametrize("n, scale, peak", [(2, 1.0, 0.0), (3, 2.0, 0.0), (5, 0.1, 0.0), (10, 2.0, 0.0),
                                            (12, 5.0, 0.0), (6, 1.0, 20.0)])
def test_softmax_jacobian_key_matches_its_closed_form_and_finite_differences(n, scale, peak):
    rng = np.random.default_rng(n)
    for _ in range(5):
        z = rng.normal(0.0, scale, n)
        z[0] += peak
        J = keys.softmax_jacobian_at_logits(z)
        s = np.asarray(F.softmax(z))
        np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=CF_RTOL, atol=CF_ATOL)
        np.testing.assert_allclose(J, numerical_jacobian(F.softmax, z), rtol=FD_RTOL, atol=FD_ATOL)
        np.testing.assert_allclose(J, J.T, rtol=0, atol=1e-16)
        np.testing.assert_allclose(J.sum(axis=1), 0.0, atol=1e-15)
        assert np.linalg.eigvalsh(J).min() > -1e-15
