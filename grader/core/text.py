"""Text a submission controls, made plain where it enters the trusted side and inert where it leaves.

A submission decides the text of its exceptions (message and class name), anything its process
writes into the grading channel, and its file name. People read that text in Markdown feedback,
an HTML report, a terminal, a spreadsheet and Gradescope. Two steps keep it from acting there:

1. **Entry** (:func:`plain`, :func:`identifier`, :func:`file_name`): where the trusted process
   first decodes the worker's frames (``grader.pipeline.execution``, ``grader.rubric.scoring``) and where file
   names become display names (``grader.pipeline.batch``). Control characters (C0, DEL, C1, ESC), Unicode
   format and separator characters and lone surrogates become visible escapes such as ``\\x1b``;
   the length is bounded; an exception's class name is reduced to an identifier. What comes out
   is printable text, safe to store, and the same whatever terminal or file it goes to.
2. **Exit**: each output renders that text for its own format: Markdown through one builder
   (:class:`Markdown`) that shows it only as code (:func:`md_code`, :func:`md_fence`) or as text that
   reads as itself, HTML through autoescaping templates (``grader.reports.classreport``), the terminal
   through ``rich.text.Text`` (never markup), CSV cells that a spreadsheet would evaluate as a
   formula neutralised (:func:`csv_cell`), Gradescope's results.json as ``text``.

Every function here is idempotent: output code applies them again to records read from disk
without changing text that was already clean.
"""
from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Union

ELLIPSIS = "…"
MESSAGE_LIMIT = 400
TYPE_LIMIT = 80
NAME_LIMIT = 160

# \n is kept where text may span lines; \t becomes spaces; every other character of these Unicode
# categories is shown as an escape: Cc (C0, DEL, C1 and so ESC/CSI/OSC), Cf (bidirectional
# overrides that reorder what is shown, zero-width characters, BOM), Cs (a lone surrogate, which
# cannot even be written as UTF-8), Zl/Zp (line and paragraph separators: new lines to some readers).
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_SUSPECT = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f"
                      r"\u0890\u0891\u08e2\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]|[^\x00-\uffff]")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _escape(text: str, keep_newlines: bool) -> str:
    def one(m: re.Match) -> str:
        ch = m.group()
        if ch == "\n" and keep_newlines:
            return ch
        if ch == "\t":
            return "    " if keep_newlines else " "
        if ch in "\r\n":
            return "\\r" if ch == "\r" else "\\n"
        if ord(ch) > 0xFFFF and unicodedata.category(ch) not in _ESCAPED_CATEGORIES:
            return ch  # an emoji or a rare script: printable
        return _escape_char(ch)

    return _SUSPECT.sub(one, text)


def _bound(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:max(0, limit - 1)] + ELLIPSIS


def plain(value: Any, limit: int = MESSAGE_LIMIT, *, lines: bool = True) -> str:
    """Printable text of at most ``limit`` characters; anything but a ``str`` is "".

    Line breaks (``\\r\\n``, ``\\r``) become ``\\n`` when ``lines`` (shown as the escape ``\\n``
    otherwise); every other control or format character becomes a visible escape, so a
    terminal, spreadsheet or editor shows it instead of obeying it.
    """
    if not isinstance(value, str):
        return ""
    text = value[:limit * 2 + 64]  # escaping only lengthens: the rest would be cut anyway
    if lines:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _bound(_escape(text, lines), limit)


def one_line(value: Any, limit: int = MESSAGE_LIMIT) -> str:
    """:func:`plain` on one line: a line break shows as ``\\n``."""
    return plain(value, limit, lines=False)


_NOT_IDENTIFIER = re.compile(r"[^\w.]+")


def identifier(value: Any, limit: int = TYPE_LIMIT, default: str = "Exception") -> str:
    """An exception class name as an identifier (dotted parts allowed), or ``default``.

    ``type("| q1 | 10 / 10 |", (Exception,), {})`` is a legal class whose name would add a row
    to a Markdown table: every run of characters that cannot be in a Python name becomes ``_``.
    """
    if not isinstance(value, str):
        return default
    name = _NOT_IDENTIFIER.sub("_", value[:limit * 2]).strip("._")
    name = name[:limit].rstrip("._")
    if not name:
        return default
    return f"_{name}" if name[0].isdigit() else name


