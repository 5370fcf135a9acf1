"""Checks: pure functions of (plan, student results) that pass or raise.

Every way a student can fail raises a subclass of :class:`CheckFailure`. The
exception carries fields a program can read (``n_mismatch``, ``max_abs``,
``worst_index`` ...) and a message a student can act on, in the style of
``numpy.testing``: how many elements mismatch, the largest absolute and relative
errors, the worst element with its input, expected and actual values, and, where
the mistake is a common one, what it probably is.

Tolerances. The default ``rtol=1e-10, atol=1e-12`` is the contract's, derived from float64
error analysis (docs/scoring.md, "Tolerances"). It is far looser than the rounding differences
between two correct float64 formulas (a few ulps times the condition number: at most ~1e-13
relative on the contract's probes, logits near 1e4 included, and ~1e-15 absolute where a correct
form cancels, as 1 - tanh(x)**2 does) and far tighter than float32 arithmetic (~6e-8 relative per
rounding), a constant rounded to float32 or to a few digits, or any real mistake (a missing
factor, a wrong branch at 0, the erf form of GELU, off by up to ~1e-3), so a verdict does not
depend on the draw. ``atol`` lets values that underflow, such as sigmoid(-700), be 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from grader.rubric.hints import FLOAT32_HINT, NEAR_MISS_HINT, looks_float32, near_miss, raised_hint
from grader.rubric.probes import Call
from grader.rubric.record import CallStatus


RTOL = 1e-10
ATOL = 1e-12
T = TypeVar("T")
#: The tolerance at which values are recognised as a known mistake (:func:`matches_mistake`): looser than the
#: contract's, since a wrong formula is written differently from the student's (other roundings), and still far
#: tighter than the distance between two different mistakes.
MISTAKE_RTOL = 1e-6
MISTAKE_ATOL = 1e-9


# --- what came back from a call -----------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one call of a student function gave, decoded and validated.

    ``status`` is ``ok`` (``value`` holds float64/bool arrays, or a tuple of
    them), ``raised`` (``error_type``/``error_message``), ``undefined`` (the name
    does not exist), ``timeout`` (the call or its exercise ran out of time),
    ``crashed`` (the process died or the channel broke during the exercise),
    ``not-run`` (the submission's time ran out first) or ``invalid`` (the
    worker's record was malformed, or the result could not be encoded or read).
    """

    status: CallStatus
    value: Any = None
    error_type: str = ""
    error_message: str = ""
    is_value_error: bool = False
    mutated: tuple[str, ...] = ()
    source_dtype: str = ""
    container: str = ""  # "list" or "tuple" when the function returned one (see wire.read_result)


NOT_RUN = Outcome(CallStatus.NOT_RUN, error_message="the call was not made")

Results = Mapping[str, Outcome]


# --- failures -----------------------------------------------------------------------------
class CheckFailure(AssertionError):
    """A check the submission did not pass. ``str()`` is the student's feedback."""

    def __init__(self, message: str, *, hint: str = "", **fields: Any) -> None:
        self.message = message
        self.hint = hint
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)
        super().__init__(f"{message}\n  Hint: {hint}" if hint else message)


class CallFailed(CheckFailure):
    """The call raised, was not defined, timed out or crashed the worker."""


class WrongShape(CheckFailure):
    """The result is not an array-like of the expected shape (or dtype)."""


class Mismatch(CheckFailure):
    """Values differ from the answer key beyond the tolerance."""


class NotFinite(CheckFailure):
    """nan or inf where the contract asks for finite values."""


class PropertyViolated(CheckFailure):
    """A property the contract names (sums to 1, symmetric, ...) does not hold."""


class InputMutated(CheckFailure):
    """The function modified one of its input arrays in place."""


class MissingValueError(CheckFailure):
    """A ValueError the contract demands was not raised."""


