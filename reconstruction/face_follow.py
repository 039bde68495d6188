"""Choose one face in a shot and keep following it.

Detectors return every face in a frame in no particular order. The tracked face
is chosen in the first frame that has faces (the largest, or the N-th from the
left with `--face N`) and then followed by position: each frame takes the
detection nearest to where the face was last seen, if it is close enough and of
a similar size. Otherwise the face is lost in that frame (marked invalid, never
swapped for another person).
"""
from __future__ import annotations

import numpy as np

from base.errors import NoFaceError
from reconstruction.landmarks import FaceDetection

MAX_JUMP = 0.6  # largest move between frames, in face sizes
GROWTH_PER_LOST_FRAME = 0.15  # how much further the face may be found after each lost frame
SIZE_RATIO = 1.8  # largest change of apparent size between sightings


class FaceFollower:
    def __init__(self, choose: str | int = "largest"):
        if choose != "largest" and not (isinstance(choose, int) and choose >= 0):
            raise ValueError("choose must be 'largest' or a face index >= 0")
        self.choose = choose
        self._centre: np.ndarray | None = None
        self._size = 0.0
        self._lost = 0

    def _first(self, faces: list[FaceDetection], frame_index: int) -> FaceDetection:
        if self.choose == "largest":
            return max(faces, key=lambda f: f.size)
        ordered = sorted(faces, key=lambda f: f.centre[0])
        if self.choose >= len(ordered):
            raise NoFaceError(
                f"--face {self.choose} asks for face {self.choose} (counting from 0, left to right), "
                f"but frame {frame_index}, the first with faces, has only {len(ordered)}; "
                f"use --face 0..{len(ordered) - 1} or leave --face out to take the largest face")
        return ordered[self.choose]

    def update(self, faces: list[FaceDetection], frame_index: int) -> FaceDetection | None:
        """The followed face in this frame, or None when it is not there."""
        if not faces:
            self._lost += 1
            return None
        if self._centre is None:
            face = self._first(faces, frame_index)
        else:
            reach = MAX_JUMP * self._size * (1 + GROWTH_PER_LOST_FRAME * self._lost)
            dist = [np.linalg.norm(f.centre - self._centre) for f in faces]
            face = faces[int(np.argmin(dist))]
            ratio = face.size / max(self._size, 1e-6)
            if min(dist) > reach or not (1 / SIZE_RATIO <= ratio <= SIZE_RATIO):
                self._lost += 1
                return None
        self._centre, self._size, self._lost = face.centre, face.size, 0
        return face


SINGLE_FACE_AFTER = 5  # frames in a row with exactly one face before the fast path is taken


class FaceTracker:
    """A detector with a fast path for shots of one person; it returns every face it sees in each frame.

    Looking for several faces costs mediapipe a face-detector run on every frame
    (a third slower than one face; the docs give the rates). So the tracker looks for
    up to `max_faces` until the shot has shown exactly one face for a few frames,
    then asks for one face only. If the single-face detector ever returns
    someone other than the face seen so far, it goes back to looking for several
    faces for as long as it runs. Which face is the actor is decided afterwards
    by a `FaceFollower` over the faces of the whole shot, so that runs of frames
    detected apart (by a tracker each) are followed as one.
    """

    def __init__(self, make_detector, max_faces: int = 3):
        self._make = make_detector
        self._seen = FaceFollower("largest")  # only to notice someone else; the actor is chosen later
        self.max_faces = max_faces
        self.detector = make_detector(max_faces)
        self.single = max_faces == 1
        self._alone = 0
        self._fast_path_allowed = max_faces > 1

    def detect(self, frame: np.ndarray, index: int) -> list[FaceDetection]:
        faces = self.detector.detect(frame)
        face = self._seen.update(faces, index)
        if self.single and face is None and faces and self.max_faces > 1:
            self._switch(self.max_faces)  # someone else: back to looking for everyone, for good
            self._fast_path_allowed = False
            faces = self.detector.detect(frame)
            self._seen.update(faces, index)
            return faces
        if not self.single and self._fast_path_allowed:
            self._alone = self._alone + 1 if (len(faces) == 1 and face is not None) else 0
            if self._alone >= SINGLE_FACE_AFTER:
                self._switch(1)
        return faces

    def _switch(self, max_faces: int) -> None:
        self.detector.close()
        self.detector = self._make(max_faces)
        self.single = max_faces == 1

    def close(self) -> None:
        self.detector.close()
