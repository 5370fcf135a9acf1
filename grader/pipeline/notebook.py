"""Reading a submission: a notebook (any nbformat, upgraded to 4) or a script.

Only code cells matter. Each is passed through IPython's input transformers,
so ``%matplotlib inline`` or ``!pip install x`` become calls on a stand-in
shell that runs nothing, exactly where Jupyter would have run them.

Reading runs in the trusted process, before any sandbox deadline, so it is
bounded before it is expensive: the file's size is checked first, then how
many lists, objects and strings its JSON can hold at most (counted in the raw
bytes, so that millions of tiny values cannot cost many times the file's size
while parsed); the JSON of a notebook is parsed with a hook that drops every cell's outputs and attachments
(and the text of markdown and raw cells) as soon as the cell is parsed, so
saved outputs cost neither memory nor any limit, and that stops at the first
cell or the first character of code over the limits; only then does nbformat
see the notebook (what is left of it: the code). A script's cells are counted
before jupytext splits them.
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.core.errors import GraderError
from grader.rubric.record import Status

MAX_BYTES = 100 * 1024 * 1024  # the file as uploaded, outputs included
MAX_CELLS = 10_000  # cells of any type
MAX_CODE_CHARS = 1_000_000  # the code that is graded: code cells' sources, or a whole script
# What parsing a notebook's JSON may build, counted in its raw bytes before parsing (a bracket or a quote
# inside a string counts too). Plots and images are one string each; these bound a file made of millions
# of tiny values, which would otherwise cost the trusted process many times its size and seconds to parse.
MAX_JSON_CONTAINERS = 1_000_000  # "[" and "{"
MAX_JSON_STRINGS = 2_000_000  # '"' / 2
MAX_JSON_ITEMS = 5_000_000  # ",": items of lists and objects (numbers among them)
SUFFIXES = (".ipynb", ".py")


class SubmissionError(GraderError):
    """A submission that cannot be executed; ``status`` goes into the grade row."""

    def __init__(self, status: Status | str, message: str) -> None:
        super().__init__(message)
        self.status = Status.of(status)


@dataclass(frozen=True)
class ReadLimits:
    """What a submission may cost to read (see the module docstring)."""

    max_bytes: int = MAX_BYTES
    max_cells: int = MAX_CELLS
    max_code_chars: int = MAX_CODE_CHARS
    max_json_containers: int = MAX_JSON_CONTAINERS
    max_json_strings: int = MAX_JSON_STRINGS
    max_json_items: int = MAX_JSON_ITEMS


@dataclass
class Submission:
    name: str
    content: bytes
    cells: list[str]
    notes: list[str] = field(default_factory=list)


def load(name: str, content: bytes, limits: ReadLimits = ReadLimits()) -> Submission:
    """Parse ``content``; raises :class:`SubmissionError` with a status and a fix."""
    if len(content) > limits.max_bytes:
        raise SubmissionError("too-large", f"the file is {len(content) / 2**20:.1f} MiB, over the limit of "
                                           f"{limits.max_bytes / 2**20:.0f} MiB: clear the outputs (Kernel > "
                                           f"Restart & Clear Output) and save again.")
    if not name.endswith(".py"):
        _check_structure(content, limits)
    try:
        text = content.decode("utf-8-sig")  # a byte order mark is not part of the code
    except UnicodeDecodeError as exc:
        raise SubmissionError("unreadable", f"the file is not UTF-8 text (byte {exc.start}): save it again "
                                            f"from Jupyter, or as a UTF-8 .py file.") from None
    if name.endswith(".py"):
        return Submission(name, content, read_script(text, limits))
    if not text.strip():
        raise SubmissionError("invalid-notebook", "the file is empty: save the notebook in Jupyter (File > Save) "
                                                  "and submit the .ipynb file again.")
    return _load_notebook(name, content, text, limits)


# --- notebooks ---------------------------------------------------------------------------------------
class _OverLimit(Exception):
    """Raised from inside the JSON parser to stop it at the first cell over a limit."""

    def __init__(self, error: SubmissionError) -> None:
        self.error = error


def _too_many_cells(limits: ReadLimits, what: str = "the notebook has") -> SubmissionError:
    return SubmissionError("too-large", f"{what} more than {limits.max_cells:,} cells, over the limit: "
                                        f"merge cells, or delete the ones that are not part of the answers.")


def _too_much_code(limits: ReadLimits, what: str = "the notebook's code cells hold") -> SubmissionError:
    return SubmissionError("too-large", f"{what} more than {limits.max_code_chars:,} characters of code, over "
                                        f"the limit: remove pasted data or generated code from the submission.")


def _text_length(source: Any) -> int:
    if isinstance(source, str):
        return len(source)
    if isinstance(source, list):
        return sum(len(s) for s in source if isinstance(s, str))
    return 0


class _CellStripper:
    """``object_pairs_hook`` for json: keeps of each cell what grading needs, counting as it goes.

    A cell is any object with a ``cell_type`` (nbformat 4 puts cells in ``cells``,
    nbformat 3 in ``worksheets[].cells``; an object elsewhere that looks like a cell, say in
    an output that displays a notebook, is counted and stripped as one too: the count can
    only be high, never low). Code cells lose their outputs (nbformat keeps an
    empty list); every cell loses its attachments; markdown and raw cells their text.
    """

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self.cells = 0
        self.code = 0

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if "cell_type" not in obj:
            return obj
        self.cells += 1
        if self.cells > self.limits.max_cells:
            raise _OverLimit(_too_many_cells(self.limits))
        obj.pop("attachments", None)
        if "outputs" in obj:
            obj["outputs"] = []
        if obj["cell_type"] == "code":
            self.code += sum(_text_length(obj.get(key)) for key in ("source", "input", "code"))  # v4, v2-3, v1
            if self.code > self.limits.max_code_chars:
                raise _OverLimit(_too_much_code(self.limits))
        else:
            for key in ("source", "input", "code"):
                if isinstance(obj.get(key), (str, list)):
                    obj[key] = ""
        return obj


def _any_float(text: str) -> float:
    return 0.0


def _small_int(text: str) -> int:
    """nbformat's version numbers and execution counts as they are; any longer int as 0."""
    return int(text) if len(text) <= 2 else 0


