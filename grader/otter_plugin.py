"""The Otter plugin under the name instructors' configurations use.

``otter_config.json`` files and the master notebook's hidden tests name
``grader.otter_plugin.ActivationGraderPlugin`` and ``grader.otter_plugin.check_criterion``;
the plugin lives in :mod:`grader.interfaces.otter_plugin`, and this name stays valid.
"""
from grader.interfaces.otter_plugin import ActivationGraderPlugin, check_criterion

__all__ = ["ActivationGraderPlugin", "check_criterion"]
