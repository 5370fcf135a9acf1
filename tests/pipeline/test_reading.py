"""Reading every form of submission the contract allows, within bounds.

Percent-format scripts go through jupytext (titles on marker lines, markdown
and raw cells not run, ``# In[ ]:`` exports), notebooks of every nbformat
version are upgraded, saved outputs and attachments are dropped before any
limit applies, and what reading may cost (file size, cells, code) is bounded
before the expensive steps, with a clear status. End to end, each form scores
what the plain solution scores.
"""
from __future__ import annotations

import time
import base64
import json
import types

import nbformat
import pytest
from nbformat import v3, v4

from grader.pipeline import grading, stopwatch
from grader.pipeline.grading import grade
from grader.pipeline.tasks import Options
from grader.pipeline.warm import close_workers
from grader.pipeline.notebook import MAX_CELLS, ReadLimits, SubmissionError, load, read_script
from grader.sandbox.process import Limits

from conftest import GOLDEN

OPTIONS = Options(seed=11, limits=Limits(timeout=60, step_timeout=10))
SOLUTION = (GOLDEN / "solution.py").read_text()


def solution_cells() -> list[str]:
    """The golden solution's cells, as the plain script is read."""
    return [c for c in load("solution.py", SOLUTION.encode()).cells]


def graded(name: str, content: bytes, options: Options = OPTIONS) -> dict:
    try:
        return grade({"name": name, "content": content, "options": options.to_dict()})
    finally:
        close_workers()


@pytest.fixture(scope="module")
def plain_scores() -> dict:
    record = graded("solution.py", SOLUTION.encode())
    assert record["status"] == "graded" and record["score"] == 100
    return {q: ex["score"] for q, ex in record["exercises"].items()}


def scores(record: dict) -> dict:
    return {q: ex["score"] for q, ex in record["exercises"].items()}


def refused(name: str, content: bytes, limits: ReadLimits = ReadLimits()) -> SubmissionError:
    with pytest.raises(SubmissionError) as failure:
        load(name, content, limits)
    return failure.value


# --- scripts -----------------------------------------------------------------------------------------
def titled_script() -> str:
    """The solution with a title on every marker, markdown cells between them, a jupytext header."""
    parts = SOLUTION.split("# %%")
    out = ["# ---\n# jupyter:\n#   jupytext:\n#     formats: ipynb,py:percent\n# ---\n"]
    for i, part in enumerate(p for p in parts if p.strip()):
        out.append(f"# %% [markdown]\n# ## Exercise {i}\n# Write `raise SystemExit` here? No: *this is text*.\n")
        out.append(f"# %% q{i}: exercise {i} title, with words\n{part.strip()}\n\n")
    return "\n".join(out)


def test_titles_markdown_and_raw_cells_in_percent_scripts():
    cells = read_script("# %% q1: sigmoid\ndef f(x):\n    return x\n\n"
                        "# %% [markdown]\n# Some *text*: not Python\n\n"
                        "# %% [raw]\n raw text, not run\n\n"
                        "#%% no space, tags=[\"a\"]\ny = 2\n")
    assert [c.strip() for c in cells] == ["def f(x):\n    return x", "y = 2"]


def test_scripts_exported_from_jupyter_split_at_their_in_markers():
    text = ("#!/usr/bin/env python\n# coding: utf-8\n\n# # Title\n\n# In[1]:\n\n\nimport numpy as np\n\n\n"
            "# In[ ]:\n\n\nraise ValueError('a failing cell')\n\n\n# In[12]:\n\n\nz = np.zeros(2)\n")
    cells = [c.strip() for c in read_script(text)]
    assert cells[-3:] == ["import numpy as np", "raise ValueError('a failing cell')", "z = np.zeros(2)"]


def test_a_script_without_markers_is_one_cell_and_magics_become_calls():
    assert read_script("x = 1\ny = 2\n") == ["x = 1\ny = 2\n"]
    (cell,) = read_script("# %%\n%matplotlib inline\n!pip install x\n")
    assert "run_line_magic('matplotlib', 'inline')" in cell and "system('pip install x')" in cell
    (cell,) = read_script("# %%\n# %matplotlib inline\nx = '''\n# %s\n'''\n")  # comments stay comments
    assert cell == "# %matplotlib inline\nx = '''\n# %s\n'''\n"


def test_titled_percent_script_scores_like_the_plain_one(plain_scores):
    content = titled_script().encode()
    assert [c.strip() for c in load("titled.py", content).cells] == [c.strip() for c in solution_cells()]
    record = graded("titled.py", content)
    assert record["status"] == "graded" and not record["cells"]["errors"], record["cells"]
    assert scores(record) == plain_scores


