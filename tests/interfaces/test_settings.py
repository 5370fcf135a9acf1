"""One schema of options (grader.pipeline.settings): the command line's options and the Otter plugin's
keys are built and checked from it, and both reach the same Options through one function."""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from grader.interfaces.cli import grade, main
from grader.pipeline.settings import (
    BY_NAME,
    SETTINGS,
    SEED_SECRET_ENV,
    Setting,
    SettingError,
    Values,
    cli_settings,
    plugin_keys,
    plugin_values,
)
from grader.pipeline.tasks import Options, options_from
from grader.sandbox.process import Limits

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_line_offers_exactly_the_schemas_settings_in_its_order():
    offered = [(p.name, tuple(p.opts)) for p in grade.params if isinstance(p, click.Option) and p.name != "help"]
    assert offered == [(s.name, s.flags) for s in cli_settings()]
    assert [p.name for p in grade.params if isinstance(p, click.Argument)] == ["paths"]


def test_the_plugin_keys_are_exactly_the_schemas_and_the_docs_name_them_all():
    assert set(plugin_keys()) == {s.name for s in SETTINGS if s.plugin}
    assert set(plugin_values({})) == set(BY_NAME)  # every setting has a value, the others at their defaults
    docs = (ROOT / "docs" / "otter.md").read_text(encoding="utf-8")
    paragraph = docs[docs.index("Plugin options, under `plugins:`"):].split("They have the defaults")[0]
    named = set(re.findall(r"`([a-z_]+)`", paragraph)) - {"plugins"} - set(BY_NAME["isolation"].choices) \
        - set(BY_NAME["sandbox"].choices)
    assert named == set(plugin_keys())


def test_every_plugin_key_is_accepted_by_the_plugin():
    from grader.interfaces.otter_plugin import ActivationGraderPlugin

    config = {"isolation": "none", "require_isolation": "none", "sandbox": "process", "timeout": 30,
              "step_timeout": 5, "memory_mb": 1024, "seed": 7, "seed_secret": "s", "execute_in_otter": True}
    assert set(config) == set(plugin_keys())
    plugin = ActivationGraderPlugin("s.ipynb", {}, config)
    options = plugin._options()
    assert plugin.execute_in_otter is True
    assert (options.isolation, options.require_isolation, options.seed, options.seed_secret) == ("none", "none", 7, "s")
    assert options.limits == Limits(timeout=30.0, step_timeout=5.0, memory_bytes=1024 * 2**20)


@pytest.mark.parametrize("help_text", ["", "   ", "\n\t"])
def test_a_setting_without_help_text_is_refused(help_text):
    with pytest.raises(ValueError, match="'colour' has no help text"):
        Setting("colour", str, "blue", help_text, flags=("--colour",))
    assert Setting("colour", str, "blue", "The colour.", flags=("--colour",)).help == "The colour."


def test_a_setting_offered_nowhere_or_with_a_default_outside_its_choices_is_refused():
    with pytest.raises(ValueError, match="offered nowhere"):
        Setting("colour", str, "blue", "The colour.")
    with pytest.raises(ValueError, match="not one of"):
        Setting("colour", str, "blue", "The colour.", plugin=True, choices=("red", "green"))


def test_the_defaults_are_those_of_options_and_limits():
    """The schema's defaults give the options a task has when nothing is said (Options(), Limits())."""
    assert options_from(Values({})) == Options()
    assert options_from(plugin_values({})) == Options()
    assert SEED_SECRET_ENV == __import__("grader.rubric.probes", fromlist=["x"]).SEED_SECRET_ENV


@pytest.mark.parametrize("config, key, says", [
    ({"timout": 30}, "'timout'", "has no key"),
    ({"isolation": "none", "jobs": 4}, "'jobs'", "has no key"),  # a command-line option, not a plugin key
    ({"timeout": 0.5}, "timeout", "a number of seconds (at least 1), not 0.5"),
    ({"timeout": "soon"}, "timeout", "not 'soon'"),
    ({"timeout": float("inf")}, "timeout", "not inf"),
    ({"step_timeout": 0.1}, "step_timeout", "(at least 0.5)"),
    ({"memory_mb": 64}, "memory_mb", "a whole number of MiB (at least 128), not 64"),
    ({"isolation": "chroot"}, "isolation", "one of auto, root, userns, uid, landlock, none, not 'chroot'"),
    ({"require_isolation": "auto"}, "require_isolation", "one of none, landlock, userns, uid, root"),
    ({"sandbox": "vm"}, "sandbox", "one of process, docker"),
    ({"seed": "lucky"}, "seed", "a whole number, not 'lucky'"),
])
def test_a_bad_plugin_config_is_refused_with_the_key_named(config, key, says):
    with pytest.raises(SettingError) as refused:
        plugin_values(config)
    assert key in refused.value.message and says in refused.value.message
    if "has no key" in says:  # and the keys that are valid
        assert refused.value.message.endswith("its keys are " + ", ".join(plugin_keys()))


def test_the_plugin_stops_on_a_bad_config_before_it_grades(tmp_path, monkeypatch):
    import grader.interfaces.otter_plugin as plugin_module
    from grader.interfaces.otter_plugin import PLUGIN_NAME, ActivationGraderPlugin

    submission = tmp_path / "mine.py"
    submission.write_text("x = 1\n")
    started = []
    monkeypatch.setattr(plugin_module, "get_worker", lambda options: started.append(options))
    monkeypatch.setattr(plugin_module, "grade_submission", lambda *a: started.append(a))
    plugin = ActivationGraderPlugin(str(submission), {}, {"isolation": "none", "step_timout": 5})
    with pytest.raises(Exception) as refused:
        plugin.before_grading(SimpleNamespace(grade_from_log=False))
    assert str(refused.value) == (f"{PLUGIN_NAME}: the plugin's config has no key 'step_timout': its keys are "
                                  + ", ".join(plugin_keys()))
    assert started == [] and plugin.record is None


@pytest.mark.parametrize("args, config", [
    ([], {}),
    (["--timeout", "5", "--step-timeout", "30"], {"timeout": 5, "step_timeout": 30}),  # the step held to the whole
    (["--memory", "300", "--seed", "3", "--isolation", "none"], {"memory_mb": "300", "seed": 3, "isolation": "none"}),
    (["--sandbox", "docker", "--require-isolation", "uid", "--seed-secret", "k"],
     {"sandbox": "docker", "require_isolation": "uid", "seed_secret": "k"}),
])
def test_the_command_and_the_plugin_build_the_same_options(args, config, monkeypatch, tmp_path):
    """What the command line reads and what the plugin reads become Options in one function: equal inputs,
    equal options (the step clamped to the timeout, MiB in bytes, the secret kept)."""
    import grader.pipeline.preflight as preflight

    monkeypatch.delenv(SEED_SECRET_ENV, raising=False)
    seen = []

    def stop(options):
        seen.append(options)
        raise SystemExit(0)

    monkeypatch.setattr(preflight, "check_setup", stop)
    result = CliRunner().invoke(main, ["grade", str(tmp_path), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 0, result.output
    assert seen == [options_from(plugin_values(config))]
    assert seen[0].limits.step_timeout <= seen[0].limits.timeout
