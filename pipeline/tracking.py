"""`dvp track`: a video in, a `Track` (and optionally a preview and a report) out.

Three passes over the video, each streamed, so memory stays flat whatever the
length: (1) decode, detect landmarks, follow one face and sample its colours,
appending per-frame records to scratch files on disk; (2) fill short gaps,
smooth, estimate the actor's identity from a sample of frames and fit every
frame in batches, then albedo and lighting; (3) optionally decode again to draw
the preview. Scratch files live in a hidden folder beside the output and are
removed however the run ends; the track and report are written atomically.
"""
from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from base.atomic import replacing, write_json
from base.errors import DvpError, NoFaceError
from base.metrics import nme
from base.progress import progress
from base.reading import VideoReader
from base.writing import VideoWriter
from pipeline.overlay import draw_overlay
from reconstruction.camera import PinholeCamera
from reconstruction.face_follow import FaceFollower, FaceTracker
from reconstruction.face_model import FaceModel, default_model
from reconstruction.fitting import ActorModel, FrameParams, estimate_identity, fit_frames, interocular_px
from reconstruction.illumination import facing, fit_albedo, fit_lighting, vertex_normals
from reconstruction.landmarks import FaceDetection, box_of, create_detector
from reconstruction.temporal import RADIUS, fill_gaps, smooth
from reconstruction.topology import NUM_MESH_VERTICES
from reconstruction.track import Track, load_track

FIT_BATCH = 128
FILTER_CHUNK = 256
IDENTITY_FRAMES = 60
ALBEDO_FRAMES = 40


@dataclass
class TrackOptions:
    """How `track_video` works; the defaults suit ordinary talking-head footage."""

    backend: str = "mediapipe"  # landmark detector: mediapipe | face-alignment
    face: str | int = "largest"  # which face to follow: the largest, or an index from the left
    max_faces: int = 3  # faces the detector looks for per frame
    focal_length: float | None = None  # pixels; default from a 30 degree horizontal field of view
    max_gap: int = 5  # longest run of lost frames (at the video's rate) to interpolate
    smoothing: bool = True
    segment: int = 256  # the detector starts afresh every this many frames, so frame ranges can be detected apart
    show_progress: bool = True


