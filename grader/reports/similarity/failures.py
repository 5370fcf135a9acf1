"""The second signal: the same rare failures in two submissions.

Two students who copied one wrong answer fail the same criteria the same way. A failure's
signature is (exercise, criterion, the first statement of its message with numbers and array
values taken out, its hint); when two submissions were graded on the same inputs (the same
seed), the message as written (the same wrong values on the same inputs) is a signature too,
unless the mistake itself is common (its pattern in more than ``COMMON_SHARE`` of the class).
A signature is *rare* when at most ``max(2, RARE_SHARE x class size)`` submissions have it: a
mistake half the class makes says nothing about who copied. Pairs come from an inverted index
of the rare signatures, never from all pairs.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from grader.reports.classreport.grouping import first_statement, hint_of, normalise_message
from grader.rubric.record import SubmissionRecord

RARE_SHARE = 0.05
COMMON_SHARE = 0.25
EPS = 1e-9


def signatures(record: SubmissionRecord) -> dict[str, set[tuple]]:
    """Exercise -> the signatures of its failed criteria (see the module docstring)."""
    out: dict[str, set[tuple]] = {}
    if not record.scored:
        return out
    seed = record.provenance.seed
    for q, exercise in record.exercises.items():
        found = set()
        for c in exercise.criteria:
            if c.points >= c.max_points - EPS:
                continue
            pattern = ("pattern", q, c.name, normalise_message(c.message), hint_of(c.message))
            found.add(pattern)
            if seed is not None:
                found.add(("exact", q, c.name, seed, first_statement(c.message), pattern))
        if found:
            out[q] = found
    return out


def shared_failures(records: Sequence[Mapping[str, set[tuple]]]) -> dict[tuple[int, int], Counter]:
    """(i, j) with i < j -> exercise -> how many rare failures the two share (an exact and a pattern
    signature of one failed criterion count once)."""
    postings: dict[tuple, list[int]] = defaultdict(list)
    for i, sigs in enumerate(records):
        for found in sigs.values():
            for sig in found:
                postings[sig].append(i)
    failing = sum(1 for r in records if r)
    rare = max(2, math.ceil(RARE_SHARE * failing))
    common = max(rare, math.ceil(COMMON_SHARE * failing))
    shared: dict[tuple[int, int], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for sig, docs in postings.items():
        if sig[0] == "exact" and len(postings[sig[-1]]) > common:
            continue  # the same values of a mistake many make (nan at 1000) say little
        if 2 <= len(docs) <= rare:
            for i, j in itertools.combinations(docs, 2):
                shared[(i, j)][sig[1]].add(sig[2])  # per exercise, the criteria failed alike
    return {pair: Counter({q: len(names) for q, names in by_q.items()}) for pair, by_q in shared.items()}
