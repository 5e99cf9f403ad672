"""Shared test configuration.

Property tests run a fixed, derandomized set of examples by default, so CI is
reproducible; ``HYPOTHESIS_PROFILE=explore`` runs many more random ones.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("default", max_examples=12, derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _no_terminal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see output as a file does (132-column tables), whatever the terminal: pytest-xdist
    workers inherit ``COLUMNS=80`` and ``LINES=24``, which ``authsim`` would honour. A test
    about widths sets ``COLUMNS`` itself."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
