"""The canonical face: the mean neutral shape the built-in face model starts from.

The mediapipe wheel ships no mesh geometry, so the mean face is built from the
478 3D landmarks mediapipe itself predicts on real footage: every actor's frames
are aligned rigidly, the frames with a closed, relaxed mouth and open eyes are
kept, each actor contributes one median shape, and the mean of those is made
mirror-symmetric and scaled to metric units (an interpupillary distance of
6.3 cm, an adult average). The result ships as `data/canonical_face.npz`;
rebuild it with `python -m reconstruction.canonical VIDEO [VIDEO ...]`.

Head frame (used by the whole project): centimetres, origin at the centroid of
the 468 mesh vertices, x towards the image right of a frontal face (the
subject's left), y down, z away from the camera. It matches the camera frame of
OpenCV, so the identity rotation is a face looking straight into the camera.
"""
from __future__ import annotations

import numpy as np

from reconstruction.topology import LEFT_IRIS, NUM_MESH_VERTICES, RIGHT_IRIS, mediapipe_topology, mirror_map

INTERPUPILLARY_CM = 6.3
# Vertices on the face's mid-line (forehead to chin), used to find the mirror plane.
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14,
           15, 16, 17, 18, 200, 199, 175, 152)


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None):
    """Scale s, rotation R and translation t minimising sum w |s R src + t - dst|^2 (Umeyama)."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    cov = (b * w[:, None]).T @ a
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / (w @ (a ** 2).sum(axis=1))
    return scale, rot, mu_d - scale * rot @ mu_s


def _align_all(shapes: np.ndarray, reference: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    out = np.empty_like(shapes)
    for i, s in enumerate(shapes):
        sc, rot, t = similarity_transform(s[anchor], reference[anchor])
        out[i] = sc * s @ rot.T + t
    return out


def _neutral_frames(aligned: np.ndarray) -> np.ndarray:
    """Frames whose mouth is closed and relaxed and whose eyes are open."""
    mouth_open = np.linalg.norm(aligned[:, 13] - aligned[:, 14], axis=1)
    mouth_wide = np.linalg.norm(aligned[:, 61] - aligned[:, 291], axis=1)
    eyes_open = (np.linalg.norm(aligned[:, 159] - aligned[:, 145], axis=1)
                 + np.linalg.norm(aligned[:, 386] - aligned[:, 374], axis=1))
    keep = ((mouth_open <= np.percentile(mouth_open, 20))
            & (mouth_wide <= np.percentile(mouth_wide, 60))
            & (eyes_open >= np.percentile(eyes_open, 30)))
    return aligned[keep] if keep.any() else aligned


def _to_head_frame(shape: np.ndarray) -> np.ndarray:
    """Rotate so the mid-plane is x = 0 and the face looks along -z; scale to centimetres."""
    mesh = shape[:NUM_MESH_VERTICES]
    mid = shape[list(MIDLINE)]
    _, _, vt = np.linalg.svd(mid - mid.mean(axis=0))
    x_axis = vt[2] * np.sign(vt[2] @ (shape[263] - shape[33]))  # towards the subject's left eye
    oval = shape[list(mediapipe_topology().regions["face_oval"])]
    _, _, vt = np.linalg.svd(oval - oval.mean(axis=0))
    z_axis = vt[2] - (vt[2] @ x_axis) * x_axis
    z_axis /= np.linalg.norm(z_axis)
    z_axis *= np.sign(z_axis @ (mesh.mean(axis=0) - shape[1]))  # nose tip nearest the camera
    y_axis = np.cross(z_axis, x_axis)
    rot = np.stack([x_axis, y_axis, z_axis])
    out = (shape - mid.mean(axis=0)) @ rot.T
    out -= np.array([0.0, *out[:NUM_MESH_VERTICES, 1:].mean(axis=0)])
    out[:, 0] -= out[:NUM_MESH_VERTICES, 0].mean()
    ipd = np.linalg.norm(out[RIGHT_IRIS[0]] - out[LEFT_IRIS[0]])
    return out * (INTERPUPILLARY_CM / ipd)


def _symmetrise(shape: np.ndarray) -> np.ndarray:
    mesh = shape[:NUM_MESH_VERTICES]
    mirror = mirror_map(mesh)
    sym = shape.copy()
    sym[:NUM_MESH_VERTICES] = 0.5 * (mesh + mesh[mirror] * np.array([-1.0, 1.0, 1.0]))
    for a, b in zip(RIGHT_IRIS, (LEFT_IRIS[0], LEFT_IRIS[3], LEFT_IRIS[2], LEFT_IRIS[1], LEFT_IRIS[4])):
        mean = 0.5 * (shape[a] + shape[b] * np.array([-1.0, 1.0, 1.0]))
        sym[a], sym[b] = mean, mean * np.array([-1.0, 1.0, 1.0])
    return sym


def build_canonical(actors: list[np.ndarray]) -> np.ndarray:
    """Mean neutral face (478, 3) in the head frame from per-actor landmark arrays (F, 478, 3).

    Each array holds one actor's mediapipe landmarks (x, y, z in pixel units);
    frames with NaNs are ignored.
    """
    anchor = np.array(mediapipe_topology().regions["rigid"])
    per_actor = []
    reference = None
    for shapes in actors:
        shapes = shapes[~np.isnan(shapes).any(axis=(1, 2))].astype(np.float64)
        if len(shapes) == 0:
            continue
        reference = shapes[0] if reference is None else reference
        aligned = _align_all(shapes, reference, anchor)
        for _ in range(2):  # generalised Procrustes within the actor
            aligned = _align_all(aligned, np.median(aligned, axis=0), anchor)
        per_actor.append(np.median(_neutral_frames(aligned), axis=0))
    if not per_actor:
        raise ValueError("no valid landmark frames to build a canonical face from")
    stacked = np.stack(per_actor)
    for _ in range(3):
        mean = stacked.mean(axis=0)
        stacked = _align_all(stacked, mean, anchor)
    return _symmetrise(_to_head_frame(stacked.mean(axis=0))).astype(np.float32)


def load_canonical() -> np.ndarray:
    """The shipped canonical face (478, 3) in centimetres, head frame."""
    from data import DATA_DIR

    with np.load(DATA_DIR / "canonical_face.npz") as f:
        return f["vertices"].astype(np.float64)


def main(argv: list[str] | None = None) -> None:
    """Rebuild data/canonical_face.npz from videos of different actors."""
    import argparse

    from base.reading import VideoReader
    from data import DATA_DIR
    from reconstruction.landmarks import MediaPipeDetector

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("videos", nargs="+", help="one video per actor (or images via skimage: 'astronaut')")
    ap.add_argument("-o", "--output", default=str(DATA_DIR / "canonical_face.npz"))
    args = ap.parse_args(argv)
    actors = []
    for video in args.videos:
        detector = MediaPipeDetector(max_faces=1)
        if video == "astronaut":
            from skimage.data import astronaut

            frames = [astronaut()]
        else:
            frames = VideoReader(video)
        points = []
        for frame in frames:
            faces = detector.detect(frame)
            points.append(faces[0].points if faces else np.full((478, 3), np.nan, np.float32))
        detector.close()
        actors.append(np.stack(points))
        print(f"{video}: {len(points)} frames")
    vertices = build_canonical(actors)
    np.savez(args.output, vertices=vertices, sources=np.array([str(v).rsplit("/", 1)[-1] for v in args.videos]))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
