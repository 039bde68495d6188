"""Shared fixtures: where the real footage is, and skipping cleanly without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.demo import astronaut_clip
from pipeline.tracking import TrackOptions, track_video

FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", Path(__file__).parents[1].parent / "shared" / "footage"))


@pytest.fixture(scope="session")
def footage() -> Path:
    """The folder of real clips (see its README.md); skips the test when absent."""
    if not FOOTAGE.is_dir():
        pytest.skip(f"real footage not found at {FOOTAGE}; set DVP_FOOTAGE")
    return FOOTAGE


@pytest.fixture(scope="session", autouse=True)
def signing_pair(tmp_path_factory):
    """Outputs the tests make are signed with a pair of their own, never one in the user's data folder."""
    from pipeline.provenance import make_test_pair

    pair = make_test_pair(tmp_path_factory.mktemp("signing"))
    os.environ["DVP_SIGNING_KEY"], os.environ["DVP_SIGNING_CERT"] = str(pair.key), str(pair.cert)
    return pair


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses real footage, so `-m "not footage"` leaves them out."""
    for item in items:
        if "footage" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.footage)


@pytest.fixture(scope="session")
def astro(tmp_path_factory):
    """A 40-frame moving astronaut clip and its track: (video, track path)."""
    folder = tmp_path_factory.mktemp("astro")
    video = folder / "astro.mp4"
    astronaut_clip(video, frames=40)
    track_video(video, folder / "astro.npz", options=TrackOptions(show_progress=False))
    return video, folder / "astro.npz"


@pytest.fixture(scope="session")
def tiny_model(astro, tmp_path_factory):
    """A `tiny` model trained for 60 steps on the astronaut clip: (model folder, training summary)."""
    from translation.config import preset
    from translation.training import TrainOptions, train

    video, track = astro
    folder = tmp_path_factory.mktemp("model") / "m"
    return folder, train(video, folder, preset("tiny"), track, TrainOptions(steps=60, show_progress=False))
