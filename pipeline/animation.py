"""`dvp animate`: a still portrait brought to life by a driver's motion or by speech, with no trained network.

1. The photo: read (colour or grayscale), every face in it found and the face
   model fitted to each (identity, pose, expression, gaze), left to right.
2. The motion of each face: a driver (`pipeline.drivers`: a built-in one, one
   from the library, or a video tracked now), or speech: the mouth from the
   audio-to-mouth model, with a gentle idle sway of the head and blinks.
3. Every frame: each face's parameters moved by its motion (turns and shifts
   relative to the driver's rest pose, expression and gaze changes added to the
   photo's own), the photo warped so the face's mesh goes where it now is, the
   head, hair and neck following (`rendering.photo_warp`); the mouth interior
   painted where the lips part wider than in the photo
   (`pipeline.mouth_interior`); the eyeballs turned by the gaze
   (`pipeline.eyes.eyeball_warp`). The lids close on blinks with the mesh.
4. The frames encoded (H.264 MP4 or ProRes MOV), with the speech or the
   driver video's sound.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from base.atomic import write_json
from base.errors import DvpError, NoFaceError
from base.progress import progress
from base.writing import open_output, output_format
from pipeline.drivers import Motion, find_driver
from pipeline.eyes.eyeball_warp import EyeOpenings, redirect_eyes
from pipeline.marking import MarkOptions, marked, provenance
from pipeline.mouth_interior import MouthInterior
from reconstruction.camera import PinholeCamera
from reconstruction.face_model import default_model
from reconstruction.fitting import ActorModel, FrameParams, estimate_identity, fit_frames
from reconstruction.landmarks import create_detector
from reconstruction.pose import head_rotations
from reconstruction.topology import NUM_MESH_VERTICES
from rendering.photo_warp import MeshWarp, warp

MIN_FACE_PX = 24  # the smallest face (the square root of its landmarks' box) measured to animate well
SPEECH_FPS = 25
BLINK_EVERY_S = 3.7


@dataclass
class PhotoFace:
    """One face of the photo: the fitted actor and its parameters (one frame)."""

    actor: ActorModel
    params: FrameParams

    @property
    def centre_x(self) -> float:
        return float(self.actor.project_landmarks(self.params)[0, :, 0].mean())


@dataclass
class AnimateOptions:
    fmt: str | None = None  # mp4 | prores (default: from the output's name)
    report: Path | None = None
    show_progress: bool = True
    gaze: bool = True  # turn the eyeballs with the driver's gaze
    mouth: bool = True  # paint the mouth interior where the lips part
    audio_model: Path | None = None  # for speech (default: the one dvp ships)
    seconds: float | None = None  # how long: default the driver's length (the longest driver's), or the speech's
    verify: bool = False  # track the output again and score each face's motion against its driver's
    marks: MarkOptions = field(default_factory=MarkOptions)  # the visible label and the manifest's signing pair


def load_photo(path: str | os.PathLike) -> np.ndarray:
    """The photo as RGB uint8; a grayscale picture comes as three equal channels."""
    path = Path(path)
    if not path.is_file():
        raise DvpError(f"the photo {path} does not exist")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DvpError(f"{path} cannot be read as a picture; give a JPEG, PNG, TIFF or BMP file")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def fit_photo(image: np.ndarray, name: str, max_faces: int = 4) -> list[PhotoFace]:
    """The faces of a photo, left to right, each with the face model fitted."""
    h, w = image.shape[:2]
    detector = create_detector("mediapipe", max_faces=max_faces)
    try:
        faces = detector.detect(np.ascontiguousarray(image))
    finally:
        detector.close()
    if not faces:
        if min(h, w) < 2 * MIN_FACE_PX:
            raise NoFaceError(f"{name} is {w}x{h}: too small to find a face in; a face must be at least about "
                              f"{MIN_FACE_PX} pixels across. Give a larger picture")
        raise NoFaceError(f"no face was found in {name}; give a picture with a face seen from the front, at least "
                          f"about {MIN_FACE_PX} pixels across")
    model = default_model()
    camera = PinholeCamera.default_for(w, h)
    fitted = []
    for face in sorted(faces, key=lambda f: f.centre[0]):
        if face.size < MIN_FACE_PX:
            raise NoFaceError(f"{name} is {w}x{h}: the face at x={face.centre[0]:.0f} is {face.size:.0f} pixels "
                              f"across, too small to fit; a face must be at least about {MIN_FACE_PX} pixels across. "
                              "Give a larger picture")
        observed = face.points[None].astype(np.float64)
        identity = estimate_identity(model, camera, observed, "mediapipe")
        actor = ActorModel.build(model, identity, camera, "mediapipe", observed.shape[1])
        fitted.append(PhotoFace(actor, fit_frames(actor, observed)))
    return fitted


def speech_motion(audio: str | os.PathLike, audio_model: str | os.PathLike | None = None) -> Motion:
    """A motion for speech: the mouth from the audio-to-mouth model, a gentle sway of the head, and blinks."""
    from base.audio import read_audio
    from pipeline.speech_training import default_mouth_model
    from speech.audio_model import load_audio_model
    from speech.features import analyse
    from speech.mouth import MOUTH_CONTROLS

    samples = read_audio(audio)
    seconds = len(samples) / 16000
    if seconds < 0.2:
        raise DvpError(f"{audio} holds {seconds:.2f} s of sound; give at least a few words of speech")
    model = load_audio_model(audio_model) if audio_model is not None else default_mouth_model()
    missing = [n for n in MOUTH_CONTROLS if n not in model.info.outputs]
    if missing:
        raise DvpError(f"{audio_model}: the model does not give the mouth controls {', '.join(missing[:3])}; "
                       "train it again with `dvp train-audio`")
    times = np.arange(int(seconds * SPEECH_FPS)) / SPEECH_FPS
    departures = model.predict(analyse(samples), times)
    names = list(default_model().expression_names)
    expression = np.zeros((len(times), len(names)))
    for j, control in enumerate(model.info.outputs):
        if control in names:
            expression[:, names.index(control)] = departures[:, j]
    angles = np.stack([2.0 * np.sin(2 * np.pi * 0.23 * times), 1.5 * np.sin(2 * np.pi * 0.31 * times + 1.0),
                       0.8 * np.sin(2 * np.pi * 0.17 * times + 2.0)], axis=1)
    blink = np.zeros(len(times))
    for centre in np.arange(1.3, seconds, BLINK_EVERY_S):
        blink = np.maximum(blink, np.clip(1 - np.abs(times - centre) / 0.12, 0, 1))
    for eye in ("blink_left", "blink_right"):
        expression[:, names.index(eye)] = blink
    return Motion(name=Path(audio).name, rotation=head_rotations(angles), translation=np.zeros((len(times), 3)),
                  expression=expression, gaze=np.zeros((len(times), 2, 2)), expression_names=names,
                  fps=Fraction(SPEECH_FPS), source=Path(audio).name)


def motion_of(driver: str) -> Motion:
    """A driver given on the command line: a video file (tracked now), or a driver's name."""
    path = Path(driver)
    if path.suffix and path.is_file():
        import tempfile

        from pipeline.tracking import TrackOptions, track_video
        from reconstruction.track import load_track

        with tempfile.TemporaryDirectory(prefix=".dvp-tmp-") as scratch:
            track_video(path, Path(scratch) / "driver.track.npz", options=TrackOptions(show_progress=False))
            return Motion.of_track(load_track(Path(scratch) / "driver.track.npz"), path.stem)
    if path.suffix:
        raise DvpError(f"the driver {driver} does not exist")
    return find_driver(driver)


