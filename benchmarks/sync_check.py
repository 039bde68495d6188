"""The lip-sync meter on every clip with speech: its own sound, and copies with the sound moved by ±3, ±5, ±10 frames.

For each clip, the meter's model is trained on all the other clips (so no clip is judged by a meter that heard it),
then `dvp sync-check`'s reading is taken on the clip and on copies whose sound was moved (ffmpeg: silence put before
the sound to move it later, the start cut to move it earlier; the picture copied untouched). Beside it, the plain
method the meter replaces: the loudness envelope against the re-tracked lip gap, searched over the same lags.
Printed: per clip the offsets found for each move, the confidences, and the accuracy over all copies (the move found
within ±1 frame; the verdict "in sync" on the unmoved copies only); and the time a reading takes.

    python benchmarks/sync_check.py [CLIP ...] [--tracks DIR] [--steps N] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from base.probe import probe  # noqa: E402
from pipeline.speech_clips import tracked_speech  # noqa: E402
from pipeline.speech_training import METER_SEED, speaking_clips  # noqa: E402
from pipeline.sync_check import check_sync  # noqa: E402
from reconstruction.track import load_track  # noqa: E402
from speech.audio_model import sample_rows  # noqa: E402
from speech.audio_training import TrainingSettings, train_audio_model  # noqa: E402
from speech.sync import lag_scores, read_sync  # noqa: E402

FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))
PATTERNS = ("talk_*", "grid_*", "hdtf_*", "lp_d9.*")
MOVES = (0, -3, 3, -5, 5, -10, 10)


def moved_copy(video: Path, frames: int, folder: Path) -> Path:
    """A copy of `video` with its sound `frames` frames later (negative: earlier); the picture untouched."""
    if frames == 0:
        return video
    seconds = abs(frames) / float(probe(video).fps)
    sound = (f"adelay={seconds * 1000:.3f}:all=1" if frames > 0
             else f"atrim=start={seconds:.6f},asetpts=PTS-STARTPTS")
    out = folder / f"{video.stem}_moved{frames:+d}.mkv"
    subprocess.run([ffmpeg_path(), "-v", "error", "-nostdin", "-y", "-i", str(video), "-map", "0:v:0", "-map", "0:a:0",
                    "-c:v", "copy", "-af", sound, "-c:a", "pcm_s16le", str(out)], check=True)
    return out


def loudness_reading(video: Path, track: Path):
    """The plain method: the loudness envelope (speech only) against the re-tracked lip gap."""
    speech = tracked_speech(video, track=load_track(track))
    loud = np.clip(speech.features.column("intensity") + 1, 0, 1) * speech.features.speech
    envelope = np.convolve(loud, np.ones(6) / 6, mode="same")[:, None].astype(np.float32)
    fps = float(probe(video).fps)
    lags, scores = lag_scores(speech.lip_gap[:, None], lambda lag: sample_rows(envelope, speech.times + lag / fps),
                              speech.track.valid)
    return read_sync(lags, scores, float(speech.features.speech.sum() * 0.01), fps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--tracks", type=Path, default=Path(".bench_tracks"), help="where tracks are kept (reused)")
    ap.add_argument("--steps", type=int, default=TrainingSettings().steps)
    ap.add_argument("--json", type=Path, help="also write every reading as JSON")
    args = ap.parse_args()
    videos = args.clips or sorted(v for p in PATTERNS for v in FOOTAGE.glob(p))
    clips = speaking_clips(videos, args.tracks)
    results, timings = {}, []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for video, speech in clips.items():
            others = [s.meter_clip() for v, s in clips.items() if v != video]
            settings = TrainingSettings(steps=args.steps, seed=METER_SEED)
            meter, _ = train_audio_model(others, ["lip_gap", "jaw_open"], settings, kind="meter")
            meter_path = folder / "meter.pt"
            meter.save(meter_path)
            track = args.tracks / f"{video.stem}.track.npz"
            row = {}
            for move in MOVES:
                copy = moved_copy(video, move, folder)
                began = time.perf_counter()
                reading, _ = check_sync(copy, track=track, meter=meter_path, show_progress=False)
                timings.append((time.perf_counter() - began, speech.features.speech.size * 0.01))
                plain = loudness_reading(copy, track)
                row[move] = {"meter": reading.as_dict(), "loudness": plain.as_dict()}
            results[video.name] = row
            print(f"{video.name}: " + ", ".join(f"{m:+d}->{row[m]['meter']['offset_frames']}" for m in MOVES),
                  file=sys.stderr, flush=True)
    print("| clip | " + " | ".join(f"moved {m:+d}" for m in MOVES) + " | confidence (unmoved) | loudness envelope "
          "(unmoved) |")
    print("|---|" + "---|" * (len(MOVES) + 2))
    found = {"meter": 0, "loudness": 0}
    verdicts = 0
    total = 0
    for name, row in results.items():
        cells = []
        for move in MOVES:
            got = row[move]["meter"]["offset_frames"]
            ok = got is not None and abs(got - move) <= 1
            cells.append(f"{'–' if got is None else f'{got:+d}'}{'' if ok else ' ✗'}")
            for method in found:
                g = row[move][method]["offset_frames"]
                found[method] += g is not None and abs(g - move) <= 1
            says_in_sync = row[move]["meter"]["verdict"] == "in sync"
            verdicts += says_in_sync == (move == 0)
            total += 1
        confidence = row[0]["meter"]["confidence"]
        plain = row[0]["loudness"]["offset_frames"]
        print(f"| {name} | " + " | ".join(cells) + f" | {'–' if confidence is None else f'{confidence:.2f}'} | "
              f"{'–' if plain is None else f'{plain:+d}'} |")
    print(f"\nmove found within ±1 frame: meter {found['meter']} of {total} "
          f"({100 * found['meter'] / total:.0f} %), loudness envelope {found['loudness']} of {total} "
          f"({100 * found['loudness'] / total:.0f} %)")
    print(f"verdict right (in sync on unmoved copies, not in sync on moved ones): {verdicts} of {total} "
          f"({100 * verdicts / total:.0f} %)")
    seconds = np.array(timings)
    print(f"a reading (track given) takes {seconds[:, 0].mean():.2f} s per clip on average, "
          f"{seconds[:, 0].sum() / seconds[:, 1].sum():.3f} of the sound's length")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
