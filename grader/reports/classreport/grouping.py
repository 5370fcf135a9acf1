"""Grouping failures by root cause: the same mistake made by different students, on different random
inputs, falls into one group; messages are compared with numbers, shapes and array values taken out."""
from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from grader.reports.classreport.model import EPS, Submission

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


#: What a group is keyed by (``FailureGroup.cause``): a known mistake (a hint fired), else the first check
#: that failed, or "not attempted" (a function missing, returning None or raising NotImplementedError).
MISTAKE, CHECK, NOT_ATTEMPTED = "mistake", "check", "not-attempted"

_FOLLOW_ON = re.compile(r"^not awarded yet: this criterion counts once (\w+)")
_UNDEFINED = re.compile(r"^(\w+) is not defined\.")
_CALLED = re.compile(r"^\s*(\w+)\(")


def _function(name: str, message: str) -> str:
    """The function a failure is about: the call its message starts with, else its criterion's first word."""
    m = _UNDEFINED.match(message) or _CALLED.match(message)
    return m.group(1) if m else (name.split() or [""])[0]


def not_attempted(message: str) -> bool:
    """The function is not there yet: not defined, returned None, or still raises NotImplementedError."""
    line = first_statement(message)
    return bool(_UNDEFINED.match(line)) or "'NoneType'" in line or "raised NotImplementedError" in line


def follow_on(name: str, message: str, kind: str | None) -> str | None:
    """For a gate's "not awarded yet: ... counts once X is right" line, X (or "" if unnamed); else None."""
    if kind != "NotEarned" and not message.startswith("not awarded yet"):
        return None
    m = _FOLLOW_ON.match(message)
    return m.group(1) if m else ""


def check_of(name: str) -> str:
    """A criterion without its input class: "sigmoid matches 1 / (1 + exp(-x))" for "... on 0-d inputs"."""
    return name.rsplit(" on ", 1)[0] if " on " in name else name


@dataclass
class FailureGroup:
    """The submissions of one exercise whose failures have one root cause.

    ``cause`` says what the key is: a known mistake (``title`` is the hint the students were
    given), a check (``title`` is the first check that failed, without its input class), or
    "not attempted" (``title`` names the functions). A submission's other failures of the same
    function, and the gates' "not awarded yet" lines that follow from it, are folded into the
    group of their cause: ``checks`` counts the students per criterion, root and follow-on alike.
    ``pattern`` is the normalised first line of ``example``, a failure's message.
    """

    exercise: str
    pattern: str
    checks: dict[str, int] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)
    kind: str = ""
    hint: str = ""
    example: str = ""
    example_file: str = ""
    cause: str = CHECK
    title: str = ""

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def criteria(self) -> list[str]:
        return list(self.checks)


def _root_keys(failed: list) -> tuple[list[tuple[str, str]], list[str]]:
    """The group key of each failed criterion of one submission's exercise, and each one's function."""
    funcs = [_function(c.name, c.message) for c in failed]
    follows = [follow_on(c.name, c.message, c.kind) for c in failed]
    by_func: dict[str, tuple[str, str]] = {}
    for c, f, fo in zip(failed, funcs, follows):  # a mistake named by a hint explains its function's failures
        if fo is None and not not_attempted(c.message) and (h := hint_of(c.message)):
            by_func.setdefault(f, (MISTAKE, h))
    for c, f, fo in zip(failed, funcs, follows):
        if fo is None and not_attempted(c.message):
            by_func.setdefault(f, (NOT_ATTEMPTED, ""))
    keys = []
    for c, f, fo in zip(failed, funcs, follows):
        if fo is not None:
            keys.append(None)
        elif not_attempted(c.message):
            keys.append((NOT_ATTEMPTED, ""))
        elif h := hint_of(c.message):
            keys.append((MISTAKE, h))
        else:
            keys.append(by_func.setdefault(f, (CHECK, check_of(c.name))))
    roots = [k for k in keys if k is not None]
    for i, fo in enumerate(follows):  # "counts once X is right": X's group, else the first root's
        if keys[i] is None:
            keys[i] = by_func.get(fo or "") or (roots[0] if roots else (CHECK, check_of(failed[i].name)))
    return keys, funcs


def failure_groups(subs: Iterable[Submission], q: str) -> list[FailureGroup]:
    """Failed criteria of exercise ``q`` grouped by root cause (see :class:`FailureGroup`), most common first,
    "not attempted" last."""
    groups: dict[tuple[str, str], FailureGroup] = {}
    members: dict[tuple[str, str], dict[str, set[str]]] = {}
    hints: dict[tuple[str, str], Counter] = {}
    kinds: dict[tuple[str, str], Counter] = {}
    funcs_of: dict[tuple[str, str], Counter] = {}
    for s in subs:
        if not s.exercise_graded(q):
            continue
        failed = [c for c in s.exercises[q].criteria if c.points < c.max_points - EPS]
        if not failed:
            continue
        keys, funcs = _root_keys(failed)
        for c, key, func in zip(failed, keys, funcs):
            root = follow_on(c.name, c.message, c.kind) is None
            if key not in groups:
                groups[key] = FailureGroup(q, "", cause=key[0])
                members[key], hints[key], kinds[key], funcs_of[key] = {}, Counter(), Counter(), Counter()
            group = groups[key]
            if root and not group.example:
                group.example, group.example_file = c.message, s.file
            members[key].setdefault(c.name, set()).add(s.file)
            if root:
                hints[key][hint_of(c.message)] += 1
                kinds[key][c.kind] += 1
                funcs_of[key][func] += 1
    for key, group in groups.items():
        by_check = members[key]
        group.checks = {name: len(files) for name, files in sorted(by_check.items(), key=lambda kv: -len(kv[1]))}
        group.members = sorted(set().union(*by_check.values()))
        group.pattern = normalise_message(group.example) or "(no message)"
        group.hint = key[1] if key[0] == MISTAKE else next((h for h, _ in hints[key].most_common() if h), "")
        if key[0] == NOT_ATTEMPTED:
            group.title = "not attempted: " + ", ".join(sorted(funcs_of[key])) + \
                          " not defined, returning None or raising NotImplementedError"
            group.kind = ""  # the wrapper's class ([WrongShape] for a None) says nothing here
        else:
            group.kind = next((k for k, _ in kinds[key].most_common() if k), "")
            group.title = key[1]
    return sorted(groups.values(), key=lambda g: (g.cause == NOT_ATTEMPTED, -g.count, -len(g.checks), g.title))


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
