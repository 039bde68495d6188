"""The Track file: round trip, and clear refusals."""
import json

import numpy as np
import pytest

from base.errors import TrackFormatError
from reconstruction.track import VERSION, Track, load_track


def tiny_track(frames=4):
    rng = np.random.default_rng(0)
    return Track(
        header={"model": {"expression_names": ["jaw_open", "blink_left", "blink_right"]}},
        valid=np.array([True, True, False, True])[:frames], interpolated=np.zeros(frames, bool),
        landmarks=rng.random((frames, 478, 2), dtype=np.float32),
        rotation=np.tile(np.eye(3, dtype=np.float32), (frames, 1, 1)),
        translation=rng.random((frames, 3), dtype=np.float32), expression=rng.random((frames, 3), dtype=np.float32),
        gaze=rng.random((frames, 2, 2), dtype=np.float32), sh=rng.random((frames, 9, 3), dtype=np.float32),
        identity=rng.random((478, 3), dtype=np.float32), albedo=rng.random((478, 3), dtype=np.float32),
        eye_centres=rng.random((2, 3), dtype=np.float32), iris_offsets=rng.random((2, 5, 3), dtype=np.float32))


def test_round_trip(tmp_path):
    t = tiny_track()
    t.save(tmp_path / "a.npz")
    back = load_track(tmp_path / "a.npz")
    assert back.header["version"] == VERSION and back.header["format"] == "dvp-track"
    for name in ("valid", "landmarks", "rotation", "expression", "gaze", "sh", "identity", "albedo"):
        np.testing.assert_array_equal(getattr(back, name), getattr(t, name))
    np.testing.assert_array_equal(back.blink[:, 1], t.expression[:, 1])
    with pytest.raises(KeyError, match="no expression control named 'grin'"):
        back.control("grin")
    assert not list(tmp_path.glob(".dvp-tmp-*"))


def test_unknown_version_is_refused(tmp_path):
    t = tiny_track()
    t.save(tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(str(arrays["header"]))
    header["version"] = VERSION + 1
    arrays["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(TrackFormatError, match=f"version {VERSION + 1}.*re-run `dvp track`"):
        load_track(tmp_path / "b.npz")


@pytest.mark.parametrize("content", [b"", b"not a zip", None])
def test_garbage_and_missing_files_are_refused(tmp_path, content):
    path = tmp_path / "t.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TrackFormatError):
        load_track(path)


def test_other_npz_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", header=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(TrackFormatError, match="not a dvp track"):
        load_track(tmp_path / "x.npz")
