"""A contact sheet image: evenly spaced frames from each video, one row per video.

    python benchmarks/contact_sheet.py A.preview.mp4 B.preview.mp4 -o docs/track_preview.jpg
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.video import VideoReader  # noqa: E402


def row(video: str, count: int, height: int) -> np.ndarray:
    reader = VideoReader(video)
    wanted = set(((np.arange(count) + 0.5) * reader.frame_count / count).astype(int))  # centred in equal parts
    tiles = [cv2.resize(f, (round(f.shape[1] * height / f.shape[0]), height), interpolation=cv2.INTER_AREA)
             for i, f in enumerate(reader) if i in wanted]
    return np.concatenate(tiles, axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--height", type=int, default=200)
    args = ap.parse_args()
    rows = [row(v, args.frames, args.height) for v in args.videos]
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
    cv2.imwrite(args.output, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82, cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
