"""What a regrade changed: one line per exercise whose score moved, each saying why.

When ``grade`` grades a submission again (``--regrade``, or its content, grader version or seed
changed since its result was written), ``grader.batch`` reports them.
"""
from __future__ import annotations

from grader.record import SubmissionRecord

_CAUSES = (("content_sha256", "the submission's content changed"),
           ("grader_version", "the grader version changed"),
           ("seed", "the random inputs (seed) changed"),
           ("sandbox", "the sandbox changed"))


def change_causes(old_record: SubmissionRecord, new_record: SubmissionRecord) -> list[str]:
    """Which of content, grader version, seed and sandbox differ between two records (where both know it)."""
    causes = []
    for key, text in _CAUSES:
        a, b = getattr(old_record.provenance, key), getattr(new_record.provenance, key)
        if a is not None and b is not None and a != b:
            if key == "content_sha256":
                a, b = str(a)[:12], str(b)[:12]
            causes.append(f"{text} ({a} -> {b})")
    return causes


def changed_scores(old_record: SubmissionRecord, new_record: SubmissionRecord) -> list[str]:
    """One line per exercise whose score changed (and for the status), each saying why.

    An empty list means the regrade gave the same points. When neither content, grader version,
    seed nor sandbox changed, the line says so: the result depended on something else (time
    limits, a timeout under load).
    """
    causes = change_causes(old_record, new_record)
    why = "; ".join(causes) if causes else ("same content, grader version and seed: the result depended on "
                                             "something else (time limits, a timeout under load)")
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
                     f"{' / ' + _points(maximum) if maximum is not None else ''} ({why})")
    if old_record.status != new_record.status:
        lines.append(f"status: {old_record.status} -> {new_record.status} ({why})")
    if lines and old_record.score != new_record.score:
        lines.insert(0, f"total: {old_record.score:g} -> {new_record.score:g}")
    return lines


def _points(value) -> str:
    return "-" if value is None else f"{value:g}"
