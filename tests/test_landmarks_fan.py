"""The optional face-alignment backend: clear errors without weights, and real detection where the weights are
cached. Nothing here downloads."""
from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

pytest.importorskip("face_alignment")

import face_alignment.utils  # noqa: E402

from base.errors import BackendUnavailableError  # noqa: E402
from reconstruction import landmarks_fan  # noqa: E402
from reconstruction.landmarks import create_detector  # noqa: E402
from reconstruction.landmarks_fan import (  # noqa: E402
    FaceAlignmentDetector,
    missing_weights_message,
)

FAN_WEIGHTS = "2DFAN4-11f355bf06.pth.tar"
S3FD_WEIGHTS = "s3fd-619a316812.pth"


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any weight download, as on a machine without internet."""
    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise URLError(f"downloads are disabled in tests ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(face_alignment.utils, "download_url_to_file", refuse)


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path / "hub" / "checkpoints"


@pytest.mark.parametrize("build", [FaceAlignmentDetector, lambda: create_detector("face-alignment")],
                         ids=["class", "create_detector"])
def test_missing_weights_name_files_and_cache_path(empty_torch_home: Path, build) -> None:
    with pytest.raises(BackendUnavailableError) as excinfo:
        build()
    message = str(excinfo.value)
    assert FAN_WEIGHTS in message and S3FD_WEIGHTS in message
    assert str(empty_torch_home) in message
    assert "mediapipe" in message


def test_download_failure_becomes_backend_error(empty_torch_home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Skip the cache check so face_alignment itself tries, and fails, to download.
    monkeypatch.setattr(landmarks_fan, "missing_weights_message", lambda: None)
    with pytest.raises(BackendUnavailableError, match="could not fetch") as excinfo:
        FaceAlignmentDetector()
    assert isinstance(excinfo.value.__cause__, URLError)
    assert str(empty_torch_home) in str(excinfo.value)


@pytest.fixture
def random_weights(empty_torch_home: Path) -> None:
    """Random networks saved under the official names: loads like the real thing, offline."""
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    empty_torch_home.mkdir(parents=True)
    torch.save(FAN(4).state_dict(), empty_torch_home / FAN_WEIGHTS)
    torch.save(s3fd().state_dict(), empty_torch_home / S3FD_WEIGHTS)


def test_detect_keeps_the_largest_faces(random_weights: None, monkeypatch: pytest.MonkeyPatch) -> None:
    detector = FaceAlignmentDetector(max_faces=2)
    # Random s3fd weights find random boxes, so hand it three faces of known size.
    boxes = [np.array([10.0, 10, 50, 50, 0.7]),      # small
             np.array([100.0, 20, 220, 140, 0.9]),   # largest
             np.array([60.0, 120, 140, 200, 0.8])]   # middle
    monkeypatch.setattr(detector._fa.face_detector, "detect_from_image", lambda frame: boxes)
    frame = np.zeros((240, 240, 3), dtype=np.uint8)
    faces = detector.detect(frame)
    detector.close()

    assert [face.score for face in faces] == [pytest.approx(0.9), pytest.approx(0.8)]
    for face in faces:
        assert face.points.shape == (68, 3) and face.points.dtype == np.float32
        assert np.isnan(face.points[:, 2]).all() and np.isfinite(face.points[:, :2]).all()


def test_detects_68_points_on_astronaut_face() -> None:
    reason = missing_weights_message()
    if reason is not None:
        pytest.skip(reason)
    from skimage.data import astronaut

    detector = FaceAlignmentDetector(max_faces=1)
    try:
        faces = detector.detect(astronaut())
    finally:
        detector.close()

    assert len(faces) == 1
    points = faces[0].points
    assert points.shape == (68, 3) and points.dtype == np.float32
    assert np.isnan(points[:, 2]).all()
    # The face spans about x 179..271, y 71..177 (mediapipe's box) in the 512 x 512 image.
    x, y = points[:, 0], points[:, 1]
    assert (x > 160).all() and (x < 290).all() and (y > 60).all() and (y < 200).all()
    assert x.max() - x.min() > 50, "points collapsed instead of outlining the face"
