"""What the marks cost to the eye: a picture, and PSNR tables.

The picture (docs/marks_sheet.jpg): a flat grey frame and a real frame, unmarked, marked (label and watermark),
and the watermark alone amplified 20 times, as frames are handed to the encoder.

The table: PSNR of the marked frames against the unmarked ones for the first 2 seconds of each clip, as written
(before encoding), and after each output encoder, marked output against unmarked output (with the encoder's own
error against the unmarked frames beside it, for scale).

    python benchmarks/mark_sheet.py [--frame CLIP] [-o docs/marks_sheet.jpg] [--clips A B ...]
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
from pipeline.marking import Marks, tool_version  # noqa: E402

GAIN = 20
JOB = "5eed0001"


def panel(image: np.ndarray, text: str) -> np.ndarray:
    out = cv2.resize(image, (384, 384), interpolation=cv2.INTER_AREA)
    cv2.rectangle(out, (0, 0), (384, 26), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b, strict=True)])
    return float(10 * np.log10(255 ** 2 / mse))


def sheet(clip: Path, output: Path) -> None:
    real = next(iter(VideoReader(clip)))
    h, w = real.shape[:2]
    rows = []
    for name, frame in (("flat grey", np.full_like(real, 128)), (clip.name, real)):
        watermark = Marks(JOB, tool_version(), None).stamper(w, h)(frame)
        shown = Marks(JOB, tool_version(), Label()).stamper(w, h)(frame)
        diff = np.clip(128 + GAIN * (watermark.astype(np.float32) - frame), 0, 255).astype(np.uint8)
        value = psnr([watermark], [frame])
        print(f"{name}: the watermark alone, PSNR {value:.1f} dB, largest change "
              f"{np.abs(watermark.astype(int) - frame).max()} grey levels")
        rows.append(np.concatenate([panel(frame, f"{name}, unmarked"), panel(shown, f"{name}, label + watermark"),
                                    panel(diff, f"watermark x{GAIN} (PSNR {value:.1f} dB)")], axis=1))
    cv2.imwrite(str(output), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {output}")


def encoded(frames: list[np.ndarray], codec: str, folder: Path, name: str) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    path = folder / f"{name}.{'mp4' if codec == 'h264' else 'mov'}"
    with VideoWriter(path, 25, w, h, codec=codec) as writer:
        for frame in frames:
            writer.write(frame)
    return list(VideoReader(path))


def table(clips: list[Path]) -> None:
    print("| clip | as written | ProRes: marked vs unmarked output (encoder's own error) | "
          "H.264 CRF 18: marked vs unmarked output (encoder's own error) |")
    print("|---|---|---|---|")
    for clip in clips:
        frames = list(VideoReader(clip, max_frames=50))
        h, w = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
        frames = [f[:h, :w] for f in frames]
        stamper = Marks(JOB, tool_version(), None).stamper(w, h)
        marked = [stamper(f) for f in frames]
        cells = [f"{psnr(marked, frames):.1f} dB"]
        with tempfile.TemporaryDirectory() as scratch:
            for codec in ("prores", "h264"):
                plain = encoded(frames, codec, Path(scratch), "plain")
                mark = encoded(marked, codec, Path(scratch), "marked")
                cells.append(f"{psnr(mark, plain):.1f} dB ({psnr(plain, frames):.1f} dB)")
        print(f"| {clip.name} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frame", default=str(FOOTAGE / "hdtf_aoc.mp4"), help="the clip whose first frame is shown")
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "marks_sheet.jpg"))
    parser.add_argument("--clips", nargs="*", help="clips for the PSNR table (default: every video in the footage)")
    args = parser.parse_args()
    sheet(Path(args.frame), Path(args.output))
    clips = [FOOTAGE / c for c in args.clips] if args.clips is not None else \
        sorted(p for p in FOOTAGE.iterdir() if p.suffix in (".mp4", ".mpg", ".mov"))
    table(clips)


if __name__ == "__main__":
    main()
