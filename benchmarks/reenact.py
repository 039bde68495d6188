"""Faithfulness and speed of reenactment and editing on the footage, measured by tracking the outputs again.

Needs a model trained on lp_d9 (the README's commands:
`dvp train ../shared/footage/lp_d9.mp4 -o MODEL --preset cpu --minutes 90`, and for its eye pathway
`dvp train ../shared/footage/lp_d9.mp4 -o MODEL --eyes --minutes 20`). Runs:

- lp_d9 driven by itself (self-reenactment: what the model, the compositing and
  re-tracking lose when nothing has to change);
- lp_d9 driven by lp_d3 and by lp_d14 (cross-actor reenactment, all parts);
- lp_d9 edited with data/edit_example.yaml (head turn and smile, then a look at
  the camera with blinks held back), scored on the fully edited frames;

with the model's eye pathway when it has one (`--no-eyes` leaves it out), the
gaze warp (`--no-gaze-warp` leaves it out) and the pose calibration's pilot
pass (`--no-pose-calibration` leaves it out), and
prints, for each, the mean head-pose error, expression NME and gaze error
against the intended parameters, with their 95th percentiles (gaze over the
eyes meant to be open, and over all eyes, see `pipeline.faithfulness`); the same pose and
gaze errors over the frames whose intended head pose (gaze) lies inside the
range of the model's training frames (see `pipeline.coverage`), with the
number of such frames; the pose error over the frames with a training frame
within 3 degrees of their head rotation; and the speed of the whole command.

    python benchmarks/reenact.py MODEL [--footage DIR] [--out DIR] [--no-eyes] [--no-gaze-warp]
                                       [--no-pose-calibration] [--runs self,lp_d3,lp_d14,edit]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.editing import edit  # noqa: E402
from pipeline.job import JobOptions  # noqa: E402
from pipeline.reenactment import reenact  # noqa: E402

DEFAULT_FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))
RUNS = {"self": "lp_d9", "lp_d3": "lp_d3", "lp_d14": "lp_d14", "edit": None}  # run name: the source that drives lp_d9


def _score(scores: dict, key: str) -> str:
    return f"{scores[key]:.2f}" if key in scores else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    ap.add_argument("--out", type=Path, help="keep the outputs and previews here (default: a temporary folder)")
    ap.add_argument("--no-eyes", action="store_true", help="leave the model's eye pathway out")
    ap.add_argument("--no-gaze-warp", action="store_true", help="keep the painted eyeballs (no gaze warp)")
    ap.add_argument("--no-pose-calibration", action="store_true", help="no pilot pass: condition on the asked pose")
    ap.add_argument("--runs", default=",".join(RUNS),
                    help=f"which runs, comma-separated (default: all of {','.join(RUNS)})")
    args = ap.parse_args()
    runs = args.runs.split(",")
    if not runs or set(runs) - set(RUNS):
        ap.error(f"--runs takes names from {','.join(RUNS)}, not {args.runs!r}")
    eyes, warp, posed = not args.no_eyes, not args.no_gaze_warp, not args.no_pose_calibration

    def options(preview: Path) -> JobOptions:
        return JobOptions(preview=preview, verify=True, show_progress=False, eyes=eyes, gaze_warp=warp,
                          pose_calibration=posed)

    target = args.footage / "lp_d9.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for source in (RUNS[run] for run in runs if run != "edit"):
            r = reenact(args.footage / f"{source}.mp4", target, args.model, out / f"lp_d9_by_{source}.mp4",
                        options=options(preview=out / f"lp_d9_by_{source}.preview.mp4"))
            rows.append((f"reenact: lp_d9 driven by {source}", r))
        if "edit" in runs:
            r = edit(target, args.model, ROOT / "data" / "edit_example.yaml", out / "lp_d9_edited.mp4",
                     options(preview=out / "lp_d9_edited.preview.mp4"))
            rows.append(("edit: lp_d9 with data/edit_example.yaml", r))
        step = rows[0][1]["eye_pathway_step"]
        print(f"model {args.model}: main network step {rows[0][1]['model_step']}, "
              + (f"eye pathway step {step}" if step is not None else "no eye pathway")
              + (", gaze warp" if warp else ", no gaze warp")
              + (", pose calibration" if posed else ", no pose calibration"))
        print()
        print("| run | frames scored | head pose error deg (p95) | expression NME | gaze error deg, open eyes (p95) | "
              "gaze error deg, all eyes | pose in range: frames, error deg | pose near an example: frames, error deg | "
              "gaze in range: frames, error deg | frames/s (whole command) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, r in rows:
            f = r["faithfulness"]
            inside = f["inside_training_range"]
            print(f"| {name} | {f['frames']} | {f['pose_error_deg']:.2f} ({f['pose_error_deg_p95']:.2f}) | "
                  f"{f['expression_nme']:.4f} | {_score(f, 'gaze_error_deg')} ({_score(f, 'gaze_error_deg_p95')}) | "
                  f"{f['gaze_error_deg_all_eyes']:.2f} | "
                  f"{inside['head_frames']}, {_score(inside, 'pose_error_deg')} | "
                  f"{inside['near_pose_frames']}, {_score(inside, 'near_pose_error_deg')} | "
                  f"{inside['gaze_frames']}, {_score(inside, 'gaze_error_deg')} | {r['frames'] / r['seconds']:.1f} |")
        print()
        print(json.dumps({name: r for name, r in rows}, indent=1))


if __name__ == "__main__":
    main()
