"""Grouping failure messages: the same mistake made by different students, on different
random inputs, falls into one group (numbers, shapes and array values taken out)."""
from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from grader.classreport.model import EPS, Submission

_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_DIMS = re.compile(r"(?<![\w.])\d+(?:x\d+)+(?!\w)")  # 8x3
_NUM = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w)")
_INNER = re.compile(r"\[[^\[\]()]*\]|\([^\[\]()]*\)")  # innermost: no bracket of either kind inside
_OPAQUE = re.compile(r"<(?:array \x03…\x04|list of #)>")  # how a call quotes a large argument
_FILLER = re.compile(r"#|nan|inf|True|False|\.\.\.|…|[\s,.;:+\-\x01-\x04]")
_SPACE = re.compile(r"\s+")


def first_statement(message: str, max_lines: int = 40) -> str:
    """The first line of a message, continued while a bracket is open (numpy prints long arrays on many lines)."""
    lines = message.strip().splitlines()
    if not lines:
        return ""
    out, depth = [], 0
    for line in lines[:max_lines]:
        out.append(line)
        depth += sum(line.count(c) for c in "([") - sum(line.count(c) for c in ")]")
        if depth <= 0:
            break
    return " ".join(out)


@functools.lru_cache(maxsize=1 << 16)
def normalise_message(message: str, limit: int = 200) -> str:
    """The first line of a failure message with numbers, shapes and array values taken out.

    ``softmax([1000. 999. 998.]) returned nan at z = 1000 (3 of 3 elements ...)`` becomes
    ``softmax(…) returned nan at z = # (# of # elements ...)``, so the same mistake made by
    different students (on different random inputs) falls into one group. Cached: students who
    drew the same inputs (a seed pool) and made the same mistake have the same message.
    """
    line = first_statement(message)
    line = _NUM.sub("#", _DIMS.sub("#x#", _HEX.sub("#", line)))

    def collapse(m: re.Match) -> str:
        text = m.group(0)
        inner = text[1:-1] if _FILLER.sub("", text[1:-1]) else "…"  # only values inside: collapse them
        # brackets done with are hidden from later rounds, so the enclosing pair becomes innermost
        return ("\x01" + inner + "\x02") if text[0] == "[" else ("\x03" + inner + "\x04")

    for _ in range(8):  # innermost first; nested arrays need a few rounds
        new = _OPAQUE.sub("…", _INNER.sub(collapse, line))
        if new == line:
            break
        line = new
    line = line.translate({1: "[", 2: "]", 3: "(", 4: ")"})
    line = _SPACE.sub(" ", line).strip()
    return line if len(line) <= limit else line[:limit - 1] + "…"


def hint_of(message: str) -> str:
    for line in message.splitlines():
        line = line.strip()
        if line.startswith("Hint:"):
            return line[5:].strip()
    return ""


@dataclass
class FailureGroup:
    """The submissions whose failed checks of one exercise say the same thing.

    Failures are keyed by (criterion name, normalised first line); the keys of one
    exercise that share the normalised line are shown as one group (a function that
    is not defined fails every check that calls it, with the same message), with the
    number of students per criterion in ``checks``.
    """

    exercise: str
    pattern: str
    checks: dict[str, int] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)
    kind: str = ""
    hint: str = ""
    example: str = ""
    example_file: str = ""

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def criteria(self) -> list[str]:
        return list(self.checks)


def failure_groups(subs: Iterable[Submission], q: str) -> list[FailureGroup]:
    """Failed criteria of exercise ``q``, grouped (see :class:`FailureGroup`), most common first."""
    groups: dict[str, FailureGroup] = {}
    members: dict[str, dict[str, set[str]]] = {}
    hints: dict[str, Counter] = {}
    kinds: dict[str, Counter] = {}
    for s in subs:
        if not s.exercise_graded(q):
            continue
        for c in s.exercises[q].criteria:
            if c.points >= c.max_points - EPS:
                continue
            pattern = normalise_message(c.message) or "(no message)"
            if pattern not in groups:
                groups[pattern] = FailureGroup(q, pattern, example=c.message, example_file=s.file)
                members[pattern], hints[pattern], kinds[pattern] = {}, Counter(), Counter()
            members[pattern].setdefault(c.name, set()).add(s.file)
            hints[pattern][hint_of(c.message)] += 1
            kinds[pattern][c.kind] += 1
    for pattern, group in groups.items():
        by_check = members[pattern]
        group.checks = {name: len(files) for name, files in sorted(by_check.items(), key=lambda kv: -len(kv[1]))}
        group.members = sorted(set().union(*by_check.values()))
        group.hint = next((h for h, _ in hints[pattern].most_common() if h), "")
        group.kind = next((k for k, _ in kinds[pattern].most_common() if k), "")
    return sorted(groups.values(), key=lambda g: (-g.count, -len(g.checks), g.pattern))


def cell_error_groups(subs: Iterable[Submission]) -> list[tuple[str, list[str]]]:
    """Errors raised by notebook cells, grouped by type and normalised message: (label, files)."""
    groups: dict[str, list[str]] = {}
    for s in subs:
        for err in s.cell_errors:
            label = f"{err.type or 'Error'}: {normalise_message(err.message)}".rstrip(": ")
            files = groups.setdefault(label, [])
            if s.file not in files:
                files.append(s.file)
    return sorted(((label, sorted(files)) for label, files in groups.items()), key=lambda kv: (-len(kv[1]), kv[0]))
