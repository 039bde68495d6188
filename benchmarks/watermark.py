"""The invisible watermark against attacks, on a real job's output from every clip of the footage folder.

Each clip's first seconds are edited by `dvp edit` (a gaze-only edit, which needs no model: every frame's eyes
turned, the whole output labelled, watermarked and signed as any job's), then the output is attacked with ffmpeg:
H.264 at CRF 28, a 50 % downscale, 10 % cropped off every border, brightness +-10 %, a cut to 2 seconds, and all
of them at once. The table gives, per attack, how many outputs still give the job's payload, and how many original
clips give a payload (false positives); then the cost of the watermark on the clip's frames (PSNR of marked
against unmarked, frames/s) and the speed of reading (frames/s).

    python benchmarks/watermark.py [--seconds 6] [--clips a.mp4 b.mp4 ...] [--out FOLDER | --reread FOLDER]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))

import numpy as np  # noqa: E402

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from base.reading import VideoReader  # noqa: E402
from pipeline import watermark as wm  # noqa: E402
from pipeline.verification import read_watermark  # noqa: E402

ATTACKS = {
    "none": [],
    "H.264 CRF 28": ["-crf", "28"],
    "downscale 50 %": ["-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2"],
    "crop 10 % each border": ["-vf", "crop=trunc(iw*0.4)*2:trunc(ih*0.4)*2"],
    "brightness +10 %": ["-vf", "lutrgb=r=val*1.1:g=val*1.1:b=val*1.1"],
    "brightness -10 %": ["-vf", "lutrgb=r=val*0.9:g=val*0.9:b=val*0.9"],
    "2-s cut": ["CUT"],
    "all at once": ["CUT", "-vf", "crop=trunc(iw*0.4)*2:trunc(ih*0.4)*2,scale=trunc(iw/4)*2:trunc(ih/4)*2,"
                    "lutrgb=r=val*0.9:g=val*0.9:b=val*0.9", "-crf", "28"],
}


def attack(marked: Path, out: Path, args: list[str], seconds: float) -> Path:
    cut = []
    if "CUT" in args:
        args = [a for a in args if a != "CUT"]
        start = max(0.0, (seconds - 2.0) / 2)
        cut = ["-ss", f"{start:.3f}", "-t", "2"]
    crf = [] if "-crf" in args else ["-crf", "18"]
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", *cut, "-i", str(marked), *args, *crf, "-an",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def read(video: Path) -> tuple[wm.Detection, float]:
    """The watermark as `dvp verify` reads it (all frames, stored pixels), and the frames read per second."""
    started = time.perf_counter()
    found = read_watermark(video, show_progress=False)
    return found, found.frames / (time.perf_counter() - started)


LOOK = "version: 1\nedits:\n  - frames: [0, {last}]\n    gaze: {{yaw: 10, pitch: 0}}\n"


def edited(clip: Path, seconds: float, work: Path) -> tuple[Path, wm.Payload, Path]:
    """`dvp edit` of the clip's first `seconds`: the output, the payload its report names, and the trimmed clip."""
    from pipeline.cli import main as dvp

    trimmed = work / f"{clip.stem}_first.mp4"
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", "-i", str(clip), "-t", f"{seconds}", "-an", "-c:v", "libx264",
                    "-crf", "12", "-pix_fmt", "yuv420p", str(trimmed)], check=True)
    spec, out, report = work / "look.yaml", work / f"{clip.stem}_edited.mp4", work / f"{clip.stem}_edited.json"
    spec.write_text(LOOK.format(last=VideoReader(trimmed).frame_count - 1))
    if dvp(["edit", str(trimmed), "--edits", str(spec), "-o", str(out), "--report", str(report), "-q"]) != 0:
        sys.exit(f"dvp edit failed on {clip.name}")
    marks = json.loads(report.read_text())["marks"]
    return out, wm.Payload.of(marks["job_id"], marks_version()), trimmed


def marks_version() -> str:
    from pipeline.marking import tool_version

    return tool_version()


def mark_cost(video: Path, payload: wm.Payload) -> tuple[float, float]:
    """PSNR of the video's frames marked against unmarked, and the marking's frames/s."""
    errors, spent = [], 0.0
    with VideoReader(video) as reader:
        marker = wm.Marker(payload, reader.width, reader.height)
        for frame in reader:
            t = time.perf_counter()
            out = marker.mark(frame)
            spent += time.perf_counter() - t
            errors.append(np.mean((out.astype(np.float32) - frame) ** 2))
    return float(10 * np.log10(255 ** 2 / np.mean(errors))), len(errors) / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="how much of each clip to edit")
    parser.add_argument("--clips", nargs="*", help="clip names in the footage folder (default: every video)")
    parser.add_argument("--out", type=Path, help="keep the outputs and attacked videos here")
    parser.add_argument("--reread", type=Path, help="read again the outputs and attacked videos an earlier run kept "
                                                    "with --out, rather than making them (after a change to reading)")
    args = parser.parse_args()
    folder = FOOTAGE
    clips = [folder / c for c in args.clips] if args.clips else \
        sorted(p for p in folder.iterdir() if p.suffix in (".mp4", ".mpg", ".mov"))
    found = {name: 0 for name in ATTACKS}
    false_positives, psnrs, mark_fps, read_fps, syncs = 0, [], [], [], {name: [] for name in ATTACKS}
    with tempfile.TemporaryDirectory() as scratch:
        work = args.out or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        for clip in clips:
            original, _ = read(clip)
            false_positives += original.found
            if args.reread:
                work = args.reread
                marked, trimmed = work / f"{clip.stem}_edited.mp4", work / f"{clip.stem}_first.mp4"
                marks = json.loads((work / f"{clip.stem}_edited.json").read_text())["marks"]
                payload = wm.Payload.of(marks["job_id"], marks_version())
            else:
                marked, payload, trimmed = edited(clip, args.seconds, work)
            psnr, fps = mark_cost(trimmed, payload)
            psnrs.append(psnr)
            mark_fps.append(fps)
            row = []
            for name, how in ATTACKS.items():
                video = work / f"{clip.stem}_{len(row)}.mp4"
                if not how:
                    video = marked
                elif not args.reread:
                    attack(marked, video, how, args.seconds)
                got, fps = read(video)
                read_fps.append(fps)
                ok = got.found and got.payload == payload
                found[name] += ok
                syncs[name].append(got.sync)
                row.append(f"{'ok' if ok else 'MISS'} {got.sync:.1f}")
            print(f"{clip.name:24s} psnr {psnrs[-1]:.1f} original sync {original.sync:.1f} {original.found} | "
                  + " | ".join(row), flush=True)
    print()
    print("| attack | payload read | sync peak median (min) |")
    print("|---|---|---|")
    for name in ATTACKS:
        print(f"| {name} | {found[name]}/{len(clips)} | {statistics.median(syncs[name]):.1f} "
              f"({min(syncs[name]):.1f}) |")
    print(f"| originals (false positives) | {false_positives}/{len(clips)} | |")
    print()
    print(f"PSNR marked vs unmarked: median {statistics.median(psnrs):.1f} dB, min {min(psnrs):.1f} dB")
    print(f"marking: median {statistics.median(mark_fps):.0f} frames/s; reading: median "
          f"{statistics.median(read_fps):.0f} frames/s, min {min(read_fps):.0f}")


if __name__ == "__main__":
    main()
