"""What a regrade changed: one line per exercise whose score moved, each saying why.

When ``grade`` grades a submission again (``--regrade``, or its content, grader version or seed
changed since its result was written), ``grader.batch`` reports them.
"""
from __future__ import annotations

_CAUSES = (("content_sha256", "the submission's content changed"),
           ("grader_version", "the grader version changed"),
           ("seed", "the random inputs (seed) changed"),
           ("sandbox", "the sandbox changed"))


def change_causes(old_record: dict, new_record: dict) -> list[str]:
    """Which of content, grader version, seed and sandbox differ between two records."""
    old, new = old_record.get("provenance", {}), new_record.get("provenance", {})
    causes = []
    for key, text in _CAUSES:
        if key in old and key in new and old[key] != new[key]:
            a, b = old[key], new[key]
            if key == "content_sha256":
                a, b = str(a)[:12], str(b)[:12]
            causes.append(f"{text} ({a} -> {b})")
    return causes


def changed_scores(old_record: dict, new_record: dict) -> list[str]:
    """One line per exercise whose score changed (and for the status), each saying why.

    An empty list means the regrade gave the same points. When neither content, grader version,
    seed nor sandbox changed, the line says so: the result depended on something else (time
    limits, a timeout under load).
    """
    causes = change_causes(old_record, new_record)
    why = "; ".join(causes) if causes else ("same content, grader version and seed: the result depended on "
                                             "something else (time limits, a timeout under load)")
    lines = []
    old_ex, new_ex = old_record.get("exercises", {}), new_record.get("exercises", {})
    for q in sorted(set(old_ex) | set(new_ex), key=lambda q: (len(q), q)):
        a, b = old_ex.get(q, {}), new_ex.get(q, {})
        before, after = a.get("score"), b.get("score")
        if before == after:
            continue
        title = b.get("title") or a.get("title") or ""
        maximum = b.get("max_score", a.get("max_score"))
        lines.append(f"{q}{': ' + title if title else ''}: {_points(before)} -> {_points(after)}"
                     f"{' / ' + _points(maximum) if maximum is not None else ''} ({why})")
    if old_record.get("status") != new_record.get("status"):
        lines.append(f"status: {old_record.get('status')} -> {new_record.get('status')} ({why})")
    if lines and old_record.get("score") != new_record.get("score"):
        lines.insert(0, f"total: {old_record.get('score', 0):g} -> {new_record.get('score', 0):g}")
    return lines


def _points(value) -> str:
    return "-" if value is None else f"{value:g}"
