"""Leave-one-clip-out: the audio-to-mouth model against the two rule-based baselines on every clip with speech.

For each clip, a model is trained on all the other clips (with `dvp train-audio`'s settings) and predicts the held-out
clip's mouth from its sound alone; the loudness-envelope jaw and the coarticulated visemes predict it too. Printed per
clip and on average: the Pearson correlation of the jaw opening and of the lip gap with the tracked ones, the lip
vertex error (mm), and how each mouth behaves (lip gap on p/b/m against other voiced phones, rounding on rounded
vowels, chatter in silence). Clips whose sound holds too little speech are left out, as `dvp train-audio` leaves them.

    python benchmarks/audio_mouth.py [CLIP ...] [--tracks DIR] [--steps N] [--json OUT.json]

With no clips, the speech clips of ../shared/footage (talk_*, grid_*, hdtf_*, lp_d9).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.speech_evaluation import (  # noqa: E402
    lead_seconds,
    loudness_baseline,
    model_mouth,
    score_mouth,
    viseme_baseline,
)
from pipeline.speech_training import speaking_clips  # noqa: E402
from speech.audio_training import TrainingSettings, train_audio_model  # noqa: E402
from speech.mouth import MOUTH_CONTROLS  # noqa: E402

FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))
PATTERNS = ("talk_*", "grid_*", "hdtf_*", "lp_d9.*")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--tracks", type=Path, default=Path(".bench_tracks"), help="where tracks are kept (reused)")
    ap.add_argument("--steps", type=int, default=TrainingSettings().steps)
    ap.add_argument("--prior", type=float, default=TrainingSettings().prior,
                    help="weight of the viseme mouth in the model's outputs")
    ap.add_argument("--json", type=Path, help="also write the table as JSON")
    args = ap.parse_args()
    videos = args.clips or sorted(v for p in PATTERNS for v in FOOTAGE.glob(p))
    clips = {video.name: speech for video, speech in speaking_clips(videos, args.tracks).items()}
    rows, leads = {}, {}
    for held, speech in clips.items():
        began = time.perf_counter()
        model, _ = train_audio_model([s.mouth_clip() for n, s in clips.items() if n != held], list(MOUTH_CONTROLS),
                                     TrainingSettings(steps=args.steps, prior=args.prior))
        leads[held] = lead_seconds(speech, model)
        rows[held] = {"model": score_mouth(speech, model_mouth(speech, model)),
                      "visemes": score_mouth(speech, viseme_baseline(speech)),
                      "loudness": score_mouth(speech, loudness_baseline(speech))}
        print(f"{held}: trained and scored in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    methods = ("model", "visemes", "loudness")
    print("| held-out clip | " + " | ".join(f"{m} jaw r | {m} gap r | {m} LVE mm" for m in methods) + " |")
    print("|---|" + "---|" * (3 * len(methods)))
    for held, scores in rows.items():
        cells = [f"{scores[m].jaw_r:.2f} | {scores[m].gap_r:.2f} | {scores[m].lip_error_mm:.2f}" for m in methods]
        print(f"| {held} | " + " | ".join(cells) + " |")
    mean = {m: {k: float(np.nanmean([getattr(r[m], k) for r in rows.values()]))
                for k in rows[next(iter(rows))][m].__dataclass_fields__} for m in methods}
    cells = [f"**{mean[m]['jaw_r']:.2f}** | **{mean[m]['gap_r']:.2f}** | **{mean[m]['lip_error_mm']:.2f}**"
             for m in methods]
    print("| mean | " + " | ".join(cells) + " |")
    for measure in ("jaw_r", "gap_r"):
        wins = sum(getattr(r["model"], measure) > max(getattr(r["visemes"], measure), getattr(r["loudness"], measure))
                   for r in rows.values())
        print(f"\nmodel beats both baselines on {measure}: {wins} of {len(rows)} clips")
    wins = sum(r["model"].lip_error_mm < min(r["visemes"].lip_error_mm, r["loudness"].lip_error_mm)
               for r in rows.values())
    print(f"model beats both baselines on lip vertex error: {wins} of {len(rows)} clips")
    print("\n| mouth | lip gap on p/b/m mm | lip gap on other vowels mm | rounding on rounded vowels | chatter in "
          "silence mm/frame |")
    print("|---|---|---|---|---|")
    tracked = {k: float(np.nanmean([getattr(score_mouth(s, s.controls), k) for s in clips.values()]))
               for k in ("closed_on_bilabials_mm", "open_on_vowels_mm", "pucker_rounded", "silent_motion_mm")}
    for name, values in (("tracked", tracked), *((m, mean[m]) for m in methods)):
        print(f"| {name} | {values['closed_on_bilabials_mm']:.2f} | {values['open_on_vowels_mm']:.2f} | "
              f"{values['pucker_rounded']:+.3f} | {values['silent_motion_mm']:.3f} |")
    lead = np.array([v for v in leads.values() if np.isfinite(v)])
    print(f"\nthe model's mouth opens ahead of speech onsets by {1000 * np.median(lead):.0f} ms (median over "
          f"{len(lead)} held-out clips; range {1000 * lead.min():.0f} to {1000 * lead.max():.0f} ms)")
    if args.json:
        args.json.write_text(json.dumps({h: {m: vars(s) for m, s in r.items()} for h, r in rows.items()}, indent=1))


if __name__ == "__main__":
    main()
