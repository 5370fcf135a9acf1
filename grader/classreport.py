"""Class report (placeholder until the report module lands)."""
from pathlib import Path


def write_report(out_dir: Path) -> Path:
    return Path(out_dir) / "report.html"
