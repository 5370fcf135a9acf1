"""Frequent mistakes recognised from what a call gave, whatever the exercise.

Exercise modules name the mistakes of their own formulas (``mistakes=`` of
:func:`grader.rubric.checks.assert_close`); the ones here are told by the shape of the
failure itself: code written for one number that meets an array, and float32
arithmetic.
"""
from __future__ import annotations

import numpy as np

#: What numpy and math say when code written for one number meets an array.
SCALAR_ONLY_MESSAGES = ("truth value of an array", "only length-1 arrays", "only size-1 arrays",
                        "only 0-dimensional arrays", "only one element tensors", "can only convert an array of size 1")
SCALAR_ONLY_HINT = ("the code handles one number at a time (math.exp, `if x > 0:`, float(x)), but it is called on "
                    "whole arrays: use np.exp, np.where(x > 0, ..., ...), np.maximum, which work elementwise on any "
                    "shape, 0-d included.")


def raised_hint(error_type: str, message: str) -> str:
    """A hint for an exception whose message names a frequent cause (else "")."""
    text = message.lower()
    if error_type in ("ValueError", "TypeError") and any(m in text for m in SCALAR_ONLY_MESSAGES):
        return SCALAR_ONLY_HINT
    return ""


FLOAT32_HINT = ("the values are rounded to float32 (about 7 significant digits): keep float64 throughout, "
                "e.g. np.asarray(x, dtype=np.float64), no astype(np.float32) or np.float32 constants.")


def looks_float32(got: np.ndarray, expected: np.ndarray, bad: np.ndarray) -> bool:
    """The mismatching values are float32 numbers within float32 precision of the key.

    A float64 result is practically never exactly representable in float32 (24 of its 53
    bits), unless it is a simple number (0, 0.5, 1). Float32 arithmetic errs by a few 1e-7
    relative to the magnitudes it works with, so where it cancels (1 - tanh(x)**2 rounds to
    0) the error is that much in absolute terms.
    """
    g, e = got[bad], expected[bad]
    if g.size == 0 or not np.all(np.isfinite(g)) or not np.all(np.isfinite(e)):
        return False
    with np.errstate(all="ignore"):
        exact32 = bool(np.all(g.astype(np.float32).astype(np.float64) == g))
        scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
        close = bool(np.all(np.abs(g - e) <= 1e-5 * np.abs(e) + 1e-6 * scale))
    return exact32 and close


NEAR_MISS_HINT = ("the values agree with the expected ones to about 7 significant digits, but not to float64's 15: "
                  "look for a step computed in float32 (astype(np.float32), np.float32(...)) or a constant written "
                  "with few digits; write constants exactly, e.g. np.sqrt(2 / np.pi), not 0.7979.")


def near_miss(got: np.ndarray, expected: np.ndarray, bad: np.ndarray) -> bool:
    """The mismatching values are within a few float32 roundings of the key without being float32 numbers:
    a float64 result built on a float32 step or on a rounded constant (a real mistake errs by far more)."""
    g, e = got[bad], expected[bad]
    if g.size == 0 or not np.all(np.isfinite(g)) or not np.all(np.isfinite(e)):
        return False
    with np.errstate(all="ignore"):
        scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
        return bool(np.all(np.abs(g - e) <= 3e-7 * np.abs(e) + 3e-8 * scale))