def _check_structure(content: bytes, limits: ReadLimits) -> None:
    containers = content.count(b"[") + content.count(b"{")
    strings = content.count(b'"') // 2
    items = content.count(b",")
    if (containers > limits.max_json_containers or strings > limits.max_json_strings
            or items > limits.max_json_items):
        raise SubmissionError("too-large", f"the notebook's JSON holds too many values ({containers:,} lists and "
                                           f"objects, {strings:,} strings, {items:,} items; the limits are "
                                           f"{limits.max_json_containers:,}, {limits.max_json_strings:,} and "
                                           f"{limits.max_json_items:,}), "
                                           f"from saved outputs or from very many cells: clear the outputs (Kernel > "
                                           f"Restart & Clear Output), merge or delete cells, and save again.")


def _load_notebook(name: str, content: bytes, text: str, limits: ReadLimits) -> Submission:
    import nbformat

    try:
        # numbers only ever appear in outputs and metadata (versions and counts are small ints), so they
        # are read as shared constants: a file of millions of numbers then costs a list slot per number
        raw = json.loads(text, object_pairs_hook=_CellStripper(limits), parse_float=_any_float,
                         parse_int=_small_int, parse_constant=_any_float)
    except _OverLimit as over:
        raise over.error from None
    except (ValueError, RecursionError) as exc:
        raise SubmissionError("invalid-notebook", f"the file is not valid JSON ({str(exc)[:200]}): it is not a "
                                                  f"Jupyter notebook, or it was damaged; download it again "
                                                  f"from Jupyter (File > Download as > Notebook).") from None
    del text
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise SubmissionError("invalid-notebook", "the file is JSON but not a Jupyter notebook (no "
                                                  "'nbformat' field).")
    notes = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # what is left is code and structure: small, so nbformat's reader and upgrade are cheap
            nb = nbformat.convert(nbformat.reader.reads(json.dumps(raw)), 4)
        cells = []
        for cell in nb["cells"]:
            if cell.get("cell_type") == "code":
                source = cell.get("source", "")
                cells.append("".join(source) if isinstance(source, list) else str(source))
    except Exception as exc:
        raise SubmissionError("invalid-notebook", f"the notebook could not be read ({type(exc).__name__}: "
                                                  f"{str(exc)[:200]}).") from None
    if raw.get("nbformat") != 4:
        notes.append(f"the notebook was in format {raw.get('nbformat')} and was upgraded to format 4.")
    if not cells:
        notes.append("the notebook has no code cells.")
    budget = [TRANSFORM_BUDGET, MAX_SYNTAX_LINES]
    return Submission(name, content, [transform(c, budget) for c in cells], notes)


# --- scripts -------------------------------------------------------------------------------------------
_PERCENT_MARK = re.compile(r"^[ \t]*# ?%%", re.M)
_EXPORT_MARK = re.compile(r"^# In\[[ 0-9]*\]:[ \t]*$", re.M)  # "Download as > Python": # In[3]:


