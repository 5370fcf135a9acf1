"""The contract in docs/contract.md and the exercise registry say the same thing."""
from __future__ import annotations

import re

from conftest import ROOT
from grader.rubric.exercises import EXERCISES, TOTAL_POINTS

CONTRACT = ROOT / "docs" / "contract.md"


def contract_rows() -> dict[str, tuple[int, str, tuple[str, ...]]]:
    rows = {}
    for line in CONTRACT.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"q\d+", cells[0]):
            names = tuple(re.findall(r"`(\w+)\(", cells[3]))
            rows[cells[0]] = (int(cells[1]), cells[2], names)
    return rows


def test_the_registry_implements_the_contract():
    rows = contract_rows()
    assert list(rows) == list(EXERCISES), "docs/contract.md and grader/rubric/exercises/ list different exercises"
    for q, ex in EXERCISES.items():
        points, title, names = rows[q]
        assert (ex.points, ex.title, ex.names) == (points, title, names), (
            f"{q}: the registry says {(ex.points, ex.title, ex.names)}, docs/contract.md {(points, title, names)}; "
            "change one of them so that they agree")
    assert TOTAL_POINTS == sum(r[0] for r in rows.values()) == 100


def test_each_exercises_criteria_add_up_to_its_points():
    for q, ex in EXERCISES.items():
        assert abs(sum(c.points for c in ex.criteria) - ex.points) < 1e-9, q