def test_exported_script_scores_like_the_plain_one(plain_scores):
    text = "#!/usr/bin/env python\n# coding: utf-8\n\n" + "".join(
        f"# In[{i}]:\n\n\n{part.strip()}\n\n\n" for i, part in enumerate(p for p in SOLUTION.split("# %%") if p.strip()))
    record = graded("exported.py", text.encode())
    assert record["cells"]["count"] == len(solution_cells()) and scores(record) == plain_scores


# --- notebooks of every version, with outputs ----------------------------------------------------------
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64).decode()


def notebook_v4(cells: list[str], image_bytes: int = 0, minor: int = 5) -> bytes:
    """The cells as an nbformat 4 notebook; every code cell carries ``image_bytes`` of image outputs."""
    nb = v4.new_notebook()
    per_cell = image_bytes // max(1, len(cells))
    image = (PNG * (per_cell // len(PNG) + 1))[:per_cell]
    for source in cells:
        outputs = [v4.new_output("display_data", data={"image/png": image, "text/plain": "<Figure>"}),
                   v4.new_output("stream", text="printed\n" * 10)] if image_bytes else []
        extra = {"attachments": {"plot.png": {"image/png": image}}} if image_bytes else {}
        nb.cells.append(v4.new_markdown_cell("![plot](attachment:plot.png)", **extra))
        nb.cells.append(v4.new_code_cell(source, outputs=outputs, execution_count=1))
    nb.nbformat_minor = minor
    if minor < 5:
        for cell in nb.cells:
            cell.pop("id", None)
    text = nbformat.writes(nb, version=4) if minor == 5 else json.dumps(nb)
    return text.encode()


def notebook_v3(cells: list[str]) -> bytes:
    ws = v3.new_worksheet(cells=[v3.new_code_cell(input=c, outputs=[v3.new_output("stream", output_text="hi")])
                                 for c in cells] + [v3.new_text_cell("markdown", source="# the end")])
    return v3.writes_json(v3.new_notebook(worksheets=[ws])).encode()


@pytest.mark.parametrize("version", ["4.5", "4.4", "4.0", "3", "2", "1"])
def test_notebooks_of_every_version_read_the_same_code(version):
    cells = solution_cells()
    if version.startswith("4"):
        content = notebook_v4(cells, minor=int(version[2]))
    elif version == "3":
        content = notebook_v3(cells)
    elif version == "2":
        from nbformat import v2

        ws = v2.new_worksheet(cells=[v2.new_code_cell(input=c) for c in cells])
        content = v2.writes_json(v2.new_notebook(worksheets=[ws])).encode()
    else:
        from nbformat import v1

        nb = v1.new_notebook(cells=[v1.new_code_cell(code=c) for c in cells] + [v1.new_text_cell("markdown")])
        content = json.dumps({"nbformat": 1, **nb}).encode()  # (nbformat's v1 writer leaves the version out)
    sub = load(f"v{version}.ipynb", content)
    assert [c.strip() for c in sub.cells] == [c.strip() for c in cells]
    assert any("upgraded to format 4" in n for n in sub.notes) == (not version.startswith("4"))


def test_a_correct_notebook_with_40_mb_of_images_scores_full(plain_scores):
    content = notebook_v4(solution_cells(), image_bytes=40 * 2**20)
    assert len(content) > 80 * 2**20  # 40 MB of image outputs, as many again of attachments
    record = graded("with_images.ipynb", content)
    assert record["status"] == "graded", record["message"]
    assert scores(record) == plain_scores


def test_outputs_and_attachments_never_count_against_the_code_limit():
    limits = ReadLimits(max_code_chars=20_000)
    assert load("a.ipynb", notebook_v4(solution_cells(), image_bytes=4 * 2**20), limits).cells
    failure = refused("a.ipynb", notebook_v4(solution_cells() + ["x = 1\n" * 5_000]), limits)
    assert failure.status == "too-large" and "20,000 characters of code" in failure.message


def test_markdown_text_is_not_code():
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("![x](data:image/png;base64," + "A" * 50_000 + ")"),
                                v4.new_code_cell("x = 1")])
    assert load("a.ipynb", nbformat.writes(nb).encode(), ReadLimits(max_code_chars=100)).cells == ["x = 1\n"]


# --- bounds ------------------------------------------------------------------------------------------------
def many_cells(n: int, tail: str = "") -> bytes:
    cells = ",".join(json.dumps({"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
                                 "outputs": [], "source": f"x{i} = {i}"}) for i in range(n))
    return (f'{{"nbformat": 4, "nbformat_minor": 5, "metadata": {{}}, "cells": [{cells}{tail}]}}').encode()


