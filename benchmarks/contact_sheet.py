"""A contact sheet image: evenly spaced frames from each video, one row per video.

    python benchmarks/contact_sheet.py A.preview.mp4 B.preview.mp4 -o docs/track_preview.jpg
        [--frames N] [--height PX] [--span FIRST LAST] [--crop X Y W H]

`--span` takes the frames from that range of frame numbers only (the same frames from each video, so outputs of
one job made two ways line up); `--crop` cuts each frame to that rectangle first (in the video's pixels).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from base.reading import VideoReader  # noqa: E402


def row(video: str, count: int, height: int, span: tuple[int, int] | None = None,
        crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    reader = VideoReader(video)
    first, last = span if span else (0, reader.frame_count - 1)
    wanted = set(first + ((np.arange(count) + 0.5) * (last - first + 1) / count).astype(int))  # centred in equal parts
    x, y, w, h = crop if crop else (0, 0, reader.width, reader.height)
    tiles = [cv2.resize(f[y:y + h, x:x + w], (round(w * height / h), height), interpolation=cv2.INTER_AREA)
             for i, f in enumerate(reader) if i in wanted]
    return np.concatenate(tiles, axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--height", type=int, default=200)
    ap.add_argument("--span", type=int, nargs=2, metavar=("FIRST", "LAST"))
    ap.add_argument("--crop", type=int, nargs=4, metavar=("X", "Y", "W", "H"))
    args = ap.parse_args()
    rows = [row(v, args.frames, args.height, args.span, args.crop) for v in args.videos]
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
    cv2.imwrite(args.output, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82, cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