def read_script(text: str, limits: ReadLimits = ReadLimits()) -> list[str]:
    """A script's code cells: one cell, or several in jupytext's percent format.

    ``# %%`` markers may carry a title (``# %% q1: sigmoid``), a cell type
    (``# %% [markdown]`` and ``[raw]`` cells are not run) or metadata; the
    ``# In[ ]:`` markers of a notebook exported as a script count as ``# %%``.
    """
    if len(text) > limits.max_code_chars:
        raise _too_much_code(limits, "the script holds")
    if _EXPORT_MARK.search(text) and not _PERCENT_MARK.search(text):
        text = _EXPORT_MARK.sub("# %%", text)
    markers = len(_PERCENT_MARK.findall(text))
    if not markers:
        return [transform(text)]
    budget = [TRANSFORM_BUDGET, MAX_SYNTAX_LINES]
    if markers > limits.max_cells:
        raise _too_many_cells(limits, "the script has (# %% markers)")
    import jupytext

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # comment_magics off: in a script, "# %matplotlib inline" is a comment, not a magic to uncomment
        nb = jupytext.reads(text, fmt={"extension": ".py", "format_name": "percent", "comment_magics": False})
    return [transform(c.source, budget) for c in nb.cells if c.cell_type == "code" and c.source.strip()]


_transformer = None
# Where IPython's token transforms (escaped commands, ``x = %magic``/``x = !cmd``, ``x?``) can apply: a line
# that starts with an escape, an assignment from one, a trailing "?". A superset; a cell without any is
# left to the cheap line transforms alone.
_TOKEN_SYNTAX = re.compile(r"^[ \t]*[!?%,;/]|=[ \t]*[!%]|\?[ \t]*(#.*)?$", re.M)


#: IPython's own token pass costs about (lines with IPython syntax + 1) x (characters) of tokenising;
#: a submission may spend this much on it, after which cells take the linear pass (see ``transform``).
TRANSFORM_BUDGET = 1_000_000
#: Lines with IPython syntax the linear pass translates per submission; any beyond are left as they
#: are (their cells then fail on their own, as a cell IPython cannot read does).
MAX_SYNTAX_LINES = 5_000


def transform(source: str, budget: list[int] | None = None) -> str:
    """IPython syntax (magics, ``!cmd``, ``?help``) as plain Python, as IPython's TransformerManager does.

    Its ``transform_cell`` retokenises the whole cell after each transform: a cell of 20,000
    ``%time`` lines took minutes (and it gives up after 500 transforms). IPython's own pass is
    used while its cost fits in ``budget`` ([cost, lines] shared by the cells of a submission;
    by default a fresh one), which every realistic notebook does. Beyond, the same transforms
    are applied one logical line at a time after one tokenisation, in time linear in the cell:
    each rewrites only the logical line it finds, so the result is the same wherever the cell
    is valid Python (tests/pipeline/test_reading.py compares them).
    """
    global _transformer
    if _transformer is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _transformer = TransformerManager()
    manager = _transformer
    budget = [TRANSFORM_BUDGET, MAX_SYNTAX_LINES] if budget is None else budget
    try:
        cell = source if source.endswith("\n") else source + "\n"
        lines = cell.splitlines(keepends=True)
        for line_transform in manager.cleanup_transforms + manager.line_transforms:
            lines = line_transform(lines)
        text = "".join(lines)
        if not _TOKEN_SYNTAX.search(text):
            return text
        cost = (len(_TOKEN_SYNTAX.findall(text)) + 1) * len(text)
        if cost <= budget[0]:
            budget[0] -= cost
            return "".join(manager.do_token_transforms(lines))
        return "".join(_token_transforms(manager, lines, budget))
    except Exception:
        return source  # left as is: the cell then fails on its own, like in Jupyter


def _token_transforms(manager: Any, lines: list[str], budget: list[int]) -> list[str]:
    starts = [0] + [row for row in _logical_line_starts(lines) if 0 < row < len(lines)]
    out: list[str] = []
    for begin, end in zip(starts, starts[1:] + [len(lines)]):
        chunk = lines[begin:end]  # one logical line (with the comments and blank lines before it)
        if budget[1] > 0 and _TOKEN_SYNTAX.search("".join(chunk)):
            budget[1] -= 1
            chunk = manager.do_token_transforms(chunk)
        out.extend(chunk)
    _logical_line_starts(out)  # IPython retokenises what it transformed, and leaves the cell as it is if that fails
    return out


def _logical_line_starts(lines: list[str]) -> list[int]:
    """Rows (from 0) where the logical lines start, as IPython's ``make_tokens_by_line`` groups them,
    without keeping the tokens; raises where it would."""
    import tokenize

    from IPython.utils.tokenutil import generate_tokens_catch_errors

    starts: list[int] = []
    depth, new_line = 0, True
    try:
        for token in generate_tokens_catch_errors(iter(lines).__next__, extra_errors_to_catch=["expected EOF"]):
            if new_line:
                starts.append(token.start[0] - 1)
                new_line = False
            if token.type == tokenize.NEWLINE or (token.type == tokenize.NL and depth <= 0):
                new_line = True
            elif token.type == tokenize.OP and token.string in _OPENING:
                depth += 1
            elif token.type == tokenize.OP and token.string in _CLOSING and depth > 0:
                depth -= 1
    except tokenize.TokenError:
        pass  # the cell ends inside a string or brackets: IPython reads it so too
    return sorted(set(starts))


_OPENING, _CLOSING = frozenset("([{"), frozenset(")]}")


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