def test_a_notebook_of_100000_cells_is_refused_before_it_is_parsed_to_the_end():
    # the file is broken after its last cell: refused for its cells, so the parser stopped at the limit
    failure = refused("many.ipynb", many_cells(100_000, tail=", {broken"))
    assert failure.status == "too-large" and f"more than {MAX_CELLS:,} cells" in failure.message
    assert load("just_enough.ipynb", many_cells(MAX_CELLS)).cells[-1] == f"x{MAX_CELLS - 1} = {MAX_CELLS - 1}\n"


def test_a_notebook_of_100000_cells_gets_a_row_saying_why():
    record = graded("many.ipynb", many_cells(100_000))
    assert record["status"] == "too-large" and "cells" in record["message"] and record["score"] == 0
    assert all("not graded" in ex["feedback"] for ex in record["exercises"].values())


def test_too_much_code_is_refused_while_parsing():
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": "x = 1\n" * 1000}
    content = json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [cell] * 3})
    failure = refused("code.ipynb", (content[:-2] + ", {broken").encode(), ReadLimits(max_code_chars=10_000))
    assert failure.status == "too-large" and "characters of code" in failure.message


def test_file_size_is_checked_first():
    failure = refused("big.ipynb", b"\xff" * (2 * 2**20), ReadLimits(max_bytes=2**20))  # not even decoded
    assert failure.status == "too-large" and "2.0 MiB, over the limit of 1 MiB" in failure.message


def test_scripts_are_bounded_in_cells_and_code():
    failure = refused("many.py", ("# %%\nx = 1\n" * (MAX_CELLS + 1)).encode())
    assert failure.status == "too-large" and "cells" in failure.message
    failure = refused("long.py", b"x = 1\n" * 2000, ReadLimits(max_code_chars=10_000))
    assert failure.status == "too-large" and "the script holds more than 10,000 characters" in failure.message


@pytest.mark.parametrize("content, status, words", [
    (b'{"nbformat": 4, "cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "invalid-notebook", "not valid JSON"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": {"0": {}}}', "invalid-notebook",
     "could not be read"),
    (b'{"nbformat": 99, "cells": []}', "invalid-notebook", "could not be read"),
    (b'[{"cell_type": "code"}]', "invalid-notebook", "not a Jupyter notebook"),
])
def test_broken_notebooks_keep_their_statuses(content, status, words):
    failure = refused("broken.ipynb", content)
    assert failure.status == status and words in failure.message, failure.message


def test_reading_time_counts_against_the_submission_timeout(monkeypatch):
    """Reading that took the whole timeout leaves nothing for the sandbox: the row says timeout."""
    now = [0.0]  # the stopwatch's clock, which only reading moves on

    def slow_load(name, content):
        now[0] += 61.0
        return load(name, content)

    monkeypatch.setattr(stopwatch, "time", types.SimpleNamespace(monotonic=lambda: now[0], process_time=time.process_time))
    monkeypatch.setattr(grading, "load", slow_load)
    record = graded("solution.py", SOLUTION.encode(), Options(seed=11, limits=Limits(timeout=60, step_timeout=10)))
    assert record["status"] == "timeout" and record["score"] == 0
    assert "used up its 60 s before this call" in record["exercises"]["q1"]["feedback"]
    assert not record["cells"]["errors"] and record["message"].startswith("the submission used up its 60 s")


def output_of(payload: str) -> bytes:
    """A one-cell notebook whose output holds ``payload`` (JSON text) as application/json data."""
    return ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", '
            '"execution_count": 1, "id": "a", "metadata": {}, "source": "x = 1", "outputs": [{"output_type": '
            '"display_data", "metadata": {}, "data": {"application/json": %s}}]}]}' % payload).encode()


@pytest.mark.parametrize("item, words", [('"ab"', "strings"), ("{}", "lists and objects"), ("[]", "lists and objects"),
                                         ("0.5", "items")])
def test_outputs_made_of_millions_of_tiny_values_are_refused_before_parsing(item, words):
    limits = ReadLimits(max_json_containers=10_000, max_json_strings=20_000, max_json_items=50_000)
    failure = refused("tiny.ipynb", output_of("[" + ",".join([item] * 60_000) + "]"), limits)
    assert failure.status == "too-large" and "too many values" in failure.message and words in failure.message
    # the same values in realistic numbers, such as a plot's data, are read (numbers as they come)
    assert load("plot.ipynb", output_of("[" + ",".join([item] * 5_000) + "]"), limits).cells == ["x = 1\n"]


