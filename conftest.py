"""Root conftest: makes the checkout importable and turns scenarios/*.yaml into test items."""

pytest_plugins = ["sim.pytest_plugin"]
