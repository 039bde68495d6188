"""`dvp animate` on the astronaut: every built-in driver and a real performance (lp_d3.mp4), read back by tracking
the output; the astronaut speaking dub_en.wav, read by `dvp sync-check`; speed; a contact sheet.

For each driver: the head's turn relative to the first frame against the driver's (mean and 95th percentile of the
angle between them, and the largest turn asked), the expression NME, frames/s of the warp alone and with encoding.

    python benchmarks/animate.py [--footage DIR] [--sheet docs/animate_sheet.jpg] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "footage"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=FOOTAGE)
    ap.add_argument("--sheet", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from skimage.data import astronaut

    from base.reading import VideoReader
    from pipeline.animation import AnimateOptions, animate
    from pipeline.drivers import BUILT_IN
    from pipeline.sync_check import sync_check

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        photo = out / "astronaut.png"
        cv2.imwrite(str(photo), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
        drivers = [*BUILT_IN, str(args.footage / "lp_d3.mp4")]
        print("| driver | frames | pose error (deg) | p95 | largest turn asked (deg) | expression NME | frames/s "
              "(warp) | frames/s (with encoding) |")
        print("|---|---|---|---|---|---|---|---|")
        rows = []
        for driver in drivers:
            name = Path(driver).stem
            r = animate(photo, out / f"{name}.mp4", [driver], options=AnimateOptions(show_progress=False,
                                                                                      verify=True))
            f = r["faithfulness"][0]
            print(f"| {name} | {r['frames']} | {f['pose_error_deg']:.2f} | {f['pose_error_deg_p95']:.2f} | "
                  f"{f['largest_turn_asked_deg']:.1f} | {f['expression_nme']:.4f} | {r['frames_per_second']} | "
                  f"{r['frames_per_second_with_encoding']} |", flush=True)
            frames = list(VideoReader(out / f"{name}.mp4"))
            picks = np.linspace(0, len(frames) - 1, 6).astype(int)[1:-1]
            rows.append((name, [frames[0], *[frames[i] for i in picks]]))
        speech = args.footage / "dub_en.wav"
        r = animate(photo, out / "speaking.mp4", audio=speech, options=AnimateOptions(show_progress=False))
        reading = sync_check(out / "speaking.mp4", show_progress=False)
        print(f"\nspeaking {speech.name}: {r['frames']} frames, {r['frames_per_second']} frames/s (warp); "
              f"sync-check: {reading['reading']}")
        frames = list(VideoReader(out / "speaking.mp4"))
        opening = [float(f[150:175, 200:250].mean()) for f in frames]  # brighter while the teeth show
        picks = np.argsort(opening)[-4:]
        rows.append(("speaking", [frames[0], *[frames[i] for i in sorted(picks)]]))
    if args.sheet:
        sheet = []
        for name, images in rows:
            tiles = [cv2.resize(im[20:240, 115:335], (150, 150), interpolation=cv2.INTER_AREA) for im in images]
            label = np.full((150, 110, 3), 255, np.uint8)
            cv2.putText(label, name, (6, 80), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
            sheet.append(np.concatenate([label, *tiles], 1))
        cv2.imwrite(str(args.sheet), cv2.cvtColor(np.concatenate(sheet, 0), cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 85])


if __name__ == "__main__":
    main()
