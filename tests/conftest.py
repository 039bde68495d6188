"""Shared fixtures: where the real footage is, and skipping cleanly without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", Path(__file__).parents[1].parent / "shared" / "footage"))


@pytest.fixture(scope="session")
def footage() -> Path:
    """The folder of real clips (see its README.md); skips the test when absent."""
    if not FOOTAGE.is_dir():
        pytest.skip(f"real footage not found at {FOOTAGE}; set DVP_FOOTAGE")
    return FOOTAGE


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses real footage, so `-m "not footage"` leaves them out."""
    for item in items:
        if "footage" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.footage)
