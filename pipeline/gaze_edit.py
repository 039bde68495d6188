"""Gaze edits on any tracked shot, with no trained model: the shot's own eyeballs turned by the gaze warp.

A change of gaze alone needs no network: an eyeball is a sphere, the shot shows
its texture, and `pipeline.eyeball_warp` turns it to any gaze inside the eye
openings of the frame itself. So `dvp edit` without `--model` takes specs whose
edits are all gaze edits (`gaze: camera` or yaw and pitch offsets): the target
is tracked (or its track given), each edited frame has its eyeballs turned,
faded in with the edit's ease, and every other pixel, and every frame outside
the edits, is the shot's own, bit for bit before encoding (at the shot's own
depth in ProRes or PNG, and its own pixel aspect: see `pipeline.plates.Plates`). The sideways turn is
divided by the tracker's gain measured on the shot, as in a reenactment (see
`pipeline.gaze_calibration`).
"""
from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.eyeball_warp import EyeOpenings, redirect_eyes
from pipeline.progress import progress
from pipeline.synthesis import SideBySide, SynthesisOptions, gaze_calibration_for
from pipeline.transfer import Performance
from pipeline.plates import Plates
from pipeline.video import VideoReader, open_output
from reconstruction.fitting import actor_from_track, track_params
from reconstruction.track import Track


def warp_gaze(performance: Performance, target_track: Track, target_video: Path, output: Path,
              options: SynthesisOptions, fade: np.ndarray, preview: Path | None = None) -> dict:
    """Write the output: the target's frames with their eyeballs turned to the performance's gaze where `fade` > 0
    (and the performance's track has a face); returns statistics like `pipeline.synthesis.synthesise`'s."""
    started = time.perf_counter()
    n = len(performance.track)
    fade = np.asarray(fade, dtype=np.float64)
    actor = actor_from_track(target_track)
    openings = EyeOpenings.of(actor)
    info = VideoReader(target_video)
    plates = Plates.of(info.info, options.fmt, options.keep_depth)
    turned_frames = 0
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent) as scratch, \
            open_output(output, options.fmt, info.fps, *plates.size, options.audio,
                        options.timecode, deep=plates.deep, sar=plates.sar, field_order=plates.field_order,
                        colour=plates.colour) as writer, \
            SideBySide(preview, info.fps, info.height, ("original", "output")) as side_by_side:
        calibration = gaze_calibration_for(performance, target_track, target_video, fade, options, Path(scratch))
        frames = plates.reader(target_video)
        for j, plate in enumerate(progress(frames, n, "gaze edit", options.show_progress)):
            frame = plates.work(plate)
            result = frame
            if fade[j] > 0 and performance.track.valid[j]:
                shown = track_params(target_track, [j])
                turned = calibration.rendered(track_params(performance.track, [j]), shown)
                result = redirect_eyes(frame, frame, actor, openings, turned, shown, float(fade[j]))
                turned_frames += 1
            writer.write(plates.output(result, frame, plate))
            side_by_side.write([frame, result])
    seconds = time.perf_counter() - started
    return {"frames": n, "synthesised_frames": 0, "eyes_only_frames": turned_frames,
            "passed_through_frames": n - turned_frames, "seconds": round(seconds, 1),
            "frames_per_second": round(n / seconds, 2), "bit_depth": 16 if plates.deep else 8,
            "pixel_aspect": plates.pixel_aspect, "field_order": plates.field_order, "colour": writer.colour.label(),
            "eye_pathway_step": None,
            "gaze_warp": True,
            "gaze_calibration": calibration.report(), "pose_calibration": None,
            "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
