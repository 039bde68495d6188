"""The mouth pathway at the source's resolution: the held-out frames painted with and without it, against the real.

The model's held-out frames (the last part of its target video, never trained on) are painted by the network in a
no-op edit (`expression: {smile: 0}` over the held-out range: every frame goes through the network, nothing is asked
to change), once with the model's mouth pathway and once without (`--no-mouth`), written as PNG so no codec enters.
Each output frame's mouth box (the pathway's own box, in source pixels) is scored against the real frame: PSNR, SSIM,
sharpness (high-frequency energy over the real's) and checkerboard (period-2 energy over the real's), and the
steadiness of the teeth: the mean absolute change of the box from frame to frame, output against real (flicker),
and the change inside the lips once each next frame is aligned to the upper jaw (the affine map of the nose and upper
lip vertices), in grey levels over frames where the mouth is open, the real frames' given beside it (`teeth`: teeth
that swim against the jaw raise it).

Beside them, the retrieval way of Synthesizing Obama (`translation.mouth_retrieval`): the training frames' nearest
mouths, warped, merged by a weighted median and sharpened, painted over the main network's frames, and over the
mouth pathway's.
A contact sheet of real | main network | with the mouth pathway | retrieval, three held-out frames, is written with
`--sheet`.

    python benchmarks/mouth.py VIDEO MODEL [--sheet SHEET.jpg] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.metrics import checkerboard_score, flicker, psnr, sharpness_ratio, ssim  # noqa: E402
from base.reading import VideoReader  # noqa: E402
from pipeline.editing import edit  # noqa: E402
from pipeline.job import JobOptions  # noqa: E402
from reconstruction.fitting import actor_from_track, track_params  # noqa: E402
from reconstruction.track import load_track  # noqa: E402
from translation import model_dir as md  # noqa: E402
from translation.mouth_retrieval import MouthRetrieval, polygon_mask  # noqa: E402
from translation.pathways import MOUTH_PATHWAY, TrainedPathway  # noqa: E402

OPEN_PIXELS = 40  # inner-mouth area, source pixels, above which the teeth can show


def teeth_change(images: list[np.ndarray], track, frames: np.ndarray) -> float:
    """Mean absolute grey-level change inside the inner lips from each frame to the next, the next aligned to the
    upper jaw, over pairs where the mouth is open."""
    actor = actor_from_track(track)
    topology = actor.model.topology
    jaw = np.concatenate([topology.region("nose"), topology.region("lips_outer_upper")])
    inner = np.concatenate([topology.region("lips_inner_upper"), topology.region("lips_inner_lower")[::-1]])
    px = actor.camera.project(actor.camera_points(track_params(track, frames)))
    changes = []
    for k in range(len(frames) - 1):
        mask = polygon_mask(px[k][inner], images[k].shape[:2]) > 0.5
        if mask.sum() < OPEN_PIXELS:
            continue
        affine, _ = cv2.estimateAffine2D(px[k + 1][jaw].astype(np.float32), px[k][jaw].astype(np.float32))
        if affine is None:
            continue
        h, w = images[k].shape[:2]
        following = cv2.warpAffine(images[k + 1], affine, (w, h), flags=cv2.INTER_LINEAR)
        grey = [cv2.cvtColor(i, cv2.COLOR_RGB2GRAY).astype(np.float32) for i in (images[k], following)]
        changes.append(float(np.abs(grey[1] - grey[0])[mask].mean()))
    return float(np.mean(changes)) if changes else float("nan")


def _boxes(images: list[np.ndarray], corners: np.ndarray, side: int) -> torch.Tensor:
    """(N, 3, side, side) the mouth boxes of frames (black where a box leaves the frame)."""
    out = np.zeros((len(images), side, side, 3), np.uint8)
    for k, (image, (x, y)) in enumerate(zip(images, corners)):
        h, w = image.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
        out[k, y0 - y:y1 - y, x0 - x:x1 - x] = image[y0:y1, x0:x1]
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", type=Path)
    ap.add_argument("model", type=Path)
    ap.add_argument("--sheet", type=Path, help="also write a contact sheet (JPEG)")
    ap.add_argument("--out", type=Path, help="keep the outputs here (default: a temporary folder)")
    args = ap.parse_args()
    pathway = TrainedPathway.of(MOUTH_PATHWAY, args.model)
    if pathway is None:
        raise SystemExit(f"{args.model} has no mouth pathway: dvp train VIDEO -o {args.model} --mouth")
    manifest = md.read_manifest(args.model)
    first, last, _ = manifest["split"]["held_out"]
    held = np.arange(first, last + 1)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        spec = out / "held_out.yaml"
        spec.write_text(f"version: 1\nedits:\n  - frames: [{first}, {last}]\n    expression: {{smile: 0}}\n")
        frames = {}
        for name, mouth in (("with", True), ("without", False)):
            folder = out / f"{args.video.stem}_{name}_mouth"
            if not folder.exists():
                edit(args.video, args.model, spec, folder, JobOptions(mouth=mouth, audio="none", show_progress=False))
            frames[name] = [cv2.cvtColor(cv2.imread(str(folder / f"frame_{i:06d}.png")), cv2.COLOR_BGR2RGB)
                            for i in held]
        train_first, train_last, _ = manifest["split"]["train"]
        library, real = [], []
        for i, f in enumerate(VideoReader(args.video)):
            if train_first <= i <= train_last:
                library.append(f)
            elif first <= i <= last:
                real.append(f)
    track = load_track(args.model / md.TRACK)
    retrieval = MouthRetrieval(track, library, np.arange(train_first, train_last + 1))
    frames["retrieval"] = [retrieval.paint(image, track, i) for image, i in zip(frames["without"], held)]
    frames["both"] = [retrieval.paint(image, track, i) for image, i in zip(frames["with"], held)]
    del library, retrieval
    view = pathway.view(track)
    corners = view.samples(held).corners[:, 0]
    truth = _boxes(real, corners, pathway.side)
    print(f"{args.video.name}, mouth pathway step {pathway.step}, held-out "
          f"frames {first}-{last} ({len(held)}), mouth boxes of {pathway.side} source pixels")
    print(f"teeth change against the upper jaw in the real frames: {teeth_change(real, track, held):.2f}")
    print("| method | PSNR mouth box | SSIM mouth box | sharpness | checkerboard | flicker | teeth |")
    print("|---|---|---|---|---|---|---|")
    rows = {}
    for name, label in (("without", "main network"), ("with", "with the mouth pathway"),
                        ("retrieval", "retrieval (Synthesizing Obama)"),
                        ("both", "mouth pathway, then retrieval")):
        boxes = _boxes(frames[name], corners, pathway.side)
        row = {"psnr": float(psnr(boxes, truth).mean()), "ssim": float(ssim(boxes, truth).mean()),
               "sharpness": float(np.nanmean(sharpness_ratio(boxes, truth).numpy())),
               "checkerboard": float(checkerboard_score(boxes, truth).mean()),
               "flicker": float(flicker(boxes, truth).mean()), "teeth": teeth_change(frames[name], track, held)}
        rows[name] = row
        print(f"| {label} | {row['psnr']:.2f} | {row['ssim']:.3f} | {row['sharpness']:.2f} | "
              f"{row['checkerboard']:.2f} | {row['flicker']:.2f} | {row['teeth']:.2f} |", flush=True)
    print(json.dumps(rows), file=sys.stderr)
    if args.sheet:
        picks = np.linspace(0, len(held) - 1, 3).round().astype(int)
        pad = pathway.side // 4
        sheet_rows = []
        for k in picks:
            x, y = corners[k] - pad
            crops = [_boxes([image], np.array([[x, y]]), pathway.side + 2 * pad)[0].permute(1, 2, 0).numpy()
                     for image in (real[k], frames["without"][k], frames["with"][k], frames["retrieval"][k])]
            sheet_rows.append(np.concatenate(crops, axis=1))
        sheet = np.concatenate(sheet_rows)
        cv2.imwrite(str(args.sheet), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        print(f"wrote {args.sheet}: real | main network | with the mouth pathway | retrieval, held-out frames "
              f"{', '.join(str(held[k]) for k in picks)}")


if __name__ == "__main__":
    main()
