"""Where the network painted the head, so that the gaze warp sets the eyeballs into the painted eye sockets.

The pose calibration (`pipeline.pose_calibration`) corrects the head pose the
network is asked for by a law fitted over a pilot pass, but each painted frame
still lands a degree or two away from the asked pose. The gaze warp draws the eyeballs where the face model
puts them; drawn in the asked head while the sockets around them were painted
in another, the eyes look turned by the difference. So each painted frame goes
through the landmark detector, the target actor (whose identity is known) is
fitted to it from the conditioned parameters, and the warp turns the eyeballs
in the head as painted, by the gaze the job asks for relative to that head.
Of the faces the detector finds, the one nearest where the conditioned head
projects is taken (a shot may hold other people); a frame with no face, or
whose fit turns or moves further from the conditioning than the settings allow
(`EyeSettings.painted_head_max_turn_deg`, `painted_head_max_shift_cm`: a
misdetection), keeps the conditioned head. The detector follows the face from
frame to frame, so it starts afresh every `SEGMENT` output frames: a segment of
the output made apart (`pipeline.segments`) then finds the heads one pass finds.
"""
from __future__ import annotations

import numpy as np

from pipeline.eyes.settings import DEFAULT, EyeSettings
from reconstruction.fitting import ActorModel, FrameParams, fit_frames
from reconstruction.landmarks import LandmarkDetector, create_detector
from reconstruction.pose import rotation_angle_deg

SEGMENT = 256  # output frames between fresh starts of the detector


class PaintedHead:
    """Fits the target actor's head to painted frames, in the order the job paints them."""

    def __init__(self, actor: ActorModel, settings: EyeSettings = DEFAULT):
        self.actor, self.settings = actor, settings
        self._detector: LandmarkDetector | None = None
        self._segment = -1  # the segment the detector is in
        self.fitted = 0  # frames whose painted head was found and used
        self.kept = 0  # frames that kept the conditioned head

    def fit(self, frames: list[np.ndarray], conditioned: FrameParams,
            indices: np.ndarray) -> tuple[FrameParams, np.ndarray]:
        """The head (rotation, translation) of each painted frame (output frames `indices`, in order), and which
        frames it was found in (the others keep the conditioned head); expression and gaze stay the conditioned
        ones."""
        head = FrameParams(rotation=conditioned.rotation.copy(), translation=conditioned.translation.copy(),
                           expression=conditioned.expression, gaze=conditioned.gaze)
        expected = self.actor.project_landmarks(conditioned).mean(axis=1)  # (B, 2) where each head should be
        found, points = [], []
        for k, frame in enumerate(frames):
            self._start(int(indices[k]) // SEGMENT)
            faces = [f for f in self._detector.detect(frame) if len(f.points) == len(self.actor.landmark_vertices)]
            if faces:
                nearest = min(faces, key=lambda f: float(np.linalg.norm(f.points[:, :2].mean(axis=0) - expected[k])))
                found.append(k)
                points.append(nearest.points)
        used = np.zeros(len(frames), bool)
        if found:
            rows = np.array(found)
            start = FrameParams(rotation=conditioned.rotation[rows], translation=conditioned.translation[rows],
                                expression=conditioned.expression[rows], gaze=conditioned.gaze[rows])
            fitted = fit_frames(self.actor, np.array(points, dtype=np.float64), init=start,
                                iterations=self.settings.painted_head_iterations)
            angle = rotation_angle_deg(start.rotation, fitted.rotation)
            shift = np.linalg.norm(fitted.translation - start.translation, axis=1)
            s = self.settings
            use = (angle <= s.painted_head_max_turn_deg) & (shift <= s.painted_head_max_shift_cm)
            head.rotation[rows[use]] = fitted.rotation[use]
            head.translation[rows[use]] = fitted.translation[use]
            used[rows[use]] = True
        self.fitted += int(used.sum())
        self.kept += int((~used).sum())
        return head, used

    def _start(self, segment: int) -> None:
        if self._detector is None or segment != self._segment:
            if self._detector is not None:
                self._detector.close()
            self._detector = create_detector("mediapipe", max_faces=self.settings.painted_head_max_faces)
            self._segment = segment

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None
