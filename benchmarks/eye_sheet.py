"""A close-up sheet: the same region of chosen frames from several videos side by side, one row per frame.

Used for the README's eye-pathway picture (original | main network alone | with the eye pathway):

    python benchmarks/eye_sheet.py ../shared/footage/lp_d9.mp4 NO_EYES/lp_d9_by_lp_d9.mp4 \
        EYES/lp_d9_by_lp_d9.mp4 --frames 60 250 540 --region 110 130 260 140 -o docs/eyes_lp_d9.jpg
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from base.reading import VideoReader  # noqa: E402


def frames_of(video: str, wanted: list[int]) -> dict[int, np.ndarray]:
    """The wanted frames of a video, decoded in one pass."""
    found = {}
    with VideoReader(video) as reader:
        for i, frame in enumerate(reader):
            if i in wanted:
                found[i] = frame
            if len(found) == len(wanted):
                break
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise SystemExit(f"{video} has no frame {missing[0]}")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+", help="videos of the same size, shown left to right")
    ap.add_argument("--frames", type=int, nargs="+", required=True)
    ap.add_argument("--region", type=int, nargs=4, metavar=("X", "Y", "W", "H"), required=True,
                    help="the region to show, in the videos' (square-pixel) frames")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    x, y, w, h = args.region
    decoded = [frames_of(v, args.frames) for v in args.videos]
    rows = [np.concatenate([d[i][y:y + h, x:x + w] for d in decoded], axis=1) for i in args.frames]
    sheet = np.concatenate(rows)
    if args.scale != 1.0:
        sheet = cv2.resize(sheet, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(args.output, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
