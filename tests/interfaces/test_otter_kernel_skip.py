"""The zip's run (grader.interfaces.otter_gradescope) starts no Otter kernel when the plugin's results replace
Otter's, starts the plugin's worker while Otter is imported, and prints its timings.

Otter's kernel would run the plugin's empty notebook and the hidden tests against nothing, results
that after_grading throws away: the run is skipped only where every plugin is this project's and
none asks for ``execute_in_otter``. Scores are unchanged (test_docker_otter.py and
test_gradescope_run.py compare them with `activation-grader grade`).
"""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.otter


class Collection:
    """Otter's PluginCollection as grade_notebook uses it: the plugins and their events."""

    def __init__(self, plugins):
        self._plugins = plugins
        self.events = []

    def run(self, event, *args):
        self.events.append((event, args))


def _original_calls():
    calls = []

    def original(path, **kwargs):
        calls.append(path)
        return "otter's results"
    return original, calls


def test_no_kernel_when_the_plugin_replaces_otters_results():
    from otter.test_files import GradingResults

    from grader.interfaces.otter_gradescope import grade_without_kernel
    from grader.interfaces.otter_plugin import ActivationGraderPlugin

    original, calls = _original_calls()
    collection = Collection([ActivationGraderPlugin("sub.ipynb", {}, {"isolation": "auto"})])
    results = grade_without_kernel(original)("sub.ipynb", plugin_collection=collection, tests_glob=[])
    assert calls == []  # Otter's grade_notebook (its kernel) never ran
    assert isinstance(results, GradingResults) and results.results == {}
    assert [event for event, _ in collection.events] == ["after_grading"]
    assert collection.events[0][1][0] is results


@pytest.mark.parametrize("plugins", ["execute_in_otter", "another plugin", "none"])
def test_otters_kernel_runs_whenever_it_is_of_use(plugins):
    from grader.interfaces.otter_gradescope import grade_without_kernel
    from grader.interfaces.otter_plugin import ActivationGraderPlugin

    original, calls = _original_calls()
    if plugins == "none":
        collection = None
    elif plugins == "execute_in_otter":
        collection = Collection([ActivationGraderPlugin("sub.ipynb", {}, {"execute_in_otter": True})])
    else:
        collection = Collection([ActivationGraderPlugin("sub.ipynb", {}, {}), object()])
    assert grade_without_kernel(original)("sub.ipynb", plugin_collection=collection) == "otter's results"
    assert calls == ["sub.ipynb"]


def test_the_run_prints_its_timings(tmp_path, capsys):
    from grader.interfaces.otter_gradescope import TIMINGS_MARK, main

    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "activations.ipynb").write_bytes(b"")
    assert main(str(tmp_path), started=None) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(TIMINGS_MARK)]
    timings = json.loads(line[len(TIMINGS_MARK):])
    assert {"start", "prestart", "total", "cpu"} <= set(timings) and timings["total"] >= 0


def test_the_plugin_options_are_read_once_for_the_worker_and_the_plugin(tmp_path, monkeypatch):
    """The worker launched early has the plugin's options, so the plugin finds it (grader.pipeline.warm's key)."""
    from grader.pipeline import warm
    from grader.interfaces.otter_gradescope import plugin_options, prestart_worker
    from grader.interfaces.otter_plugin import ActivationGraderPlugin

    config = {"isolation": "none", "timeout": 30, "memory_mb": 1024}
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "otter_config.json").write_text(json.dumps(
        {"plugins": [{"grader.otter_plugin.ActivationGraderPlugin": config}]}))
    launched = []
    monkeypatch.setattr(warm, "prestart", launched.append)
    assert prestart_worker(tmp_path) is True
    assert launched == [plugin_options(config)] == [ActivationGraderPlugin("s.ipynb", {}, config)._options()]
    (tmp_path / "source" / "otter_config.json").write_text(json.dumps({"plugins": []}))
    assert prestart_worker(tmp_path) is False and len(launched) == 1
