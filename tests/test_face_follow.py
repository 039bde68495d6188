"""Choosing one face and following it by position."""
import numpy as np
import pytest

from base.errors import NoFaceError
from reconstruction.face_follow import FaceFollower
from reconstruction.landmarks import FaceDetection


def face(cx, cy, size):
    pts = np.array([[cx - size / 2, cy - size / 2, 0], [cx + size / 2, cy + size / 2, 0]], np.float32)
    return FaceDetection(points=pts, box=(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2))


def test_largest_face_is_chosen_and_kept_when_the_detector_reorders():
    f = FaceFollower("largest")
    small, big = face(100, 100, 60), face(300, 100, 120)
    assert f.update([small, big], 0) is big
    moved = face(310, 104, 118)
    assert f.update([moved, face(105, 100, 60)], 1) is moved
    # The other person grows larger than ours: we still follow ours.
    ours = face(315, 106, 118)
    assert f.update([face(110, 100, 200), ours], 2) is ours


def test_face_index_counts_from_the_left():
    f = FaceFollower(1)
    a, b, c = face(400, 100, 50), face(100, 100, 50), face(250, 100, 50)
    assert f.update([a, b, c], 0) is c


def test_index_beyond_the_faces_present_is_a_clear_error():
    with pytest.raises(NoFaceError, match="has only 2"):
        FaceFollower(5).update([face(100, 100, 50), face(300, 100, 50)], 12)


def test_lost_face_is_not_swapped_for_another_person():
    f = FaceFollower("largest")
    f.update([face(100, 100, 80)], 0)
    assert f.update([], 1) is None
    assert f.update([face(400, 300, 80)], 2) is None  # someone else, far away
    back = face(108, 102, 80)
    assert f.update([face(400, 300, 80), back], 3) is back


class ScriptedDetector:
    """Returns, per frame, the faces a script gives for its max_faces setting."""

    def __init__(self, script, max_faces, log):
        self.script, self.max_faces = script, max_faces
        log.append(max_faces)

    def detect(self, frame):
        return self.script(int(frame[0, 0, 0]), self.max_faces)  # the frame's value is its index

    def close(self):
        pass


def test_tracker_takes_the_single_face_fast_path_and_falls_back_when_another_person_appears():
    from reconstruction.face_follow import SINGLE_FACE_AFTER, FaceFollower, FaceTracker

    ours, other = face(100, 100, 80), face(400, 100, 80)

    def script(i, max_faces):
        if i < 20:
            return [ours]
        # From frame 20 a second person is there, and a one-face detector latches onto them.
        return [other] if max_faces == 1 else [other, ours]

    log = []
    tracker = FaceTracker(lambda n: ScriptedDetector(script, n, log), max_faces=3)
    follower = FaceFollower("largest")
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(30)]
    got = [follower.update(tracker.detect(f, i), i) for i, f in enumerate(frames)]
    assert log[:2] == [3, 1], "switched to one face after a run of single-face frames"
    assert tracker.single is False and log[-1] == 3, "switched back when the one face was someone else"
    assert all(g is ours for g in got), "our actor is never lost or swapped"
    assert SINGLE_FACE_AFTER < 20