# --- getting a value out of an outcome ----------------------------------------------------
def result(results: Results, call: Call) -> Any:
    """The value a call returned, or :class:`CallFailed` saying why there is none."""
    out = results.get(call.id, NOT_RUN)
    if out.status == CallStatus.OK:
        return out.value
    where = call.describe()
    if out.status == CallStatus.UNDEFINED:
        raise CallFailed(f"{call.func} is not defined.",
                         hint=f"define `{call.func}` at the top level of a code cell, with exactly this name.",
                         status=out.status, call=call.id)
    if out.status == CallStatus.RAISED:
        raise CallFailed(f"{where} raised {out.error_type}: {out.error_message}",
                         hint=raised_hint(out.error_type, out.error_message),
                         status=out.status, call=call.id, error_type=out.error_type)
    if out.status == CallStatus.TIMEOUT:
        raise CallFailed(f"{where} did not finish in time: {out.error_message}",
                         hint="look for an infinite loop or a Python loop over millions of elements.",
                         status=out.status, call=call.id)
    if out.status == CallStatus.INVALID:
        raise WrongShape(f"{where} returned something that is not a number or array: {out.error_message}",
                         hint="return a numpy array (or a float, or a tuple of arrays where the exercise asks for one).",
                         status=out.status, call=call.id)
    raise CallFailed(f"{where} could not be graded ({out.status}): {out.error_message}",
                     status=out.status, call=call.id)


def array_result(results: Results, call: Call, shape: Sequence[int] | None, *, what: str = "") -> np.ndarray:
    """The call's result as one float64 array of ``shape`` (None: any shape)."""
    value = result(results, call)
    if isinstance(value, tuple):
        kind = results[call.id].container or "tuple"
        raise WrongShape(f"{call.signature()}{what} returned a {kind} of {_items(len(value))}, expected one array"
                         + (f" of shape {tuple(shape)}" if shape is not None else "") + ".",
                         hint=_parts_hint(kind, value), expected_shape=shape, got_shape=None)
    value = np.asarray(value, dtype=np.float64)
    if shape is not None and value.shape != tuple(shape):
        raise WrongShape(f"{call.signature()}{what} returned shape {value.shape}, expected {tuple(shape)}.",
                         hint=_shape_hint(tuple(shape), value.shape),
                         expected_shape=tuple(shape), got_shape=value.shape)
    return value


def several(results: Results, call: Call) -> tuple | None:
    """The parts of a result that is several results: a tuple or a list, whatever its items.

    The contract's array-likes cross the wire as one array where numpy reads them
    as one (``[ga, gb]`` of equal shapes, ``(gx, g_alpha)`` of numbers): such a
    result is split along its first axis. An ndarray (or a number) is one
    result, never several: None.
    """
    out = results.get(call.id, NOT_RUN)
    value = out.value
    if isinstance(value, tuple):
        return value
    if out.container and isinstance(value, np.ndarray) and value.ndim >= 1:
        return tuple(value[i].copy() for i in range(value.shape[0]))
    return None


def _one_array(item: Any) -> np.ndarray | None:
    """An item of a result as one float64 array (it may be a nested tuple of trusted arrays), or None."""
    try:
        arr = np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _parts_hint(kind: str, parts: tuple) -> str:
    shapes = []
    for part in parts[:4]:
        arr = _one_array(part)
        shapes.append(str(arr.shape) if arr is not None else "?")
    listed = ", ".join(shapes) + (", ..." if len(parts) > 4 else "")
    if len(parts) == 1:
        return f"return the array itself, not a {kind} holding it (look for a trailing comma or extra brackets)."
    if kind == "item":
        return f"its items have shapes {listed}: each item must be one array (or one list of equal-length rows)."
    return f"the {kind}'s items have shapes {listed}: return one array (np.array(...) of equal-shaped rows)."


def tuple_result(results: Results, call: Call, shapes: Sequence[Sequence[int] | None]) -> tuple:
    """The call's result as a tuple of float64 arrays with the given shapes.

    A tuple or a list of array-likes, as the contract allows.
    """
    result(results, call)  # raises, saying why, when there is no value
    parts = several(results, call)
    n = len(shapes)
    if parts is None or len(parts) != n:
        kind = results[call.id].container or "tuple"
        got = f"a {kind} of {_items(len(parts))}" if parts is not None else "a single array"
        raise WrongShape(f"{call.signature()} returned {got}, expected a tuple of {n} arrays.",
                         hint=f"end with `return ({', '.join('...' for _ in range(n))})`.",
                         expected_shape=shapes, got_shape=None)
    out = []
    for i, (item, shape) in enumerate(zip(parts, shapes)):
        arr = _one_array(item)
        if arr is None:
            raise WrongShape(f"item {i} of what {call.signature()} returned is a tuple or list whose items do not "
                             f"form one array, expected an array.", hint=_parts_hint("item", item))
        if shape is not None and arr.shape != tuple(shape):
            raise WrongShape(f"item {i} of what {call.signature()} returned has shape {arr.shape}, "
                             f"expected {tuple(shape)}.", hint=_shape_hint(tuple(shape), arr.shape),
                             expected_shape=tuple(shape), got_shape=arr.shape)
        out.append(arr)
    return tuple(out)


