"""Why a result was graded again, and what the regrade changed.

``grader.pipeline.batch`` reuses a result on disk only when nothing that can change a score or the trust in
it differs (:func:`reuse_obstacles`: content, grader version, seed, the conditions of
``grader.pipeline.tasks.conditions``, the isolation that was in force); otherwise it grades again, counts
the reasons (:func:`summarize_reasons`) and, where the points moved, says why once per submission
(:func:`changed_scores`).
"""
from __future__ import annotations

from collections import Counter

from grader.sandbox.isolation import isolation_rank, require
from grader.core.errors import GraderError
from grader.rubric.record import ERROR, Provenance, SubmissionRecord

_CAUSES = (("content_sha256", "the submission's content changed"),
           ("grader_version", "the grader version changed"),
           ("seed", "the random inputs (seed) changed"),
           ("sandbox", "the sandbox changed"))

#: The conditions (``grader.pipeline.tasks.conditions``), as people name them, and the unit of their values.
_CONDITIONS = (("sandbox", "sandbox", ""), ("isolation", "isolation", ""), ("image", "image", ""),
               ("timeout", "time limit", " s"), ("step_timeout", "step time limit", " s"),
               ("memory_mb", "memory limit", " MiB"), ("seeding", "seeding", ""))


def _short(key: str, value) -> str:
    if value is None:
        return "-"
    if key == "content_sha256":
        return str(value)[:12]
    return f"{value:g}" if isinstance(value, float) else str(value)


def condition_changes(old: Provenance, new: Provenance) -> list[str]:
    """What differs between how two results were (or would be) graded, one short phrase each, such as
    ``sandbox changed process→docker`` or ``time limit changed 60→1 s``."""
    out = []
    for key, text in (("content_sha256", "content changed"), ("seed", "seed changed")):  # values differ per file
        a, b = getattr(old, key), getattr(new, key)
        if a is not None and b is not None and a != b:
            out.append(text)
    a, b = old.grader_version, new.grader_version
    if a is not None and b is not None and a != b:
        out.append(f"grader version changed {a}→{b}")
    if old.conditions is None and new.conditions is not None:
        out.append("the earlier result does not record its limits and isolation")
        return out
    before, after = old.conditions or {}, new.conditions or {}
    for key, text, unit in _CONDITIONS:
        a, b = before.get(key), after.get(key)
        if a != b:
            out.append(f"{text} changed {_short(key, a)}→{_short(key, b)}{unit}")
    return out


def reuse_obstacles(old: SubmissionRecord | None, new: Provenance, *, expected_isolation: str | None = None,
                    required_isolation: str | None = None) -> list[str]:
    """Why the result ``old`` cannot stand for a grading under ``new`` (empty: it can be reused).

    ``expected_isolation`` is the mode this run would get (``root``, ``uid`` ...) where it is known here
    (the process sandbox on this host); ``required_isolation`` is ``--require-isolation``.
    """
    if old is None:
        return ["no earlier result"]
    if old.status == ERROR:
        return ["the earlier run failed on the grading side"]
    reasons = condition_changes(old.provenance, new)
    had = old.provenance.isolation
    if expected_isolation and had and had.split("+")[0] != expected_isolation:
        reasons.append(f"isolation changed {had.split('+')[0]}→{expected_isolation}")
    if required_isolation and had:
        try:
            require(had, required_isolation)
        except GraderError:
            reasons.append(f"isolation {had} is below the required {required_isolation}")
    if not reasons and old.provenance.key != new.key:
        reasons.append("the earlier result's key differs")
    return reasons


def summarize_reasons(reused: int, reasons: Counter, regraded: int) -> str:
    """One line: ``12 reused; 288 regraded: sandbox changed process→docker`` (counts where not all share it)."""
    if not regraded:
        return f"{reused} reused"
    parts = [why if n == regraded else f"{why} ({n})" for why, n in reasons.most_common()]
    return f"{reused} reused; {regraded} regraded: " + "; ".join(parts)


def change_causes(old_record: SubmissionRecord, new_record: SubmissionRecord) -> list[str]:
    """Why a regrade may have moved the points: the earlier run's failure, or what differs in how the two
    were graded (content, grader version, seed, sandbox, limits, isolation)."""
    if old_record.status == ERROR:
        cause = old_record.provenance.error or old_record.message
        return [f"the earlier run was not graded: the grader failed ({cause})"]
    causes = []
    for key, text in _CAUSES:
        a, b = getattr(old_record.provenance, key), getattr(new_record.provenance, key)
        if a is not None and b is not None and a != b:
            causes.append(f"{text} ({_short(key, a)} -> {_short(key, b)})")
    if old_record.provenance.conditions is not None:
        causes += [c for c in condition_changes(old_record.provenance, new_record.provenance)
                   if not c.startswith(("content ", "grader version ", "seed ", "sandbox ", "the earlier"))]
    a, b = old_record.provenance.isolation, new_record.provenance.isolation
    if a and b and a != b and isolation_rank(a) != isolation_rank(b):
        causes.append(f"the isolation changed ({a} -> {b})")
    return causes


def changed_scores(old_record: SubmissionRecord, new_record: SubmissionRecord) -> list[str]:
    """What a regrade changed: the total, then one line per exercise whose score moved, then the status;
    the first line says why, once for the submission.

    An empty list means the regrade gave the same points. When the earlier run failed on the grading side,
    it had no points to compare: one line gives the new total and that cause. When neither content, grader
    version, seed, sandbox nor limits changed, the line says so: the result depended on something else (a
    timeout under load).
    """
    causes = change_causes(old_record, new_record)
    why = "; ".join(causes) if causes else ("same content, grader version, seed, sandbox and limits: the result "
                                             "depended on something else (a timeout under load)")
    if old_record.status == ERROR:
        return [] if new_record.status == ERROR else [f"total: not graded -> {new_record.score:g} ({why})"]
    if new_record.status == ERROR:
        cause = new_record.provenance.error or new_record.message
        return [f"total: {old_record.score:g} -> not graded (the grader failed on it this time: {cause})"]
    lines = []
    old_ex, new_ex = old_record.exercises, new_record.exercises
    for q in sorted(set(old_ex) | set(new_ex), key=lambda q: (len(q), q)):
        a, b = old_ex.get(q), new_ex.get(q)
        before, after = (a.score if a else None), (b.score if b else None)
        if before == after:
            continue
        title = (b.title if b else "") or (a.title if a else "")
        maximum = b.max_score if b else a.max_score
        lines.append(f"{q}{': ' + title if title else ''}: {_points(before)} -> {_points(after)}"
                     f"{' / ' + _points(maximum) if maximum is not None else ''}")
    if old_record.status != new_record.status:
        lines.append(f"status: {old_record.status} -> {new_record.status}")
    if lines and old_record.score != new_record.score:
        lines.insert(0, f"total: {old_record.score:g} -> {new_record.score:g}")
    if lines:
        lines[0] += f" ({why})"
    return lines


def _points(value) -> str:
    return "-" if value is None else f"{value:g}"
