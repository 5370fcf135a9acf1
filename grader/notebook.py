"""Reading a submission: a notebook (any nbformat, upgraded to 4) or a script.

Only code cells matter. Each is passed through IPython's input transformers,
so ``%matplotlib inline`` or ``!pip install x`` become calls on a stand-in
shell that runs nothing, exactly where Jupyter would have run them.
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_BYTES = 20 * 1024 * 1024
SUFFIXES = (".ipynb", ".py")


class SubmissionError(Exception):
    """A submission that cannot be executed; ``status`` goes into the grade row."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Submission:
    name: str
    content: bytes
    cells: list[str]
    notes: list[str] = field(default_factory=list)


def load(name: str, content: bytes, max_bytes: int = MAX_BYTES) -> Submission:
    """Parse ``content``; raises :class:`SubmissionError` with a status and a fix."""
    if len(content) > max_bytes:
        raise SubmissionError("too-large", f"the file is {len(content) / 2**20:.1f} MiB, over the limit of "
                                           f"{max_bytes / 2**20:.0f} MiB: clear the outputs (Kernel > Restart & "
                                           f"Clear Output) and save again.")
    try:
        text = content.decode("utf-8-sig")  # a byte order mark is not part of the code
    except UnicodeDecodeError as exc:
        raise SubmissionError("unreadable", f"the file is not UTF-8 text (byte {exc.start}): save it again "
                                            f"from Jupyter, or as a UTF-8 .py file.") from None
    if name.endswith(".py"):
        return Submission(name, content, split_script(text))
    if not text.strip():
        raise SubmissionError("invalid-notebook", "the file is empty: save the notebook in Jupyter (File > Save) "
                                                  "and submit the .ipynb file again.")
    return _load_notebook(name, content, text)


def _load_notebook(name: str, content: bytes, text: str) -> Submission:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise SubmissionError("invalid-notebook", f"the file is not valid JSON ({exc}): it is not a "
                                                  f"Jupyter notebook, or it was damaged; download it again "
                                                  f"from Jupyter (File > Download as > Notebook).") from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise SubmissionError("invalid-notebook", "the file is JSON but not a Jupyter notebook (no "
                                                  "'nbformat' field).")
    notes = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:
        raise SubmissionError("invalid-notebook", f"the notebook could not be read ({type(exc).__name__}: "
                                                  f"{str(exc)[:200]}).") from None
    if raw.get("nbformat") != 4:
        notes.append(f"the notebook was in format {raw.get('nbformat')} and was upgraded to format 4.")
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cells.append("".join(source) if isinstance(source, list) else str(source))
    if not cells:
        notes.append("the notebook has no code cells.")
    return Submission(name, content, [transform(c) for c in cells], notes)


_CELL_MARK = re.compile(r"^# ?%%", re.M)


def split_script(text: str) -> list[str]:
    """A script is one cell, or several separated by ``# %%`` markers."""
    if not _CELL_MARK.search(text):
        return [transform(text)]
    parts = _CELL_MARK.split(text)
    return [transform(p) for p in parts if p.strip()]


_transformer = None


def transform(source: str) -> str:
    """IPython syntax (magics, ``!cmd``, ``?help``) as plain Python."""
    global _transformer
    if _transformer is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _transformer = TransformerManager()
    try:
        return _transformer.transform_cell(source)
    except Exception:
        return source  # left as is: the cell then fails on its own, like in Jupyter


def submission_files(paths: list[Path]) -> list[Path]:
    """Expand directories (one level and below) into their notebooks and scripts, sorted."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in SUFFIXES
                              and ".ipynb_checkpoints" not in f.parts and not f.name.startswith(".")))
        else:
            out.append(p)
    return out
