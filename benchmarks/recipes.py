"""Training recipes side by side at equal wall time: each variant of a preset trained for the same minutes, scored.

Every variant is the preset with some config fields overridden (`name:field=value,field=value`), trained on the
same clip and track for `--minutes` of training time each, one after the other in this process's machine, then
scored by `dvp evaluate` on the held-out frames. Printed: steps reached, and per variant the evaluation's head PSNR,
face-crop SSIM, mouth PSNR and SSIM, flicker, sharpness and checkerboard, beside nearest-neighbour retrieval.

With `--calibrate SECONDS` the time budget becomes a step budget: each variant first trains alone for SECONDS (keep
the machine quiet then), its steps per second are measured, and it is then trained for as many steps as `--minutes`
give at that rate. Other work on the machine afterwards lengthens the runs but no longer changes their results.
A variant with an average of the generator's weights (`ema_decay`) is scored twice, with the average and with the
raw weights ("name (raw)"), from the same training run.

    python benchmarks/recipes.py [--clip lp_d9.mp4] [--preset cpu] [--minutes 30] [--calibrate 120] [--work DIR]
        [--variant old:upsample=transposed] [--variant new:upsample=resize] ...

`--work` keeps each variant's model folder (and reuses a finished one: delete it to train again).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.evaluation import evaluate  # noqa: E402
from pipeline.tracking import TrackOptions, track_video  # noqa: E402
from translation import model_dir as md  # noqa: E402
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


def steps_per_second(video: Path, track: Path, folder: Path, config, seconds: float) -> float:
    """The variant's training rate, measured over a short run of its own (after its first checkpoint's warm-up)."""
    shutil.rmtree(folder, ignore_errors=True)
    summary = train(video, folder, config, track, TrainOptions(minutes=seconds / 60, show_progress=False))
    shutil.rmtree(folder, ignore_errors=True)
    return summary["step"] / max(summary["trained_minutes"] * 60, 1e-9)


def raw_weights_copy(folder: Path, into: Path) -> Path:
    """A copy of a model folder whose checkpoint keeps only the raw generator, so inference uses it."""
    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(folder, into)
    state = md.load_checkpoint(into)
    state.pop("generator_average", None)
    md.save_checkpoint(into, state)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    ap.add_argument("--clip", default="lp_d9.mp4")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--variant", action="append", help="name:field=value,... (default: old and new upsampling)")
    ap.add_argument("--calibrate", type=float, metavar="SECONDS",
                    help="turn --minutes into a step budget per variant from a measured rate (see above)")
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
        configs = {name: preset(args.preset).with_overrides(**fields) for name, fields in variants}
        budgets = {name: {"minutes": args.minutes} for name in configs}
        if args.calibrate:
            for name, config in configs.items():
                rate = steps_per_second(video, track, work / f"calibrating_{name}", config, args.calibrate)
                budgets[name] = {"steps": max(1, round(rate * args.minutes * 60))}
                print(f"{name}: {rate:.2f} steps/s -> {budgets[name]['steps']} steps", file=sys.stderr, flush=True)
        rows = []
        for name, fields in variants:
            folder = work / f"{video.stem}_{args.preset}_{name}"
            resume = (folder / md.MANIFEST).exists()
            summary = train(video, folder, None if resume else configs[name], track,
                            TrainOptions(**budgets[name], show_progress=False, resume=resume))
            rows.append((name, fields, summary, evaluate(folder, video, show_progress=False)))
            if configs[name].ema_decay:
                raw = raw_weights_copy(folder, work / f"{folder.name}_raw")
                rows.append((f"{name} (raw)", fields, summary, evaluate(raw, video, show_progress=False)))
            print(f"{name}: {summary['step']} steps in {summary['trained_minutes']:.1f} min", file=sys.stderr,
                  flush=True)
    budget = "steps calibrated to " if args.calibrate else ""
    print(f"{args.clip}, preset {args.preset}, {budget}{args.minutes:g} minutes of training each, "
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