def _shape_hint(expected: tuple, got: tuple) -> str:
    if expected == () and got in {(1,), (1, 1)}:
        return "return a scalar (a float or a 0-d array), not an array with one element."
    if sorted(expected) == sorted(got) and expected != got:
        return "the axes are swapped: check the order of a transpose or of a matrix product."
    if int(np.prod(expected)) == int(np.prod(got)):
        return "the right number of elements in the wrong shape: avoid ravel()/flatten() or reshape back."
    return "keep the input's shape: elementwise operations do that by themselves, loops and reductions do not."


# --- comparing values ------------------------------------------------------------------------
def assert_close(got: np.ndarray, expected: np.ndarray, call: Call, *, rtol: float = RTOL, atol: float = ATOL,
                 inputs: np.ndarray | None = None, input_name: str = "x", what: str = "",
                 mistakes: Iterable[tuple[np.ndarray, str]] = ()) -> None:
    """Raise :class:`Mismatch` unless ``|got - expected| <= atol + rtol * |expected|``.

    ``inputs``, when given and of the same shape, is quoted at the worst element.
    ``mistakes`` are (value a known wrong formula gives, what it means) pairs: the
    hint names the first one the student's values match, among those that differ from
    the expected values on these inputs. They are read only when the
    values differ, so a lazy iterable (:func:`grader.rubric.criteria.known`) costs a correct
    call nothing.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise WrongShape(f"{call.signature()}{what} has shape {got.shape}, expected {expected.shape}.",
                         hint=_shape_hint(expected.shape, got.shape),
                         expected_shape=expected.shape, got_shape=got.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(got - expected)
        close = err <= atol + rtol * np.abs(expected)
        if close.all():  # every element finite and within tolerance: nothing nan or inf to look at
            return
        bad = ~close
        bad |= np.isnan(got) != np.isnan(expected)
        same_inf = np.isinf(got) & (got == expected)
        bad &= ~same_inf
    n_bad = int(np.count_nonzero(bad))
    if n_bad == 0:
        return
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # err / tiny expected overflows to inf
        abs_err = np.where(bad, np.where(np.isnan(err), np.inf, err), 0.0)
        rel_err = np.where(bad, abs_err / np.abs(expected), 0.0)
    flat = int(np.argmax(abs_err)) if got.ndim else 0
    worst = tuple(int(i) for i in np.unravel_index(flat, got.shape)) if got.ndim else ()
    at = f" at index {worst}" if got.ndim else ""
    quoted = ""
    if inputs is not None and np.shape(inputs) == got.shape:
        quoted = f", where {input_name} = {_fmt(np.asarray(inputs)[worst])}"
    # a mistake that gives the expected values on these inputs tells nothing (x * s * (1 - s) from exp(-x) is
    # right away from x = -710; sum(grad_out * x) over all x is right for one x <= 0): a near miss matches it
    hint = next((meaning for value, meaning in mistakes
                 if matches_mistake(got, value, rtol, atol) and not matches_mistake(expected, value, rtol, atol)), "")
    if not hint and np.isnan(got).any() and not np.isnan(expected).any():
        hint = "nan usually comes from inf - inf, inf / inf or 0 * inf: look for an exp() that overflows."
    if not hint and looks_float32(got, expected, bad):
        hint = FLOAT32_HINT
    if not hint and near_miss(got, expected, bad):
        hint = NEAR_MISS_HINT
    max_abs, max_rel = float(np.max(abs_err)), float(np.max(rel_err))
    raise Mismatch(
        f"{call.describe()}{what}: {n_bad} of {got.size} elements differ from the expected values "
        f"(rtol={rtol:g}, atol={atol:g}).\n"
        f"  Max absolute difference: {max_abs:.3g}{at}{quoted}: expected {_fmt(expected[worst])}, "
        f"got {_fmt(got[worst])}.\n"
        f"  Max relative difference: {max_rel:.3g}.",
        hint=hint, n_mismatch=n_bad, n_total=int(got.size), max_abs=max_abs, max_rel=max_rel,
        worst_index=worst, expected=float(expected[worst]), got=float(got[worst]),
    )


def matches_mistake(got: Any, value: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """``got`` is ``value`` (what a known mistake gives) of the same shape, at the mistake tolerance
    (or at ``rtol``/``atol`` where the check itself is looser); nan matches nan."""
    got, value = np.asarray(got, dtype=np.float64), np.asarray(value, dtype=np.float64)
    if value.shape != got.shape:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.all(np.isclose(got, value, rtol=max(rtol, MISTAKE_RTOL), atol=max(atol, MISTAKE_ATOL),
                                      equal_nan=True)))


def _fmt(v: Any) -> str:
    v = float(v)
    return f"{v:.10g}"


def assert_property(got: np.ndarray, expected: np.ndarray, call: Call, *, what: str, hint: str = "",
                    **tol) -> None:
    """``assert_close`` for a quantity derived from a result (sums, J - J.T, ...); fails as PropertyViolated."""
    try:
        assert_close(got, expected, call, what=what, **tol)
    except Mismatch as failure:
        raise PropertyViolated(failure.message, hint=hint or failure.hint, **failure.fields) from None


def assert_finite(got: np.ndarray, call: Call, *, inputs: np.ndarray | None = None, input_name: str = "x",
                  hint: str = "", what: str = "") -> None:
    """Raise :class:`NotFinite` if any element is nan or inf."""
    got = np.asarray(got, dtype=np.float64)
    bad = ~np.isfinite(got)
    if not bad.any():
        return
    worst = tuple(int(i) for i in np.argwhere(bad)[0]) if got.ndim else ()
    quoted = ""
    if inputs is not None and np.shape(inputs) == got.shape:
        quoted = f" at {input_name} = {_fmt(np.asarray(inputs)[worst])}"
    raise NotFinite(f"{call.describe()}{what} returned {_fmt(got[worst])}{quoted} "
                    f"({int(bad.sum())} of {got.size} elements are nan or inf).",
                    hint=hint or "rewrite the formula so that exp() never gets a large positive argument.",
                    n_bad=int(bad.sum()), worst_index=worst)


def assert_not_mutated(results: Results, call: Call) -> None:
    """Raise :class:`InputMutated` if the call changed an input array in place."""
    out = results.get(call.id, NOT_RUN)
    result(results, call)
    if out.mutated:
        names = ", ".join(out.mutated)
        raise InputMutated(f"{call.signature()} modified its input {names} in place.",
                           hint="work on a copy (`x = np.array(x, dtype=float)`) or build a new array "
                                "instead of assigning into the argument or using `+=`/`*=` on it.",
                           arguments=out.mutated)


def assert_raises_value_error(results: Results, call: Call) -> None:
    """Raise :class:`MissingValueError` unless the call raised ValueError (or a subclass)."""
    out = results.get(call.id, NOT_RUN)
    if out.status == CallStatus.RAISED and out.is_value_error:
        return
    if out.status == CallStatus.UNDEFINED:
        result(results, call)
    got = {CallStatus.OK: "returned normally", CallStatus.RAISED: f"raised {out.error_type} instead"}.get(out.status, out.status)
    raise MissingValueError(f"{call.signature()} {got}; it must raise ValueError.",
                            hint="end with `raise ValueError(f\"unknown ...: {...!r}\")` for any value not listed.",
                            status=out.status)


def assert_none_mutated(results: Results, calls: Sequence[Call]) -> None:
    """No call that returned modified its inputs; at least one call must have returned.

    Calls that raised are left to the criteria of their input class (the worker cannot
    compare inputs after an exception), so scalar-only code keeps this criterion if it
    modifies nothing where it works.
    """
    returned = [c for c in calls if results.get(c.id, NOT_RUN).status == CallStatus.OK]
    if not returned and calls:
        result(results, calls[0])
    each(returned, lambda call: assert_not_mutated(results, call))


def each(calls: Iterable[T], check: Callable[[T], None]) -> None:
    """Apply ``check`` to every call (or group of calls); re-raise the first failure, noting how many others fail."""
    failures: list[CheckFailure] = []
    for call in calls:
        try:
            check(call)
        except CheckFailure as failure:
            failures.append(failure)
    if not failures:
        return
    first = failures[0]
    if len(failures) > 1 and first.fields.get("status") != CallStatus.UNDEFINED:
        first.message += f"\n  ({len(failures) - 1} more input(s) of this check fail too.)"
        first.args = (f"{first.message}\n  Hint: {first.hint}" if first.hint else first.message,)
    raise first
