"""What a 10-bit plate keeps through `dvp edit` and `dvp reenact`: its depth, and what that costs.

A plate is made from a clip of the footage: its frames decoded at 16 bits per
component, scaled by 1.5 with lanczos in 16-bit RGB (which fills in the
gradations between 8-bit levels a camera's 10 bits would hold) and encoded as
10-bit ProRes 422 HQ. A gaze-only edit (no model; a 12 degree look over the
middle half of the frames) is written from it to ProRes and to PNG, once
keeping the plate's depth (the default) and once at 8 bits (`--bit-depth 8`).
Each output is decoded at 16 bits and compared with the plate decoded the same
way: PSNR (peak 65535) over the passed-through frames, and over the pixels of
all frames that the job left alone (those within one 8-bit level of the
plate), and the speed. With
a model of lp_d9, lp_d9 made into a 10-bit ProRes plate at its own size is also
reenacted by lp_d3 to PNG both ways (PNG, so that no codec noise enters the
comparison: lp_d9's grain costs ProRes about one 8-bit level).

    python benchmarks/bit_depth.py [MODEL] [--clip FILE] [--footage DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from base.reading import VideoReader  # noqa: E402
from base.writing import output_format  # noqa: E402
from pipeline.editing import edit  # noqa: E402
from pipeline.job import JobOptions  # noqa: E402
from pipeline.reenactment import reenact  # noqa: E402

DEFAULT_FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))


def make_plate(clip: Path, plate: Path, scale: float) -> None:
    shown = VideoReader(clip)  # the display size: square pixels
    width, height = (2 * round(side * scale / 2) for side in (shown.width, shown.height))
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", "-i", clip, "-vf",
                    f"format=rgb48le,scale={width}:{height}:flags=lanczos,setsar=1", "-c:v", "prores_ks",
                    "-profile:v", "3", "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s16le", plate], check=True)


def compare(plate: Path, output: Path, edited: np.ndarray) -> dict:
    """The output against the plate, both decoded at 16 bits: PSNR (peak 65535) over the passed-through frames, and
    over the pixels of every frame that the job left alone (within one 8-bit level of the plate; their share)."""
    frames = VideoReader(plate, deep=True)
    if output.is_dir():  # PNGs read as they are: ffmpeg widens 8-bit RGB by about 255.8, not exactly 257
        import cv2

        def png(i: int) -> np.ndarray:
            image = cv2.imread(str(output / f"frame_{i:06d}.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
            return image if image.dtype == np.uint16 else image.astype(np.uint16) * 257

        outs = map(png, range(VideoReader(output).frame_count))
    else:
        outs = iter(VideoReader(output, deep=True))
    passed, kept, kept_share = [], [], []
    for i, (a, b) in enumerate(zip(frames, outs)):
        error = (a.astype(np.float64) - b) ** 2
        if not edited[i]:
            passed.append(error.mean())
        same = (np.abs(a.astype(np.int32) - b) < 257).all(axis=2)
        kept.append(error[same].mean())
        kept_share.append(same.mean())

    def psnr(mse: list[float]) -> float:
        m = float(np.mean(mse)) if mse else float("nan")
        return float("inf") if m == 0 else 10 * np.log10(65535.0**2 / m)

    return {"passed": psnr(passed), "kept": psnr(kept), "share": float(np.mean(kept_share))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, nargs="?", help="a model of lp_d9 (adds the reenactment rows)")
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    ap.add_argument("--clip", default="hdtf_khill.mp4", help="the clip the edit plate is made from")
    ap.add_argument("--out", type=Path, help="keep the outputs here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        plate = out / "plate_10bit.mov"
        make_plate(args.footage / args.clip, plate, 1.5)
        reader = VideoReader(plate)
        n = reader.frame_count
        first, last = n // 4, n - n // 4 - 1
        spec = out / "look.yaml"
        spec.write_text(f"version: 1\nedits:\n  - frames: [{first}, {last}]\n    ease: 8\n"
                        "    gaze: {yaw: 12, pitch: 0}\n")
        edited = np.zeros(n, bool)
        edited[first:last + 1] = True
        print(f"plate: {args.clip} at {reader.width}x{reader.height}, 10-bit ProRes 422 HQ, {n} frames; "
              f"a 12 deg look over frames {first}-{last}\n")
        print("| job | output | depth kept | bit depth | PSNR passed-through frames dB | PSNR untouched pixels dB "
              "(share of pixels) | seconds | frames/s |")
        print("|---|---|---|---|---|---|---|---|")
        for name in ("edit.mov", "edit_png"):
            for keep in (True, False):
                target = out / (name.replace("edit", "edit_8bit") if not keep else name)
                r = edit(plate, None, spec, target, JobOptions(show_progress=False, gaze_gain=0.75, keep_depth=keep))
                c = compare(plate, target, edited)
                fmt = output_format(target)
                print(f"| gaze edit, no model | {fmt} | {'yes' if keep else 'no (--bit-depth 8)'} | "
                      f"{r['bit_depth']} | {c['passed']:.1f} | {c['kept']:.1f} ({100 * c['share']:.1f} %) | "
                      f"{r['seconds']} | {r['frames_per_second']} |", flush=True)
        if args.model is not None:
            deep_d9 = out / "lp_d9_10bit.mov"
            make_plate(args.footage / "lp_d9.mp4", deep_d9, 1.0)
            for keep in (True, False):
                target = out / f"by_lp_d3{'' if keep else '_8bit'}"  # PNG: no codec noise in the comparison
                r = reenact(args.footage / "lp_d3.mp4", deep_d9, args.model, target,
                            options=JobOptions(show_progress=False, keep_depth=keep))
                c = compare(deep_d9, target, np.ones(r["frames"], bool))
                print(f"| reenact lp_d9 by lp_d3 | png | {'yes' if keep else 'no (--bit-depth 8)'} | "
                      f"{r['bit_depth']} | - | {c['kept']:.1f} ({100 * c['share']:.1f} %) | {r['seconds']} | "
                      f"{r['frames_per_second']} |", flush=True)


if __name__ == "__main__":
    main()
