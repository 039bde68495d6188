"""The demo (`dvp demo`), and inputs that need no download for it and for the tests.

`astronaut_clip` writes a short video of the portrait that scikit-image ships
(`skimage.data.astronaut()`), moved rigidly: it drifts, turns in the image
plane and zooms, with a known roll angle per frame, so tracking can be checked
against the truth.

`run_demo` starts with what needs no training: the astronaut's photo
animated by a built-in driver and made to say a short line (a GRID corpus
sentence shipped in `data/`, CC BY 4.0). Then the main job end to end on such
clips: track a target and a driver, train the target's model, evaluate it,
reenact the target with the driver, and edit the target's performance; with
the real footage at hand it also drives the astronaut with a real, expressive
face.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from base.writing import VideoWriter

FACE_CENTRE = (225.0, 125.0)  # the astronaut's face in the 512 x 512 photo
DEMO_SPEECH = Path(__file__).resolve().parents[1] / "data" / "speech_grid_bbaf2n.wav"  # "bin blue at F two now"


def astronaut_motion(frames: int) -> np.ndarray:
    """(frames, 4): roll in degrees (counter-clockwise in the image), dx, dy in pixels, zoom."""
    t = np.linspace(0, 2 * np.pi, frames)
    return np.stack([12 * np.sin(t), 25 * np.sin(2 * t), 15 * np.sin(t + 1), 1.0 + 0.1 * np.sin(t)], axis=1)


def astronaut_frame(roll: float, dx: float, dy: float, zoom: float, size: int = 384) -> np.ndarray:
    """The portrait turned, shifted and zoomed about the face, cropped to a square around it."""
    from skimage.data import astronaut

    image = astronaut()
    m = cv2.getRotationMatrix2D(FACE_CENTRE, roll, zoom * size / 256)
    m[:, 2] += np.array([size / 2 - FACE_CENTRE[0] + dx, size / 2 - FACE_CENTRE[1] + dy])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def astronaut_clip(path: str | Path, frames: int = 50, fps: int = 25, size: int = 384,
                   motion: np.ndarray | None = None) -> np.ndarray:
    """Write the moving-portrait clip to `path` (H.264 MP4); returns the motion per frame."""
    motion = astronaut_motion(frames) if motion is None else motion
    with VideoWriter(path, fps, size, size) as writer:
        for roll, dx, dy, zoom in motion:
            writer.write(astronaut_frame(roll, dx, dy, zoom, size))
    return motion


DEMO_EDITS = """version: 1
edits:
  - frames: [40, 110]
    ease: 10
    head: {yaw: 8, pitch: 4}
    expression: {smile: 0.5}
    gaze: camera