def moved(face: PhotoFace, motion: Motion, frame: int) -> FrameParams:
    """The photo face's parameters moved by the motion's frame (held at its last frame after its end)."""
    t = min(frame, len(motion) - 1)
    p = face.params
    lo, hi = face.actor.bounds()
    expression = np.clip(p.expression + motion.expression_for(face.actor.model.expression_names)[t], lo, hi)
    return FrameParams(rotation=p.rotation @ motion.rotation[t][None], translation=p.translation +
                       motion.translation[t][None], expression=expression, gaze=p.gaze + motion.gaze[t][None])


def animate(photo: str | os.PathLike, output: str | os.PathLike, drivers: list[str] | None = None,
            audio: str | os.PathLike | None = None, options: AnimateOptions | None = None) -> dict:
    """Animate every face of `photo` by `drivers` (one for all faces, or one per face, left to right) or by the
    speech in `audio`; write `output`; returns the report."""
    o = options or AnimateOptions()
    started = time.perf_counter()
    output = Path(output)
    if not output.parent.is_dir():
        raise DvpError(f"cannot write {output}: the folder {output.parent} does not exist")
    fmt = output_format(output, o.fmt)
    if fmt == "png":
        raise DvpError(f"{output}: dvp animate writes .mp4 (H.264) or .mov (ProRes)")
    if bool(drivers) == (audio is not None):
        raise DvpError("give a driver (--driver NAME or VIDEO, repeated for several faces) or speech (--audio), "
                       "one of the two")
    o.marks.check()
    image = load_photo(photo)
    faces = fit_photo(image, Path(photo).name)
    if audio is not None:
        if not Path(audio).is_file():
            raise DvpError(f"the speech {audio} does not exist")
        motions = [speech_motion(audio, o.audio_model)]
    else:
        if len(drivers) not in (1, len(faces)):
            raise DvpError(f"{Path(photo).name} has {len(faces)} faces and {len(drivers)} drivers were given: give "
                           "one driver for every face, or one for all")
        motions = [motion_of(d) for d in drivers]
    motions = motions * len(faces) if len(motions) == 1 else motions
    fps = motions[0].fps
    frames = max(len(m) for m in motions)
    if o.seconds is not None:
        frames = max(1, int(round(o.seconds * float(fps))))
    h, w = image.shape[:2]
    topology = default_model().topology
    rims = np.concatenate([topology.region(r) for r in ("lips_inner", "right_eye", "left_eye")])
    warper = MeshWarp(topology.triangles, topology.region("face_oval"), rims, w, h)
    openings = [EyeOpenings.of(f.actor) for f in faces]
    mouths = [MouthInterior.of(f.actor, f.params, image) for f in faces]
    sound = audio if audio is not None else _sound_of(drivers[0]) if drivers else None
    inputs = {"photo": Path(photo), "speech": Path(audio) if audio is not None else None,
              **{f"driver video {i + 1}": Path(d) for i, d in enumerate(drivers or []) if Path(d).is_file()}}
    settings = {"drivers": [m.name for m in motions], "frames": frames, "gaze": o.gaze, "mouth": o.mouth,
                "format": fmt, "audio_model": o.audio_model}
    record = provenance("animate", Path(photo).name, inputs, settings, o.marks, [(0, frames)])
    warp_s = 0.0
    with marked(open_output(output, fmt, fps, w + w % 2, h + h % 2, audio=sound), record.marks) as writer:
        for t in progress(range(frames), frames, "animate", o.show_progress):
            t0 = time.perf_counter()
            frame = image
            for face, motion, eyes, mouth in zip(faces, motions, openings, mouths):
                frame = _animate_face(frame, image, face, moved(face, motion, t), warper, eyes, mouth, o)
            warp_s += time.perf_counter() - t0
            writer.write(_even(frame))
    seconds = time.perf_counter() - started
    result = {"photo": Path(photo).name, "output": str(output), "format": fmt, "faces": len(faces),
              "drivers": [m.name for m in motions], "audio": Path(audio).name if audio else None,
              "frames": frames, "fps": str(fps), "width": w, "height": h, "seconds": round(seconds, 2),
              "frames_per_second": round(frames / warp_s, 1) if warp_s else None,
              "frames_per_second_with_encoding": round(frames / seconds, 1),
              "marks": record.seal(output, writer.marking_seconds)}
    if o.verify:
        result["faithfulness"] = verify_animation(output, faces, motions, frames, o.show_progress)
    if o.report is not None:
        write_json(o.report, result)
    return result