def test_snapshot_of_every_reading_message(request):
    """What a student reads for each way reading refuses a file (UPDATE_SNAPSHOTS=1 to accept a change)."""
    import os

    from conftest import ROOT

    small = ReadLimits(max_bytes=2**20, max_code_chars=10_000, max_json_containers=10_000,
                       max_json_strings=20_000, max_json_items=50_000)
    cases = {
        "file over the size limit": ("big.ipynb", b" " * (2 * 2**20)),
        "tiny values": ("tiny.ipynb", output_of("[" + ",".join(["{}"] * 60_000) + "]")),
        "too many cells": ("many.ipynb", many_cells(MAX_CELLS + 1)),
        "too much code": ("code.ipynb", notebook_v4(["x = 1\n" * 2_000])),
        "script too long": ("long.py", b"x = 1\n" * 2_000),
        "script with too many cells": ("many.py", ("# %%\nx = 1\n" * (MAX_CELLS + 1)).encode()),
        "not UTF-8": ("latin1.py", "x = 'caf\u00e9'".encode("latin-1")),
        "not JSON": ("broken.ipynb", b'{"nbformat": 4, "cells": [}'),
        "JSON, not a notebook": ("list.ipynb", b"[1, 2]"),
        "unknown version": ("v99.ipynb", b'{"nbformat": 99, "cells": []}'),
    }
    lines = []
    for what, (name, content) in cases.items():
        limits = small if what in ("file over the size limit", "tiny values", "too much code", "script too long") \
            else ReadLimits()
        failure = refused(name, content, limits)
        lines.append(f"## {what}\n{failure.status}: {failure.message}\n")
    text = "\n".join(lines)
    snapshot = ROOT / "tests" / "snapshots" / "reading_messages.md"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text)
    assert text == snapshot.read_text(), f"messages changed: UPDATE_SNAPSHOTS=1 to accept ({snapshot})"


# --- IPython syntax, in time linear in the cell -------------------------------------------------------------
IPYTHON_CELLS = [
    "%matplotlib inline\nimport numpy as np\n",
    "x = !ls\ny = %time f()\n",
    "def f():\n    !ls\n    return 1\n",
    "x?\n??y\nz = 1 # what?\n",
    "%%time\nx = 1\n",
    "s = '''\n%notmagic\n!nope\n'''\nprint(s)\n",
    "foo(a\n    , b)\n/f x\n",
    "if a != b:\n    c = 1\n",
    ">>> x = 1\n>>> y = 2\n",
    "\n\n   x = 1\n   y = 2\n",
    "!ls \\\n  -l\nx = 1\n",
    "x = f'{a}?'\n",
    "for i in range(3):\n    %time g(i)\nprint('done')\n",
    "a = [1,\n  2,\n  %x]\n",
    "x = 1; !echo hi\n",
    "try:\n    pass\nexcept:\n    x = %who_ls\n",
    "%pip install numpy\nimport numpy as np\nnp.array?\n",
    "x = (\n  1 +\n  2)\n%time y = x\n",
    "def f(x):\n    '''Doc?'''\n    return x % 2\n",
    "x = 1",
]
LINES = ["x = 1", "%time y = f(x)", "!pip install numpy", "z = !ls", "w = %who_ls", "np.array?", "??np",
         "def f(a):", "    return a % 2", "    !echo in a body", "s = '''", "%inside a string", "'''",
         "a = [1,", "  , 2]", "# a question?", "", "if x != 2:", "    pass", "/print 1", ">>> 1 + 1"]


def ipython(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def linear(source: str) -> str:
    """The linear pass that cells beyond the budget take (no budget at all)."""
    from grader.pipeline.notebook import transform

    return transform(source, budget=[0, 10**9])


@pytest.mark.parametrize("source", IPYTHON_CELLS)
def test_ipython_syntax_is_transformed_exactly_as_ipython_does(source):
    from grader.pipeline.notebook import transform

    assert transform(source) == ipython(source)
    assert linear(source) == ipython(source)


def test_the_linear_pass_transforms_any_valid_arrangement_as_ipython_does():
    """Wherever IPython makes the cell valid Python, the linear pass gives the same code."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from(LINES), max_size=12))
    def same(lines):
        source = "\n".join(lines)
        expected = ipython(source)
        try:
            compile(expected, "<cell>", "exec")
        except SyntaxError:
            return  # IPython's result would not run either
        assert linear(source) == expected

    same()


def test_a_cell_of_20000_magics_is_transformed_in_bounded_work():
    """IPython's own transform_cell gives up after 500 transforms (minutes later). The linear pass translates
    every line; by default a submission gets MAX_SYNTAX_LINES of them, and the rest stay as they are."""
    from grader.pipeline.notebook import MAX_SYNTAX_LINES, transform

    translated = "get_ipython().run_line_magic('time', 'x = 1')"
    assert linear("%time x = 1\n" * 20_000).count(translated) == 20_000
    assert transform("%time x = 1\n" * 20_000).count(translated) == MAX_SYNTAX_LINES