"""


def run_demo(out: str | Path, minutes: float = 4.0, footage: Path | None = None, show_progress: bool = True,
             eye_minutes: float | None = None, device: str = "auto",
             say: Callable[[str], None] | None = None) -> dict:
    """Run the main job on generated clips (and a real driver when `footage` holds one), telling `say` a line as
    each step finishes; returns every step's results. The eye pathway trains for a quarter of the main network's
    time unless `eye_minutes` says otherwise."""
    from pipeline.editing import edit
    from pipeline.evaluation import evaluate
    from pipeline.job import JobOptions
    from pipeline.reenactment import reenact
    from pipeline.tracking import TrackOptions, track_video
    from pipeline.training import train_model
    from translation.config import preset
    from translation.pathway_training import train_pathway
    from translation.pathways import EYE_PATHWAY
    from translation.training import TrainOptions

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    eye_minutes = minutes / 4 if eye_minutes is None else eye_minutes
    summary: dict = {"output": str(out), "lines": []}

    def step(name: str, result: dict, line: str) -> None:
        summary[name] = result
        summary["lines"].append(line)
        if say is not None:
            say(line)

    from skimage.data import astronaut

    from pipeline.animation import AnimateOptions, animate

    photo = out / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    quick = AnimateOptions(show_progress=show_progress)
    moved = animate(photo, out / "animated_hello.mp4", ["hello"], options=quick)
    step("animated", moved, f"animated_hello.mp4: the astronaut's photo moved by the built-in driver 'hello' "
                            f"({moved['frames']} frames at {moved['frames_per_second']} frames/s, no training)")
    spoken = animate(photo, out / "speaking.mp4", audio=DEMO_SPEECH, options=quick)
    step("speaking", spoken, f"speaking.mp4: the astronaut says \"bin blue at F two now\" (a GRID corpus "
                             f"sentence), the mouth from the audio-to-mouth model; {spoken['frames']} frames")
    target, driver = out / "target.mp4", out / "driver.mp4"
    astronaut_clip(target, frames=150)
    t = np.linspace(0, 2 * np.pi, 100)
    astronaut_clip(driver, frames=100, motion=np.stack([-8 * np.sin(2 * t), 20 * np.sin(t), -10 * np.sin(3 * t),
                                                        1.0 + 0.05 * np.cos(t)], axis=1))
    tracked = track_video(target, out / "target.track.npz", preview=out / "target.tracking.mp4",
                          options=TrackOptions(show_progress=show_progress))
    step("tracked", tracked, f"tracked target.mp4: {tracked['valid_frames']}/{tracked['frames']} frames, "
                             f"NME {tracked['nme']:.4f}")
    model = out / "model"
    if model.exists():
        shutil.rmtree(model)
    trained = train_model(target, model, preset("cpu"), out / "target.track.npz",
                          TrainOptions(minutes=minutes, show_progress=show_progress, device=device))
    step("trained", trained, f"trained {model}: {trained['step']} steps in {trained['trained_minutes']:.1f} min, "
                             f"held-out PSNR {trained['held_out_psnr']:.2f} dB "
                             f"(loss curve: {model / 'loss_curve.png'})")
    eyes = train_pathway(EYE_PATHWAY, target, model, TrainOptions(minutes=eye_minutes, show_progress=show_progress,
                                                                  device=device))
    step("eye_pathway", eyes, f"trained its eye pathway: {eyes['step']} steps in {eyes['trained_minutes']:.1f} min, "
                              f"boxes of {eyes['side']} source pixels")
    scores = evaluate(model, target, report=out / "evaluation.json", show_progress=show_progress, device=device)
    m = scores["methods"]
    step("evaluation", scores, "held-out PSNR of the head region: model {:.2f} dB, nearest neighbour {:.2f} dB, "
                               "window-1 {:.2f} dB (preview: {})".format(m["model"]["psnr_head"],
                                                                         m["nearest_neighbour"]["psnr_head"],
                                                                         m["window_1"]["psnr_head"],
                                                                         model / "evaluation.mp4"))
    sources = [driver]
    if footage is not None and (footage / "lp_d0.mp4").is_file():
        sources.append(footage / "lp_d0.mp4")  # a real, expressive face driving the astronaut
    for source in sources:
        name = f"reenacted_by_{source.stem}"
        rep = reenact(source, target, model, out / f"{name}.mp4",
                      options=JobOptions(preview=out / f"{name}.preview.mp4", report=out / f"{name}.json",
                                         verify=True, device=device, show_progress=show_progress))
        step(name, rep, f"{name}.mp4: {rep['frames']} frames; re-tracked: {_faithfulness_line(rep['faithfulness'])}")
    (out / "edits.yaml").write_text(DEMO_EDITS)
    rep = edit(target, model, out / "edits.yaml", out / "edited.mp4",
               JobOptions(preview=out / "edited.preview.mp4", report=out / "edited.json", verify=True, device=device,
                          show_progress=show_progress))
    step("edited", rep, f"edited.mp4: {rep['edited_frames']} frames edited, {rep['passed_through_frames']} passed "
                        f"through; re-tracked: {_faithfulness_line(rep['faithfulness'])}")
    return summary


def _faithfulness_line(f: dict) -> str:
    if not f["frames"]:
        return f"no face found in {f['frames_without_face']} frames (train longer)"
    gaze = f"{f['gaze_error_deg']:.2f} deg" if "gaze_error_deg" in f else "not scored (eyes closed)"
    return (f"head pose error {f['pose_error_deg']:.2f} deg, gaze error {gaze}, "
            f"expression NME {f['expression_nme']:.4f} over {f['frames']} frames")