_SUFFIX = re.compile(r"\.(ipynb|py)$")


def file_name(value: Any, limit: int = NAME_LIMIT) -> str:
    """A submission's display name: one printable line, at most ``limit`` characters.

    A long name keeps its start and its suffix (which says whether it is read as a notebook
    or as a script), with ``…`` between them.
    """
    text = one_line(value, 4 * limit)
    if len(text) <= limit:
        return text or "(no name)"
    suffix = m.group() if isinstance(value, str) and (m := _SUFFIX.search(value)) else ""
    return text[:limit - len(suffix) - 1] + ELLIPSIS + suffix


# --- Markdown: student text only as code -------------------------------------------------------------
def _longest_run(text: str, ch: str = "`") -> int:
    return max((len(m) for m in re.findall(f"{re.escape(ch)}+", text)), default=0)


def md_code(value: Any, limit: int = NAME_LIMIT) -> str:
    """An inline code span holding ``value`` verbatim: its delimiter is longer than any backtick run in it."""
    text = one_line(value, limit) or " "
    ticks = "`" * (_longest_run(text) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def md_fence(value: Any, indent: str = "", limit: int = 20_000) -> list[str]:
    """A fenced code block holding ``value`` verbatim, as lines, each prefixed by ``indent``.

    The fence is longer than any backtick run in the text, so no line of it can close the block
    (CommonMark: a closing fence must be at least as long as the opening one).
    """
    text = plain(value, limit)
    fence = "`" * max(3, _longest_run(text) + 1)
    return [indent + fence, *(indent + line if line else indent.rstrip() for line in text.split("\n")),
            indent + fence]


# --- Markdown: one builder, so that no text becomes markup by being forgotten ----------------------
@dataclass(frozen=True)
class Code:
    """Inline code in a :class:`Markdown` line: ``text`` shown verbatim, on one line (:func:`md_code`)."""

    text: str
    limit: int = NAME_LIMIT


@dataclass(frozen=True)
class Strong:
    """Bold wording in a :class:`Markdown` line (the grader's own: a total, "Not graded")."""

    text: str


Inline = Union[str, Code, Strong]

_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_TAG_OR_AUTOLINK = re.compile(r"<[A-Za-z/!?]")
_WEB = re.compile(r"(?i)://|www\.|[\w.+-]@[\w-]+\.\w")
_STAR_RUN = re.compile(r"(?<!\s)\*+|\*+(?!\s)")
_UNDERSCORE_RUN = re.compile(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])")
_BLOCK_START = re.compile(r" {0,3}([#>=+*_-]|\d{1,9}[.)]|<)| {4}")


@functools.lru_cache(maxsize=4096)
def reads_as_itself(text: str) -> bool:
    """Whether Markdown (CommonMark with GFM's tables, strikethrough and autolinks) shows ``text``, placed
    within a line, as exactly its characters: one line without tabs, code, HTML, autolinks or web addresses,
    links or images, entities, backslash escapes, table cell separators or ``~`` (GFM strikes through
    ``~a~``), and with at most one ``*`` run and one ``_`` run that could open or close emphasis (a pair
    is needed to emphasise).

    Conservative: some text that would read as itself is refused (it is then shown as code); the rubric's
    own wording (titles, criterion names such as ``tanh**2`` or ``W2 @ (W1 @ x + b1)``) is accepted.
    """
    if any(ch in text for ch in "`\\|~\n\r\t") or "](" in text or "][" in text:
        return False
    if _ENTITY.search(text) or _TAG_OR_AUTOLINK.search(text) or _WEB.search(text):
        return False
    return len(_STAR_RUN.findall(text)) <= 1 and len(_UNDERSCORE_RUN.findall(text)) <= 1


def _inline(part: Inline) -> str:
    if isinstance(part, Code):
        return md_code(part.text, part.limit)
    if isinstance(part, Strong):
        return f"**{part.text}**" if reads_as_itself(part.text) and part.text.strip() == part.text \
            else f"**{md_code(part.text, MESSAGE_LIMIT)}**"
    return part if reads_as_itself(part) else md_code(part, MESSAGE_LIMIT)


