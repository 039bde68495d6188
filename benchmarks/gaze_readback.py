"""How much of a known eyeball turn an iris reader sees, on real frames: the verifier's view of gaze.

Frames of a tracked clip with both eyes open get their eyeballs turned by exact
geometry (`pipeline.eyes.eyeball_warp`, the lids held still) by a few yaw and pitch
offsets. In each turned frame the iris centre is found two ways:

- mediapipe's iris points (what `dvp track`, and so the verification, reads);
- a dark disk of mediapipe's iris radius fitted to the pixels inside the
  detected lids (the best correlation over centres on a 0.1 px grid), a reader
  that uses the iris's own edge and not the lids' shape.

The table gives, per reader and axis, the slope of the found displacement of
the iris centre against the displacement the geometry put there (pixels; 1
reads all of the turn), the scatter around that line, and the mean distance
from the true displacement. A slope well below 1 on pitch for both readers
says the image itself shows little of a vertical turn at this size.

    python benchmarks/gaze_readback.py [--video ../shared/footage/lp_d9.mp4] [--track TRACK] [--frames 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.reading import VideoReader  # noqa: E402
from pipeline.eyes.eyeball_warp import EyeOpenings, opening_mask, redirect_eyes  # noqa: E402
from pipeline.tracking import TrackOptions, track_video  # noqa: E402
from reconstruction.fitting import FrameParams, actor_from_track, track_params  # noqa: E402
from reconstruction.topology import LEFT_IRIS, RIGHT_IRIS  # noqa: E402
from reconstruction.track import load_track  # noqa: E402

DEFAULT_FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))
TURNS_DEG = ((0, 0), (10, 0), (-10, 0), (16, 0), (-16, 0), (0, 8), (0, -8))  # (yaw, pitch)
SEARCH_PX, COARSE_PX, FINE_PX = 4.0, 0.5, 0.1


def disk_centre(gray: np.ndarray, lids: np.ndarray, start: np.ndarray, radius: float) -> np.ndarray | None:
    """Centre of the dark disk of `radius` that best matches the pixels inside the lid polygon (1 px inset)."""
    h, w = gray.shape
    x0, y0 = np.maximum(np.floor(lids.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(lids.max(0)).astype(int) + 3, [w, h])
    mask = opening_mask(lids, (int(x0), int(y0), int(x1 - x0), int(y1 - y0)), inset=1.0) > 0.5
    if mask.sum() < 20:
        return None
    ys, xs = np.nonzero(mask)
    px, py = xs + x0, ys + y0
    values = gray[y0:y1, x0:x1][mask].astype(np.float64)
    values -= values.mean()

    def best(centre: np.ndarray, half: float, step: float) -> np.ndarray:
        g = np.arange(-half, half + 1e-9, step)
        cands = np.stack(np.meshgrid(g + centre[0], g + centre[1]), -1).reshape(-1, 2)
        disk = np.clip(radius + 0.5 - np.hypot(px - cands[:, :1], py - cands[:, 1:]), 0, 1)
        disk -= disk.mean(1, keepdims=True)
        darkness = -(disk @ values) / (np.sqrt((disk * disk).sum(1) * (values @ values)) + 1e-9)
        return cands[np.argmax(darkness)]

    coarse = best(np.asarray(start, float), SEARCH_PX, COARSE_PX)
    return best(coarse, COARSE_PX, FINE_PX)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_FOOTAGE / "lp_d9.mp4")
    ap.add_argument("--track", type=Path, help="the video's track (default: track it now)")
    ap.add_argument("--frames", type=int, default=30, help="frames with open eyes to turn (default 30)")
    args = ap.parse_args()
    from mediapipe.python.solutions import face_mesh

    with tempfile.TemporaryDirectory() as tmp:
        track_path = args.track or Path(tmp) / "clip.npz"
        if args.track is None:
            track_video(args.video, track_path, options=TrackOptions(show_progress=False))
        track = load_track(track_path)
    actor = actor_from_track(track)
    openings = EyeOpenings.of(actor)
    open_frames = np.flatnonzero(track.valid & (track.blink < 0.2).all(1))
    chosen = set(open_frames[np.linspace(0, len(open_frames) - 1, min(args.frames, len(open_frames))).astype(int)])
    mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    found = {}  # (frame, eye, turn) -> (true centre, mediapipe centre, disk centre)
    for i, frame in enumerate(VideoReader(args.video)):
        if i not in chosen:
            continue
        shown = track_params(track, [i])
        for t, (yaw, pitch) in enumerate(TURNS_DEG):
            gaze = shown.gaze + np.radians([yaw, pitch])
            turned = FrameParams(rotation=shown.rotation, translation=shown.translation,
                                 expression=shown.expression, gaze=gaze)
            image = redirect_eyes(frame, frame, actor, openings, turned, shown)
            faces = mesh.process(np.ascontiguousarray(image)).multi_face_landmarks
            if not faces:
                continue
            h, w = image.shape[:2]
            points = np.array([(p.x * w, p.y * h) for p in faces[0].landmark])
            true = actor.project_landmarks(turned)[0]
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            for eye, iris in enumerate((RIGHT_IRIS, LEFT_IRIS)):
                radius = np.linalg.norm(points[list(iris[1:])] - points[iris[0]], axis=1).mean()
                disk = disk_centre(gray, points[openings.contours[eye]], points[iris[0]], radius)
                if disk is not None:
                    found[i, eye, t] = (true[iris[0]], points[iris[0]], disk)
    mesh.close()
    print(f"{args.video.name}: {len(chosen)} frames, turns (yaw, pitch) {TURNS_DEG[1:]} deg")
    print()
    print("| reader | axis | eye-frames | slope (1 reads all the turn) | scatter px | mean error px |")
    print("|---|---|---|---|---|---|")
    for r, reader in ((1, "mediapipe iris points"), (2, "dark disk inside the lids")):
        for axis, name in ((0, "yaw"), (1, "pitch")):
            moved, read = [], []
            for (i, eye, t), values in found.items():
                if t == 0 or TURNS_DEG[t][1 - axis] != 0 or (i, eye, 0) not in found:
                    continue
                base = found[i, eye, 0]
                moved.append(values[0][axis] - base[0][axis])
                read.append(values[r][axis] - base[r][axis])
            moved, read = np.array(moved), np.array(read)
            slope = float(np.polyfit(moved, read, 1)[0])
            print(f"| {reader} | {name} | {len(moved)} | {slope:.2f} | {np.std(read - slope * moved):.2f} | "
                  f"{np.abs(read - moved).mean():.2f} |")


if __name__ == "__main__":
    main()
