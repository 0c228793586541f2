"""Root conftest: makes the checkout importable, turns scenarios/*.yaml into test items, and sets
hypothesis up so no test fails on machine speed (no deadline) and CI runs are repeatable
(derandomized when the CI variable is set)."""

import os

from hypothesis import settings

pytest_plugins = ["sim.pytest_plugin"]

settings.register_profile("project", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "project")
