"""Writing what a grading run produced: per-submission files and the class table.

Everything here reads only the grader's own result records, never a file a
submission wrote.
"""
from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

from grader.exercises import EXERCISES

CSV_COLUMNS = ["file", *EXERCISES, "total", "possible", "status"]


def safe_name(name: str) -> str:
    """A file-system-safe stem for ``results/<name>.json`` and ``feedback/<name>.md``."""
    stem = re.sub(r"\.(ipynb|py)$", "", name)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "submission"


def atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide grades from the course staff's group
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def gradescope_results(record: dict) -> dict:
    """The record in Gradescope's results.json schema; the full record rides in ``extra_data``."""
    tests = []
    for q, ex in record["exercises"].items():
        tests.append({"name": f"{q}: {ex['title']}", "number": q, "score": ex["score"], "max_score": ex["max_score"],
                      "output": ex["feedback"], "visibility": "visible"})
    output = _summary_line(record)
    return {"score": record["score"], "execution_time": record["provenance"].get("seconds"), "output": output,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests, "extra_data": record}


def _summary_line(record: dict) -> str:
    text = f"{record['file']}: {record['score']:g} / {record['possible']:g} ({record['status']})"
    if record.get("message"):
        text += f"\n{record['message']}"
    return text


def feedback_markdown(record: dict) -> str:
    """What the student reads: the total, notebook problems, then each exercise."""
    lines = [f"# Feedback for `{record['file']}`", "",
             f"**Total: {record['score']:g} / {record['possible']:g}**  (status: {record['status']})", ""]
    if record.get("message"):
        lines += [record["message"], ""]
    for note in record.get("notes", []):
        lines.append(f"- Note: {note}")
    cells = record.get("cells", {})
    for err in cells.get("errors", []):
        where = f"cell {err['cell']}" + (f", line {err['line']}" if err.get("line") else "")
        lines.append(f"- {where} raised {err.get('type')}: {err.get('message')}")
    for skipped in cells.get("skipped", []):
        lines.append(f"- cell {skipped['cell']} was skipped on a second run: it {skipped['why']}.")
    if lines[-1] != "":
        lines.append("")
    lines += ["| exercise | points |", "|---|---|"]
    for q, ex in record["exercises"].items():
        lines.append(f"| {q}: {ex['title']} | {ex['score']:g} / {ex['max_score']:g} |")
    lines.append("")
    for q, ex in record["exercises"].items():
        lines += [f"## {q}: {ex['title']} ({ex['score']:g} / {ex['max_score']:g})", ""]
        if not ex.get("criteria"):
            lines += ["```", ex["feedback"], "```", ""]
            continue
        for c in ex["criteria"]:
            mark = "✅" if c["points"] == c["max_points"] else "❌"
            lines.append(f"- {mark} {c['name']} ({c['points']:g} / {c['max_points']:g})")
            if c["message"]:
                lines += ["", "  ```", *("  " + line for line in c["message"].splitlines()), "  ```"]
        lines.append("")
    return "\n".join(lines)


def write_submission(out_dir: Path, record: dict) -> None:
    stem = safe_name(record["file"])
    atomic_write(out_dir / "results" / f"{stem}.json", json.dumps(gradescope_results(record), indent=1))
    atomic_write(out_dir / "feedback" / f"{stem}.md", feedback_markdown(record))


def read_record(path: Path) -> dict | None:
    """The grader's record from a results file, or None if it is missing or not ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = data["extra_data"]
        return record if isinstance(record, dict) and "exercises" in record else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def csv_row(record: dict) -> dict[str, Any]:
    row: dict[str, Any] = {"file": record["file"]}
    for q in EXERCISES:
        row[q] = f"{record['exercises'].get(q, {}).get('score', 0.0):g}"
    row.update(total=f"{record['score']:g}", possible=f"{record['possible']:g}", status=record["status"])
    return row


def write_grades_csv(out_dir: Path, records: Iterable[dict]) -> Path:
    path = out_dir / "final_grades.csv"
    rows = [csv_row(r) for r in records]
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buf.getvalue())
    return path


def terminal_table(record: dict):
    """A rich table of the ten exercises, for grading one notebook."""
    from rich.table import Table

    table = Table(title=f"{record['file']}: {record['score']:g} / {record['possible']:g} ({record['status']})")
    table.add_column("exercise")
    table.add_column("points", justify="right")
    table.add_column("first problem")
    for q, ex in record["exercises"].items():
        failed = [c for c in ex.get("criteria", []) if c["points"] < c["max_points"]]
        first = failed[0]["message"].splitlines()[0] if failed else ("" if ex.get("criteria") else ex["feedback"].splitlines()[-1])
        style = "green" if ex["score"] == ex["max_score"] else ("red" if ex["score"] == 0 else "yellow")
        table.add_row(f"{q}: {ex['title']}", f"[{style}]{ex['score']:g} / {ex['max_score']:g}[/]", first[:110])
    return table
