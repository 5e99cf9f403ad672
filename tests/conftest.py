"""Shared test configuration.

Property tests run a fixed, derandomized set of examples by default, so CI is
reproducible; ``HYPOTHESIS_PROFILE=explore`` runs many more random ones.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", max_examples=12, derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