def verify_animation(output: Path, faces: list[PhotoFace], motions: list[Motion], frames: int,
                     show_progress: bool = False) -> list[dict]:
    """Each face of the written output tracked again (left to right) and scored against what it was asked: the
    head's turn relative to the first frame against the driver's (degrees: mean, 95th percentile, and the largest
    turn asked), and the expression NME (the photo's actor posed as asked, with the re-tracked expression against
    the asked one, over the distance between the eye corners)."""
    import tempfile

    from base.metrics import nme
    from pipeline.tracking import TrackOptions, track_video
    from reconstruction.fitting import track_params
    from reconstruction.pose import rotation_angle_deg
    from reconstruction.track import load_track

    scores = []
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent) as scratch:
        for i, (face, motion) in enumerate(zip(faces, motions)):
            path = Path(scratch) / f"face{i}.track.npz"
            track_video(output, path, options=TrackOptions(face=i if len(faces) > 1 else "largest",
                                                           show_progress=show_progress))
            again = load_track(path)
            both = np.flatnonzero(again.valid[:frames])
            if len(both) < 2 or not again.valid[0]:
                scores.append({"face": i, "frames": int(len(both)), "frames_without_face": frames - len(both)})
                continue
            got = track_params(again, both)
            asked = [moved(face, motion, t) for t in both]
            asked_rotation = np.concatenate([p.rotation for p in asked])
            first_asked = moved(face, motion, 0).rotation[0]
            turn_asked = first_asked.T @ asked_rotation
            turn_shown = got.rotation[0].T @ got.rotation if both[0] == 0 else \
                again.rotation[0].astype(np.float64).T @ got.rotation
            error = rotation_angle_deg(turn_asked, turn_shown)
            want = FrameParams(rotation=asked_rotation, translation=np.concatenate([p.translation for p in asked]),
                               expression=np.concatenate([p.expression for p in asked]),
                               gaze=np.concatenate([p.gaze for p in asked]))
            same_pose = FrameParams(rotation=want.rotation, translation=want.translation, expression=got.expression,
                                    gaze=want.gaze)
            actor = face.actor
            expression_nme = nme(actor.project_landmarks(same_pose), actor.project_landmarks(want),
                                 actor.interocular)
            scores.append({"face": i, "driver": motion.name, "frames": int(len(both)),
                           "frames_without_face": int(frames - len(both)),
                           "pose_error_deg": round(float(error.mean()), 3),
                           "pose_error_deg_p95": round(float(np.percentile(error, 95)), 3),
                           "largest_turn_asked_deg": round(float(rotation_angle_deg(
                               np.repeat(np.eye(3)[None], len(both), 0), turn_asked).max()), 2),
                           "expression_nme": round(float(np.mean(expression_nme)), 5)})
    return scores