def _no_block_start(parts: tuple[Inline, ...]) -> tuple[Inline, ...]:
    """``parts`` for the start of a line, its first text as code if Markdown would read it as a block."""
    if parts and isinstance(parts[0], str) and _BLOCK_START.match(parts[0]):
        return (Code(parts[0], MESSAGE_LIMIT), *parts[1:])
    return parts


class Markdown:
    """A Markdown document built from plain text: the one way the grader writes Markdown (the feedback).

    Every ``str`` a method takes is plain text. It is written as it is where Markdown shows it as it is
    (:func:`reads_as_itself`: the grader's wording, titles and criterion names) and as an inline code span
    otherwise, so a string that slipped in from a submission is still shown, never obeyed. Text a submission
    controls goes in as code on purpose: :class:`Code` inline, :meth:`code_block` fenced.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []

    def _line(self, parts: tuple[Inline, ...]) -> str:
        return "".join(_inline(p) for p in parts)

    def heading(self, level: int, *parts: Inline) -> Markdown:
        text = self._line(parts)
        if text.endswith("#"):  # a closing sequence of #s would be dropped from the heading
            text = text[:-1] + "\\#"
        self._lines.append(f"{'#' * level} {text}")
        return self

    def paragraph(self, *parts: Inline) -> Markdown:
        """One line of text; a start that Markdown would read as a block (``#``, ``>``, ``-``, ``1.`` ...)
        is shown as code."""
        self._lines.append(self._line(_no_block_start(parts)))
        return self

    def bullet(self, *parts: Inline) -> Markdown:
        """A list item of one line; a start read as a block, as in :meth:`paragraph`, is shown as code."""
        self._lines.append("- " + self._line(_no_block_start(parts)))
        return self

    def table(self, header: Sequence[Inline], rows: Iterable[Sequence[Inline]]) -> Markdown:
        """A table; a cell's ``|`` is refused by :func:`reads_as_itself` (shown as code), so no cell adds one."""
        self._lines.append("| " + " | ".join(_inline(c) for c in header) + " |")
        self._lines.append("|" + "---|" * len(header))
        self._lines.extend("| " + " | ".join(_inline(c) for c in row) + " |" for row in rows)
        return self

    def code_block(self, text: Any, indent: str = "", limit: int = 20_000) -> Markdown:
        """``text`` verbatim in a fenced block longer than any backtick run in it (:func:`md_fence`)."""
        self._lines.extend(md_fence(text, indent=indent, limit=limit))
        return self

    def blank(self) -> Markdown:
        self._lines.append("")
        return self

    def text(self) -> str:
        """The document: its lines joined by line breaks."""
        return "\n".join(self._lines)


# --- CSV: no cell a spreadsheet would evaluate ---------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# a spreadsheet that guesses another separator (";" is common) would start a new cell there
_INNER_START = re.compile(r"([,;|\t]\s*)(?=[=+\-@＝＋－＠])")


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell that a spreadsheet shows as text, never evaluates (OWASP CSV injection).

    Numbers (and strings that are plain numbers, such as ``-1.5``) are returned unchanged. Any
    other text whose first non-blank character would start a formula (``=``, ``+``, ``-``, ``@``,
    tab, carriage return, line feed, or their full-width forms) gets a leading ``'``, and so
    does every such character that follows a separator (``,``, ``;``, ``|``, tab): a spreadsheet
    that guesses another separator than the comma would otherwise see a cell start there. The
    ``csv`` module quotes the cell and doubles its quotes as usual.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    if _NUMBER.fullmatch(text.strip()):
        return text
    text = _INNER_START.sub(r"\1'", text)
    if text.lstrip(" ").startswith(_FORMULA_START):
        return "'" + text
    return text


def safe_name(name: str) -> str:
    """A file-system-safe stem for ``results/<name>.json`` and ``feedback/<name>.md``.

    Only ``[A-Za-z0-9._-]``, never starting with ``.`` or ``-`` (a hidden file, a shell option),
    at most 100 characters: a longer name is cut and keeps a digest of the whole, so that two
    long names sharing their start still get two files.
    """
    stem = re.sub(r"\.(ipynb|py)$", "", name)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-") or "submission"
    if len(safe) > 100:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        safe = f"{safe[:89].rstrip('._-')}-{digest}"
    return safe
