"""What the (untrusted) worker says about one call, validated into an :class:`~grader.rubric.checks.Outcome`.

Below both the driver that receives the records (``grader.pipeline.execution``, the Otter kernel
path) and the scoring that reads outcomes: the scoring never sees a raw record.
"""
from __future__ import annotations

from typing import Any, Mapping

from grader.rubric.checks import Outcome
from grader.rubric.record import CallStatus
from grader.core.text import identifier, one_line, plain
from grader.sandbox.worker.wire import Blob, WireError, read_result


def outcome_from_record(rec: Any) -> Outcome:
    """Validate one call record from the (untrusted) worker; its text becomes plain text (grader.core.text)."""
    if not isinstance(rec, Mapping) or not isinstance(status := CallStatus.of(rec.get("status")), CallStatus):
        return Outcome(CallStatus.INVALID, error_message="the worker sent a malformed record")
    mutated = rec.get("mutated", [])
    mutated = tuple(one_line(m, 40) for m in mutated[:16] if isinstance(m, str)) if isinstance(mutated, list) else ()
    if status != CallStatus.OK:
        return Outcome(status, error_type=identifier(rec["error_type"]) if "error_type" in rec else "",
                       error_message=plain(rec.get("error_message")),
                       is_value_error=rec.get("is_value_error") is True, mutated=mutated)
    try:
        blob = rec.get("blob")  # the bytes of the binary frame it came in (only FrameReader makes a Blob)
        decoded = read_result(rec.get("result"), blob if isinstance(blob, Blob) else None)
    except (WireError, ValueError, TypeError, RecursionError) as exc:
        return Outcome(CallStatus.INVALID, error_message=plain(f"unreadable result ({exc})"))
    return Outcome(CallStatus.OK, value=decoded.value, mutated=mutated, source_dtype=one_line(decoded.source_dtype, 40),
                   container=decoded.container)