def _animate_face(frame: np.ndarray, photo: np.ndarray, face: PhotoFace, now: FrameParams, warper: MeshWarp,
                  eyes: EyeOpenings, mouth: MouthInterior, o: AnimateOptions) -> np.ndarray:
    """`frame` (the photo, or it with the faces to the left already moved) with this face moved to `now`."""
    actor, was = face.actor, face.params
    points_was = actor.camera_points(was)[0][:NUM_MESH_VERTICES]
    points_now = actor.camera_points(now)[0][:NUM_MESH_VERTICES]
    cam = actor.camera
    out = warp(frame, warper.maps(cam.project(points_was), cam.project(points_now), points_now[:, 2]))
    if o.mouth:
        out = mouth.paint(out, now)
    if o.gaze:
        out = redirect_eyes(out, photo, actor, eyes, now, was)
    return out


def _even(frame: np.ndarray) -> np.ndarray:
    """Odd sizes padded by a copy of the last row or column (H.264 and ProRes want even sizes)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return frame


def _sound_of(driver: str) -> Path | None:
    """A driver video's sound, when it has one."""
    from base.probe import probe_audio

    path = Path(driver)
    if path.suffix and path.is_file():
        try:
            return path if probe_audio(path) else None
        except Exception:
            return None
    return None
