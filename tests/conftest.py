"""Shared fixtures: the bundled clinical content."""

from __future__ import annotations

import pytest

from sigmd import content
from sigmd.core.knowledge import Knowledge


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return content.load()
