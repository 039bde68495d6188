"""Training recipes side by side at equal wall time: each variant of a preset trained for the same minutes, scored.

Every variant is the preset with some config fields overridden (`name:field=value,field=value`), trained on the
same clip and track for `--minutes` of training time each, one after the other in this process's machine, then
scored by `dvp evaluate` on the held-out frames. Printed: steps reached, and per variant the evaluation's head PSNR,
face-crop SSIM, mouth PSNR and SSIM, flicker, sharpness and checkerboard, beside nearest-neighbour retrieval.

    python benchmarks/recipes.py [--clip lp_d9.mp4] [--preset cpu] [--minutes 30] [--work DIR]
        [--variant old:upsample=transposed] [--variant new:upsample=resize] ...

`--work` keeps each variant's model folder (and reuses a finished one: delete it to train again).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.evaluation import evaluate  # noqa: E402
from pipeline.tracking import TrackOptions, track_video  # noqa: E402
from translation.config import preset  # noqa: E402
from translation.training import TrainOptions, train  # noqa: E402

DEFAULT_FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))


def parse_variant(text: str) -> tuple[str, dict]:
    """'name:field=value,field=value' -> (name, {field: value}), values read as JSON where they parse."""
    name, _, spec = text.partition(":")
    fields = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        try:
            fields[key] = json.loads(value)
        except json.JSONDecodeError:
            fields[key] = value
    return name, fields


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    ap.add_argument("--clip", default="lp_d9.mp4")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--variant", action="append", help="name:field=value,... (default: old and new upsampling)")
    ap.add_argument("--work", type=Path, help="keep the tracks and models here")
    args = ap.parse_args()
    variants = [parse_variant(v) for v in (args.variant or ["old:upsample=transposed", "new:upsample=resize"])]
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        video = args.footage / args.clip
        track = work / f"{video.stem}.track.npz"
        if not track.exists():
            track_video(video, track, options=TrackOptions(show_progress=False))
        rows = []
        for name, fields in variants:
            folder = work / f"{video.stem}_{args.preset}_{name}"
            config = preset(args.preset).with_overrides(**fields)
            summary = train(video, folder, config if not (folder / "model.json").exists() else None, track,
                            TrainOptions(minutes=args.minutes, show_progress=False, resume=(folder / "model.json")
                                         .exists()))
            scores = evaluate(folder, video, show_progress=False)
            rows.append((name, fields, summary, scores))
            print(f"{name}: {summary['step']} steps in {summary['trained_minutes']:.1f} min", file=sys.stderr,
                  flush=True)
    print(f"{args.clip}, preset {args.preset}, {args.minutes:g} minutes of training each, "
          f"{torch.get_num_threads()} threads; held-out frames {rows[0][3]['held_out_frames']}")
    print("| variant | overrides | steps | PSNR head | SSIM face crop | PSNR mouth | SSIM mouth | flicker | flicker head "
          "| flicker mouth | sharpness | checkerboard |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    nearest = rows[0][3]["methods"]["nearest_neighbour"]
    for name, fields, summary, scores in [*rows, ("nearest neighbour", {}, {"step": "-"}, {"methods": {
            "model": nearest}})]:
        m = scores["methods"]["model"]
        over = ", ".join(f"{k}={v}" for k, v in fields.items()) or "-"
        flick = " | ".join(f"{m[k]:.2f}" if m.get(k) is not None else "-"
                           for k in ("flicker", "flicker_head", "flicker_mouth"))
        print(f"| {name} | {over} | {summary['step']} | {m['psnr_head']:.2f} | {m['ssim_face']:.3f} | "
              f"{m['psnr_mouth']:.2f} | {m['ssim_mouth']:.3f} | {flick} | {m['sharpness']:.2f} | "
              f"{m['checkerboard']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
