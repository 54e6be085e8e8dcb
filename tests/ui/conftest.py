"""pytest fixtures for the GUI tests live in conftest_ui (also importable helpers)."""

from conftest_ui import make_window  # noqa: F401  (fixture)