class _Scratch:
    """Append-only per-frame records on disk, read back as memory maps."""

    def __init__(self, folder: Path, shapes: dict[str, tuple[tuple[int, ...], str]]):
        self.folder, self.shapes, self.count = folder, shapes, 0
        self._files = {k: open(folder / f"{k}.bin", "wb") for k in shapes}

    def append(self, **values: np.ndarray) -> None:
        for k, v in values.items():
            shape, dtype = self.shapes[k]
            self._files[k].write(np.ascontiguousarray(v, dtype=dtype).reshape(shape).tobytes())
        self.count += 1

    def finish(self) -> dict[str, np.ndarray]:
        for f in self._files.values():
            f.close()
        return {k: np.memmap(self.folder / f"{k}.bin", dtype=dtype, mode="r", shape=(self.count, *shape))
                for k, (shape, dtype) in self.shapes.items()} if self.count else {}

    def new_array(self, name: str, shape: tuple[int, ...], dtype=np.float32, fill=np.nan) -> np.ndarray:
        arr = np.lib.format.open_memmap(self.folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
        arr[...] = fill
        return arr


def _sample_colours(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Colours under the mesh landmarks, averaged over 3x3 pixels against noise."""
    h, w = frame.shape[:2]
    blurred = cv2.blur(frame, (3, 3))
    x = np.clip(np.round(points[:NUM_MESH_VERTICES, 0]).astype(int), 0, w - 1)
    y = np.clip(np.round(points[:NUM_MESH_VERTICES, 1]).astype(int), 0, h - 1)
    return blurred[y, x]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def track_video(video: str | os.PathLike, output: str | os.PathLike, preview: str | os.PathLike | None = None,
                report: str | os.PathLike | None = None, options: TrackOptions | None = None,
                model: FaceModel | None = None, detections: Sequence[str | os.PathLike] | None = None) -> dict:
    """Track the face in `video` and write the Track to `output`; returns the report. With `detections` (the files
    `detect_faces` wrote for consecutive frame ranges covering the video), the faces are taken from them instead of
    being detected here: the track is the same as from one pass."""
    opts = options or TrackOptions()
    model = model or default_model()
    video, output = Path(video), Path(output)
    if not output.parent.is_dir():
        raise DvpError(f"cannot write {output}: the folder {output.parent} does not exist")
    started = time.perf_counter()
    reader = VideoReader(video)
    camera = PinholeCamera.default_for(reader.width, reader.height, opts.focal_length)
    scratch_dir = Path(tempfile.mkdtemp(prefix=".dvp-tmp-", dir=output.parent))
    timings: dict[str, float] = {}
    try:
        if detections is None:
            runs = [_detect_pass(reader, 0, scratch_dir, opts)]
        else:
            runs = _load_detections(detections, video, reader.frame_count, opts)
        timings["decode"] = sum(run["decode_s"] for run in runs)
        timings["landmarks"] = sum(run["landmarks_s"] for run in runs)
        data, num_points = _follow(runs, scratch_dir, opts)
        peaks = {"landmarks": _rss_mib()}
        frames = len(data["valid"]) if data else 0
        detected = np.asarray(data["valid"]).astype(bool) if data else np.zeros(0, bool)
        if frames == 0:
            raise DvpError(f"{video} decoded to no frames; check that it plays in a video player")
        if not detected.any():
            raise NoFaceError(f"no face was found in any of the {frames} frames of {video}; "
                              "dvp needs a visible face (at least about 60 pixels wide)")
        store = _Scratch(scratch_dir, {})
        t0 = time.perf_counter()
        landmarks, valid, interpolated = _clean_landmarks(data, store, opts, model, num_points)
        timings["filtering"] = time.perf_counter() - t0
        peaks["filtering"] = _rss_mib()
        t0 = time.perf_counter()
        actor, params, errors = _fit(landmarks, valid, data["points"], detected, store, camera, model, opts)
        timings["fitting"] = time.perf_counter() - t0
        peaks["fitting"] = _rss_mib()
        t0 = time.perf_counter()
        albedo, sh = _light(actor, params, valid, data["colours"], store)
        timings["lighting"] = time.perf_counter() - t0
        peaks["lighting"] = _rss_mib()
        header = {
            "source": {"file": video.name, "width": reader.width, "height": reader.height,
                       "fps": str(reader.fps), "frame_count": frames, "coded_width": reader.info.width,
                       "coded_height": reader.info.height, "sar": str(reader.info.sar),
                       "rotation": reader.info.rotation, "timecode": reader.info.timecode},
            "camera": camera.to_dict(),
            "model": {"name": model.name, "version": model.version, "expression_names": model.expression_names,
                      "num_named": model.num_named, "eye_radius_cm": actor.eyes.radius},
            "detector": {"backend": opts.backend, "num_points": num_points,
                         "landmark_vertices": actor.landmark_vertices.tolist()},
            "options": {k: v for k, v in asdict(opts).items() if k != "show_progress"},
        }
        track = Track(header=header, valid=valid, interpolated=interpolated,
                      landmarks=landmarks[..., :2], rotation=params["rotation"], translation=params["translation"],
                      expression=params["expression"], gaze=params["gaze"], sh=sh,
                      identity=actor.identity.astype(np.float32), albedo=albedo.astype(np.float32),
                      eye_centres=actor.eyes.centres.astype(np.float32),
                      iris_offsets=actor.eyes.iris_offsets.astype(np.float32))
        t0 = time.perf_counter()
        track.save(output)
        timings["writing"] = time.perf_counter() - t0
        peaks["writing"] = _rss_mib()
        if preview is not None:
            t0 = time.perf_counter()
            write_overlay_video(video, track, actor, preview, show_progress=opts.show_progress)
            timings["preview"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - started
        result = _report(video, output, frames, detected, valid, interpolated, errors, timings, actor)
        result["peak_memory_mib_after_stage"] = {k: round(v, 1) for k, v in peaks.items()}
        if report is not None:
            write_json(report, result)
        return result
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)


def load_or_track(video: Path, track_path: str | os.PathLike | None, scratch: Path, show_progress: bool,
                  role: str, face: str | int = "largest") -> Track:
    """The track of `video`: the one given (checked against the video), or made now in `scratch`, following `face`
    (see `TrackOptions.face`); `role` names it ("target", "source")."""
    info = VideoReader(video)
    if track_path is None:
        track_path = scratch / f"{role}.track.npz"
        track_video(video, track_path, options=TrackOptions(show_progress=show_progress, face=face))
    track = load_track(track_path)
    track.check_video(video, info.width, info.height, info.frame_count)
    return track


def _timed(items, clock: list[float]):
    """Yield from `items`, adding the time spent waiting for each item to clock[0]."""
    iterator = iter(items)
    while True:
        t0 = time.perf_counter()
        item = next(iterator, None)
        clock[0] += time.perf_counter() - t0
        if item is None:
            return
        yield item


def detect_faces(video: str | os.PathLike, output: str | os.PathLike, first: int = 0, count: int | None = None,
                 options: TrackOptions | None = None) -> dict:
    """Detect the faces in `count` frames of `video` from frame `first` (a multiple of the options' `segment`) and
    write them to `output` (.npz, atomically), for `track_video(detections=...)`. Frame ranges detected apart, by
    as many processes or machines, give the same track as one pass: the detector starts afresh at every segment
    either way, and the face is chosen and followed over the whole shot afterwards."""
    opts = options or TrackOptions()
    video, output = Path(video), Path(output)
    if first < 0 or first % opts.segment:
        raise DvpError(f"frame ranges to detect start on a multiple of {opts.segment} frames (the detector's "
                       f"segment), not at frame {first}")
    reader = VideoReader(video, first_frame=first, max_frames=count)
    scratch_dir = Path(tempfile.mkdtemp(prefix=".dvp-tmp-", dir=output.parent))
    try:
        run = _detect_pass(reader, first, scratch_dir, opts)
        with replacing(output) as temporary, open(temporary, "wb") as f:
            np.savez(f, counts=run["counts"], points=run["points"], colours=run["colours"], first=np.int64(first),
                     to_end=np.bool_(count is None or len(run["counts"]) < count),
                     seconds=np.array([run["decode_s"], run["landmarks_s"]]),
                     detector=np.array([opts.backend, str(opts.max_faces), str(opts.segment)]))
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)
    return {"video": video.name, "first": first, "frames": len(run["counts"]), "faces": int(run["counts"].sum()),
            "detections": output.name}


def _detect_pass(reader: VideoReader, first: int, folder: Path, opts: TrackOptions) -> dict:
    """Every face in the reader's frames (frame `first` onwards), the detector started afresh at each segment; the
    faces of each frame as a count and, per face, its points and the colours under them, on disk."""
    def start() -> FaceTracker:
        return FaceTracker(lambda n: create_detector(opts.backend, max_faces=n), opts.max_faces)

    tracker = start()
    num_points = tracker.detector.num_points
    per_frame = _Scratch(folder, {"face_counts": ((), "uint8")})
    per_face = _Scratch(folder, {"face_points": ((num_points, 3), "float32"),
                                 "face_colours": ((NUM_MESH_VERTICES, 3), "uint8")})
    decode_clock = [0.0]
    started = time.perf_counter()
    try:
        frames = progress(_timed(reader, decode_clock), reader.frame_count, "landmarks", opts.show_progress)
        for offset, frame in enumerate(frames):
            index = first + offset
            if offset and index % opts.segment == 0:
                tracker.close()
                tracker = start()
            faces = tracker.detect(frame, index)
            per_frame.append(face_counts=np.uint8(len(faces)))
            for face in faces:
                per_face.append(face_points=face.points, face_colours=_sample_colours(frame, face.points))
    finally:
        tracker.close()
        reader.close()
    counts = per_frame.finish().get("face_counts", np.zeros(0, np.uint8))
    faces = per_face.finish() or {"face_points": np.zeros((0, num_points, 3), np.float32),
                                  "face_colours": np.zeros((0, NUM_MESH_VERTICES, 3), np.uint8)}
    return {"first": first, "counts": counts, "points": faces["face_points"], "colours": faces["face_colours"],
            "decode_s": decode_clock[0], "landmarks_s": time.perf_counter() - started - decode_clock[0]}


def _load_detections(files: Sequence[str | os.PathLike], video: Path, frame_count: int, opts: TrackOptions) -> list:
    """The runs of faces `detect_faces` wrote, checked to cover the video's frames in order, once, with these
    options' detector."""
    wanted = [opts.backend, str(opts.max_faces), str(opts.segment)]
    loaded = []
    for file in files:
        with np.load(file) as data:
            loaded.append((file, data["detector"].tolist(), bool(data["to_end"]), {
                "first": int(data["first"]), "counts": data["counts"], "points": data["points"],
                "colours": data["colours"], "decode_s": float(data["seconds"][0]),
                "landmarks_s": float(data["seconds"][1])}))
    runs, expected, to_end = [], 0, False
    for file, detector, to_end, run in sorted(loaded, key=lambda item: item[3]["first"]):
        if detector != wanted:
            raise DvpError(f"{file}: its faces were detected with backend, max faces and segment {detector}, "
                           f"this track asks for {wanted}; detect the frames again with the same options")
        if run["first"] != expected:
            raise DvpError(f"{file} starts at frame {run['first']}, but the detections before it end at frame "
                           f"{expected}: detect frames {expected}-{run['first'] - 1} of {video.name} too")
        expected += len(run["counts"])
        runs.append(run)
    if not to_end:
        raise DvpError(f"the detections cover frames 0-{expected - 1} of {video.name} (about {frame_count} "
                       f"frames), not to its end: detect the frames from {expected} to the end too")
    return runs


def _follow(runs: list[dict], folder: Path, opts: TrackOptions) -> tuple[dict[str, np.ndarray], int]:
    """The followed face's points and colours in every frame (NaN and black where it is not found), and whether it
    was, from runs of detected faces in frame order."""
    num_points = runs[0]["points"].shape[1]
    follower = FaceFollower(opts.face)
    scratch = _Scratch(folder, {"points": ((num_points, 3), "float32"),
                                "colours": ((NUM_MESH_VERTICES, 3), "uint8"), "valid": ((), "uint8")})
    missing = np.full((num_points, 3), np.nan, np.float32)
    no_colour = np.zeros((NUM_MESH_VERTICES, 3), np.uint8)
    for run in runs:
        offsets = np.concatenate([[0], np.cumsum(run["counts"], dtype=np.int64)])
        for i in range(len(run["counts"])):
            rows = range(offsets[i], offsets[i + 1])
            faces = [FaceDetection(points=run["points"][r], box=box_of(run["points"][r])) for r in rows]
            face = follower.update(faces, run["first"] + i)
            if face is None:
                scratch.append(points=missing, colours=no_colour, valid=np.uint8(0))
            else:
                row = rows[next(j for j, f in enumerate(faces) if f is face)]
                scratch.append(points=face.points, colours=run["colours"][row], valid=np.uint8(1))
    return scratch.finish(), num_points


def _clean_landmarks(data: dict, store: _Scratch, opts: TrackOptions, model: FaceModel, num_points: int):
    """Fill short gaps and smooth, chunk by chunk with overlapping margins."""
    raw, detected = data["points"], np.asarray(data["valid"]).astype(bool)
    n = len(raw)
    out = store.new_array("landmarks", raw.shape)
    valid = np.zeros(n, bool)
    interpolated = np.zeros(n, bool)
    margin = max(RADIUS, opts.max_gap + 1)
    verts = model.landmark_vertices(opts.backend, num_points)
    corners = (int(np.flatnonzero(verts == 33)[0]), int(np.flatnonzero(verts == 263)[0]))
    for start in range(0, n, FILTER_CHUNK):
        stop = min(n, start + FILTER_CHUNK)
        lo, hi = max(0, start - margin), min(n, stop + margin)
        pts = np.array(raw[lo:hi], dtype=np.float64)
        ok = detected[lo:hi].copy()
        filled = fill_gaps(pts, ok, opts.max_gap)
        ok |= filled
        if opts.smoothing:
            pts = smooth(pts, ok, interocular_px(np.nan_to_num(pts), corners))
        out[start:stop] = pts[start - lo:stop - lo]
        valid[start:stop] = ok[start - lo:stop - lo]
        interpolated[start:stop] = filled[start - lo:stop - lo]
    return out, valid, interpolated


def _fit(landmarks, valid, raw, detected, store: _Scratch, camera, model, opts):
    n = len(landmarks)
    idx = np.flatnonzero(valid)
    sample = idx[np.linspace(0, len(idx) - 1, min(IDENTITY_FRAMES, len(idx))).astype(int)]
    num_points = landmarks.shape[1]
    identity = estimate_identity(model, camera, np.array(landmarks[sample], dtype=np.float64), opts.backend)
    actor = ActorModel.build(model, identity, camera, opts.backend, num_points)
    params = {"rotation": store.new_array("rotation", (n, 3, 3)),
              "translation": store.new_array("translation", (n, 3)),
              "expression": store.new_array("expression", (n, actor.num_expressions)),
              "gaze": store.new_array("gaze", (n, 2, 2))}
    errors = {"px": store.new_array("err_px", (n,), np.float64), "nme": store.new_array("err_nme", (n,), np.float64),
              "px_fitted": store.new_array("err_fit_px", (n,), np.float64)}
    batches = [idx[i:i + FIT_BATCH] for i in range(0, len(idx), FIT_BATCH)]
    for batch in progress(batches, len(batches), "fitting (batches)", opts.show_progress):
        obs = np.array(landmarks[batch], dtype=np.float64)
        fitted = fit_frames(actor, obs)
        for name in params:
            params[name][batch] = getattr(fitted, name)
        proj = actor.project_landmarks(fitted)
        errors["px_fitted"][batch] = np.linalg.norm(proj - obs[..., :2], axis=-1).mean(axis=1)
        seen = detected[batch]
        if seen.any():
            raw_b = np.array(raw[batch[seen]], dtype=np.float64)
            err = np.linalg.norm(proj[seen] - raw_b[..., :2], axis=-1).mean(axis=1)
            errors["px"][batch[seen]] = err
            errors["nme"][batch[seen]] = nme(proj[seen], raw_b, actor.interocular)
    return actor, params, errors


def _light(actor: ActorModel, params: dict, valid: np.ndarray, colours, store: _Scratch):
    """Albedo from a sample of frames, then lighting for every frame."""
    n = len(valid)
    idx = np.flatnonzero(valid)
    tri = actor.model.topology.triangles

    def geometry(frames: np.ndarray):
        p = FrameParams(**{k: np.asarray(v[frames], dtype=np.float64) for k, v in params.items()})
        verts = actor.camera_points(p)[:, :NUM_MESH_VERTICES]
        normals = vertex_normals(verts, tri)
        return normals, facing(verts, normals)

    sample = idx[np.linspace(0, len(idx) - 1, min(ALBEDO_FRAMES, len(idx))).astype(int)]
    normals, mask = geometry(sample)
    albedo = np.zeros((actor.model.num_vertices, 3))  # the iris points have no colour of their own
    albedo[:NUM_MESH_VERTICES] = fit_albedo(np.asarray(colours[sample], dtype=np.float64) / 255.0, normals, mask)
    sh = store.new_array("sh", (n, 9, 3))
    for i in range(0, len(idx), FIT_BATCH):
        batch = idx[i:i + FIT_BATCH]
        normals, mask = geometry(batch)
        sh[batch] = fit_lighting(albedo[:NUM_MESH_VERTICES], np.asarray(colours[batch], dtype=np.float64) / 255.0,
                                 normals, mask)
    return albedo, sh


def write_overlay_video(video: Path, track: Track, actor: ActorModel, output: str | os.PathLike,
                   show_progress: bool = True) -> None:
    """The video with the fitted mesh, head axes and gaze rays drawn over it (H.264 MP4)."""
    reader = VideoReader(video)
    audio = video if reader.info.audio else None
    edges = actor.model.topology.edges
    with reader, VideoWriter(output, reader.fps, reader.width, reader.height, audio=audio) as writer:
        for i, frame in enumerate(progress(reader, reader.frame_count, "preview", show_progress)):
            if i >= len(track) or not track.valid[i]:
                writer.write(frame if i >= len(track) else draw_label(frame, "no face"))
                continue
            p = FrameParams(rotation=track.rotation[i:i + 1].astype(np.float64),
                            translation=track.translation[i:i + 1].astype(np.float64),
                            expression=track.expression[i:i + 1].astype(np.float64),
                            gaze=track.gaze[i:i + 1].astype(np.float64))
            verts = actor.camera_points(p)[0]
            label = "interpolated" if track.interpolated[i] else ""
            writer.write(draw_overlay(frame, actor.camera, verts, edges, p.rotation[0], p.translation[0],
                                      actor.eyes.centres, p.gaze[0], label))


def draw_label(frame: np.ndarray, text: str) -> np.ndarray:
    out = frame.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 80, 80), 1, cv2.LINE_AA)
    return out


def _report(video, output, frames, detected, valid, interpolated, errors, timings, actor) -> dict:
    seen = detected & np.isfinite(errors["px"])
    rates = {stage: frames / s if s > 0 else None for stage, s in timings.items()}
    return {
        "video": video.name,
        "track": output.name,
        "frames": int(frames),
        "valid_frames": int(valid.sum()),
        "detected_frames": int(detected.sum()),
        "interpolated_frames": int(interpolated.sum()),
        "invalid_frames": int(frames - valid.sum()),
        "valid_ratio": float(valid.mean()),
        "reprojection_error_px": float(np.mean(errors["px"][seen])) if seen.any() else None,
        "nme": float(np.mean(errors["nme"][seen])) if seen.any() else None,
        "fitted_reprojection_error_px": float(np.nanmean(errors["px_fitted"][valid])),
        "nme_normaliser": "distance between the outer eye corners (landmarks 33 and 263)",
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "frames_per_second": {k: (round(v, 1) if v else None) for k, v in rates.items()},
        "peak_memory_mib": round(_rss_mib(), 1),
        "focal_length_px": actor.camera.focal,
    }
