"""The marks as a picture: a flat grey frame and a real frame, unmarked and marked (label and watermark, through
H.264 as a job writes them), with the difference amplified 20 times, and the PSNR of each.

    python benchmarks/mark_sheet.py [CLIP] -o docs/marks_sheet.jpg
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))

from base.reading import VideoReader  # noqa: E402
from base.writing import VideoWriter  # noqa: E402
from pipeline.label import Label  # noqa: E402
from pipeline.marking import Marks  # noqa: E402

GAIN = 20


def through_h264(frames: list[np.ndarray], scratch: Path, name: str) -> list[np.ndarray]:
    path = scratch / f"{name}.mp4"
    h, w = frames[0].shape[:2]
    with VideoWriter(path, 25, w, h) as writer:
        for frame in frames:
            writer.write(frame)
    return list(VideoReader(path))


def panel(image: np.ndarray, text: str) -> np.ndarray:
    out = cv2.resize(image, (384, 384), interpolation=cv2.INTER_AREA)
    cv2.rectangle(out, (0, 0), (384, 26), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", nargs="?", default=str(FOOTAGE / "hdtf_aoc.mp4"))
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "marks_sheet.jpg"))
    args = parser.parse_args()
    real = next(iter(VideoReader(args.clip)))
    h, w = real.shape[:2]
    grey = np.full_like(real, 128)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, frame in (("flat grey", grey), (Path(args.clip).name, real)):
            unlabelled = Marks("5eed0001", "0.1.0", None).stamper(w, h)
            labelled = Marks("5eed0001", "0.1.0", Label()).stamper(w, h)
            plain = through_h264([frame] * 3, Path(scratch), "plain")[1]
            marked = through_h264([unlabelled(frame)] * 3, Path(scratch), "marked")[1]
            shown = through_h264([labelled(frame)] * 3, Path(scratch), "shown")[1]
            diff = np.clip(128 + GAIN * (marked.astype(np.float32) - plain), 0, 255).astype(np.uint8)
            value = psnr(marked, plain)
            print(f"{name}: watermark alone, both through H.264: PSNR {value:.1f} dB; "
                  f"max difference {np.abs(marked.astype(int) - plain).max()} grey levels")
            rows.append(np.concatenate([panel(plain, f"{name}, unmarked"),
                                        panel(shown, f"{name}, label + watermark"),
                                        panel(diff, f"watermark x{GAIN} (PSNR {value:.1f} dB)")], axis=1))
    sheet = np.concatenate(rows, axis=0)
    cv2.imwrite(args.output, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
