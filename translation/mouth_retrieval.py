"""The retrieval way to a mouth, after Synthesizing Obama (Suwajanakorn et al., SIGGRAPH 2017): no network, the
target's own frames.

For each frame to paint, the training frames whose lips are nearest in shape (the lip vertices in the head's frame,
so the pose does not count) are found; each one's mouth is warped into place by the affine map that carries its
projected mouth vertices onto the frame's; their pixels are merged by a median weighted by nearness (a mean would
blur teeth that sit a pixel apart), and the inside of the mouth is sharpened, as the paper sharpened its teeth. The
result is blended into the frame over the outer lips' outline, feathered.

The library is a shot's own frames (`of_shot`): at most `LIBRARY_FRAMES` of them, picked to span the lip shapes the
shot shows (farthest-point sampling, so rare wide-open mouths are kept), each kept as a crop about its mouth, so
memory does not grow with the shot's length. It is measured beside the mouth pathway in `benchmarks/mouth.py`.
"""
from __future__ import annotations

import cv2
import numpy as np

from base.progress import progress
from base.reading import VideoReader
from reconstruction.fitting import ActorModel, actor_from_track, track_params

LIBRARY_FRAMES = 300
MARGIN = 0.8  # of the mouth's width: how much about the outer lips each library crop keeps
NEIGHBOURS = 6
SHARPEN = 0.6  # unsharp-mask amount inside the lips
FEATHER = 0.15  # of the mouth's width: how far the blend fades outside the outer lips


class MouthRetrieval:
    """Mouths painted from the frames `library` (training frames) of the target `video`, whose `track` it is."""

    def __init__(self, track, library_frames: list[np.ndarray], library: np.ndarray, actor: ActorModel | None = None):
        self.track, self.actor = track, actor or actor_from_track(track)
        topology = self.actor.model.topology
        self.lips = np.array(topology.region("lips"))
        self.outer = np.concatenate([topology.region("lips_outer_upper"), topology.region("lips_outer_lower")[::-1]])
        self.inner = np.concatenate([topology.region("lips_inner_upper"), topology.region("lips_inner_lower")[::-1]])
        self.around = np.unique(np.concatenate([self.lips, topology.region("nose")]))  # lips and the upper jaw
        self.library = np.asarray(library)
        self.shapes = self._shapes(track, self.library)
        self.points = self._pixels(track, self.library)
        self.crops, self.offsets = [], np.zeros((len(self.library), 2))
        for k, frame in enumerate(library_frames):  # each frame kept as a crop about its mouth
            (x0, y0), (x1, y1) = self._box(self.points[k], frame.shape[:2], MARGIN)
            self.crops.append(frame[y0:y1, x0:x1].copy())
            self.offsets[k] = (x0, y0)

    @classmethod
    def of_shot(cls, video, track, show_progress: bool = False) -> MouthRetrieval | None:
        """A library of `video`'s own valid frames (see the module notes); None when it has too few."""
        valid = np.flatnonzero(track.valid)
        if len(valid) < NEIGHBOURS:
            return None
        actor = actor_from_track(track)
        lips = np.array(actor.model.topology.region("lips"))
        params = track_params(track, valid)
        shapes = actor.head_points(params.expression, params.gaze)[:, lips].reshape(len(valid), -1)
        chosen = np.sort(valid[farthest_points(shapes, LIBRARY_FRAMES)])
        wanted, frames = set(chosen.tolist()), []
        with VideoReader(video) as reader:
            for i, frame in progress(enumerate(reader), len(track), "mouth library", show_progress):
                if i in wanted:
                    frames.append(frame)
                if len(frames) == len(chosen):
                    break
        return cls(track, frames, chosen[:len(frames)], actor)

    def _box(self, points: np.ndarray, size: tuple[int, int], margin: float) -> tuple[np.ndarray, np.ndarray]:
        outer = points[self.outer]
        width = float(np.ptp(outer[:, 0]))
        lo = np.maximum(np.floor(outer.min(axis=0) - margin * width), 0).astype(int)
        hi = np.minimum(np.ceil(outer.max(axis=0) + margin * width), [size[1], size[0]]).astype(int)
        return lo, hi

    def _shapes(self, track, frames: np.ndarray) -> np.ndarray:
        params = track_params(track, frames)
        return self.actor.head_points(params.expression, params.gaze)[:, self.lips].reshape(len(frames), -1)

    def _pixels(self, track, frames: np.ndarray) -> np.ndarray:
        return self.actor.camera.project(self.actor.camera_points(track_params(track, frames)))

    def paint(self, frame: np.ndarray, track, index: int) -> np.ndarray:
        """`frame` (the network's output, or any plate) with the mouth of `track`'s frame `index` painted in."""
        shape = self._shapes(track, np.array([index]))[0]
        target = self._pixels(track, np.array([index]))[0]
        distance = np.linalg.norm(self.shapes - shape, axis=1)
        nearest = np.argsort(distance)[:NEIGHBOURS]
        weights = 1.0 / (distance[nearest] + 1e-3)
        h, w = frame.shape[:2]
        width = float(np.ptp(target[self.outer][:, 0]))
        (x0, y0), (x1, y1) = self._box(target, (h, w), 0.6)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return frame
        warped = []
        for k in nearest:
            source = (self.points[k][self.around] - self.offsets[k]).astype(np.float32)  # in the crop's pixels
            affine, _ = cv2.estimateAffine2D(source, (target[self.around] - (x0, y0)).astype(np.float32),
                                             method=cv2.LMEDS)
            if affine is None:
                continue
            warped.append(cv2.warpAffine(self.crops[k], affine, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REFLECT))
        if not warped:
            return frame
        texture = weighted_median(np.stack(warped), weights[:len(warped)]).astype(np.float32)
        local = target - (x0, y0)
        inner = polygon_mask(local[self.inner], (y1 - y0, x1 - x0))
        blurred = cv2.GaussianBlur(texture, (0, 0), 1.0)
        sharp = np.clip(texture + SHARPEN * (texture - blurred), 0, 255)
        texture = np.where(inner[..., None] > 0.5, sharp, texture)
        blend = feathered(polygon_mask(local[self.outer], (y1 - y0, x1 - x0)), FEATHER * width)[..., None]
        out = frame.copy()
        region = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(blend * texture + (1 - blend) * region, 0, 255).astype(np.uint8)
        return out

def farthest_points(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of at most `count` rows of `points` spread over them: each next one the farthest from those taken,
    starting from the one nearest the mean."""
    if len(points) <= count:
        return np.arange(len(points))
    chosen = [int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))]
    nearest = np.linalg.norm(points - points[chosen[0]], axis=1)
    while len(chosen) < count:
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return np.array(chosen)


def weighted_median(stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per pixel and channel, the weighted median over the first axis of (K, H, W, C)."""
    order = np.argsort(stack, axis=0)
    values = np.take_along_axis(stack, order, axis=0)
    cumulative = np.cumsum(weights[order], axis=0)
    half = cumulative[-1] / 2
    pick = np.argmax(cumulative >= half, axis=0)
    return np.take_along_axis(values, pick[None], axis=0)[0]


def polygon_mask(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, np.float32)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1.0)
    return mask


def feathered(mask: np.ndarray, reach: float) -> np.ndarray:
    """The mask grown by `reach` pixels with a soft edge."""
    reach = max(1.0, reach)
    grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(reach) | 1,) * 2))
    return np.clip(cv2.GaussianBlur(grown, (0, 0), reach / 2), 0, 1)
