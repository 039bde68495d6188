"""How well the dub's retiming finds the original's timing: each clip's own line played 20 % slower and 20 % faster
(ffmpeg's atempo, which keeps the pitch), so the true map is known (original time = dub time x tempo).

Prints, per clip and tempo, the pauses found and paired, the largest error at the original's pause boundaries,
and the median and largest error over every moment of speech, with the pause warp alone and refined by time
warping (`--same-language`), in frames at 25 fps.

    python benchmarks/retiming.py [--footage ../shared/footage]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from base.audio import read_audio  # noqa: E402
from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from pipeline.dubbing import standardised  # noqa: E402
from pipeline.retiming import pair_pauses, plan_warp, speech_spans  # noqa: E402
from speech.activity import voice_activity  # noqa: E402
from speech.features import log_mel  # noqa: E402

CLIPS = ("talk_lieu_60s.mp4", "talk_de_anchor.mp4", "talk_congress.mp4", "hdtf_khill.mp4", "hdtf_aoc.mp4",
         "talk_sofa_portrait.mp4", "talk_elder.mp4")
TEMPI = {"20 % longer": 1 / 1.2, "20 % shorter": 1.25}
FPS = 25


def stretched(source: Path, tempo: float, folder: Path) -> Path:
    out = folder / f"{source.stem}_{tempo:.3f}.wav"
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", "-i", str(source), "-vn", "-af", f"atempo={tempo}", "-ar",
                    "48000", "-c:a", "pcm_s24le", str(out)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footage", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "footage")
    args = parser.parse_args()
    print("| clip | dub | pauses (original / dub / paired) | pause boundaries, max | speech, median / max "
          "(pauses) | speech, median / max (pauses + DTW) | seconds |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in CLIPS:
            source = args.footage / name
            if not source.is_file():
                continue
            original = read_audio(source)
            activity = voice_activity(original)
            spans = speech_spans(activity)
            seconds = len(original) / 16000
            for label, tempo in TEMPI.items():
                began = time.perf_counter()
                dub = read_audio(stretched(source, tempo, Path(folder)))
                dub_activity = voice_activity(dub)
                dub_seconds = len(dub) / 16000
                plain = plan_warp(activity, dub_activity, seconds, dub_seconds)
                refined = plan_warp(activity, dub_activity, seconds, dub_seconds,
                                    original_spectra=standardised(log_mel(original)),
                                    dub_spectra=standardised(log_mel(dub)))
                took = time.perf_counter() - began
                bounds = np.array([t for a, b in zip(spans[:-1], spans[1:]) for t in (a[1], b[0])])
                boundary = np.abs(plain.original_time(bounds / tempo) - bounds) * FPS if len(bounds) else [np.nan]
                moments = np.concatenate([np.arange(a, b, 0.04) for a, b in spans])
                errors = [np.abs(w.original_time(moments / tempo) - moments) * FPS for w in (plain, refined)]
                dub_spans = speech_spans(dub_activity)
                paired = len(pair_pauses(spans, dub_spans)) if len(spans) > 1 and len(dub_spans) > 1 else 0
                print(f"| {name} | {label} | {len(spans) - 1} / {len(dub_spans) - 1} / {paired} | "
                      f"{np.max(boundary):.2f} | {np.median(errors[0]):.2f} / {errors[0].max():.2f} | "
                      f"{np.median(errors[1]):.2f} / {errors[1].max():.2f} | {took:.1f} |")


if __name__ == "__main__":
    main()
