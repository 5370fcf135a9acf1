"""`activation-grader grade` writes similarity.csv and the report's section; `similarity` recomputes them
from the output directory alone; `make bench`'s similarity row runs (docs/similarity.md)."""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from similarity.corpus import corpus

CLI = [sys.executable, "-m", "grader"]


def _rows(out: Path) -> list[dict]:
    with open(out / "similarity.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_grade_finds_the_copy_and_similarity_recomputes_it_from_out_alone(tmp_path):
    found = corpus()
    subs = tmp_path / "class"
    subs.mkdir()
    for name in ("golden.py", "masks.py", "compact.py", "masks_combined.py"):
        (subs / name).write_text(found[name][1])
    out = tmp_path / "out"
    proc = subprocess.run([*CLI, "grade", str(subs), "--out", str(out), "--jobs", "1", "--seed", "3", "-q"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "code").iterdir()) == ["compact.json", "golden.json", "masks.json",
                                                                "masks_combined.json"]
    rows = _rows(out)
    assert (rows[0]["a"], rows[0]["b"]) == ("masks.py", "masks_combined.py")
    assert [(r["a"], r["b"]) for r in rows if r["exercise"] == "all"] == [("masks.py", "masks_combined.py")]
    assert 'id="similarity"' in (out / "report.html").read_text(encoding="utf-8")

    # from out/ alone: the submissions are gone
    shutil.rmtree(subs)
    (out / "similarity.csv").unlink()
    (out / "report.html").unlink()
    proc = subprocess.run(["activation-grader", "similarity", "out/"], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert _rows(out) == rows
    assert 'id="similarity"' in (out / "report.html").read_text(encoding="utf-8")


def test_the_benchmark_runs_at_a_small_size():
    proc = subprocess.run([sys.executable, "benchmarks/similarity.py", "--n", "40"], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "similarity of 40 submissions" in proc.stdout and "1 of 1 hidden copies listed, 0 other pairs" in proc.stdout
