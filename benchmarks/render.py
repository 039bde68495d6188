"""Benchmark conditioning rendering: frames/s at 256 and 512, and memory against shot length.

Tracks hdtf_aoc and lp_d9 (and lp_d9 looped four times), then times the
conditioning renderer alone (median and best of three passes over the shot) (colour, correspondence and eye gaze from one
rasterisation, no video decoding or encoding) in the renderer's own batches, for the
built-in rasteriser and, when it is installed, PyTorch3D. Memory is the peak
RSS of a fresh process rendering a whole shot. The first render call of each
process is timed apart: it loads the compiled kernels from numba's on-disk
cache, or compiles them when the cache is empty (timed once, with an empty
NUMBA_CACHE_DIR).

    python benchmarks/render.py [--footage DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numba

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from rendering.backends import pytorch3d_available  # noqa: E402

DEFAULT_FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))

# Run in a fresh process: render a whole track with the conditioning renderer, print fps and peak memory.
CHILD = """
import json, resource, sys, time, numpy as np, torch
torch.set_num_threads(2)
from reconstruction.track import load_track
from reconstruction.fitting import actor_from_track
from rendering.conditioning import ConditioningRenderer
from rendering.crop import shot_crop
track = load_track(sys.argv[1]); size = int(sys.argv[2]); backend = sys.argv[3]; limit = int(sys.argv[4])
actor = actor_from_track(track)
renderer = ConditioningRenderer(track, shot_crop(track, actor), size, backend, actor=actor)
n = min(len(track), limit) if limit > 0 else len(track)
t0 = time.perf_counter()
renderer.render(np.arange(min(4, n)))
first = time.perf_counter() - t0
rates, batch = [], renderer.batch_frames
for _ in range(3):  # three timed passes over the shot: this machine's speed varies from run to run
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        renderer.render(np.arange(i, min(n, i + batch)))
    rates.append(n / (time.perf_counter() - t0))
print(json.dumps({"frames": n, "fps": float(np.median(rates)), "best": max(rates), "first_s": first,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(track: Path, size: int, backend: str, limit: int = 0, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(track), str(size), backend, str(limit)], cwd=ROOT,
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    args = ap.parse_args()
    backends = ["builtin"] + (["pytorch3d"] if pytorch3d_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        looped = folder / "lp_d9_x4.mp4"
        subprocess.run([ffmpeg_path(), "-v", "error", "-stream_loop", "3", "-i", str(args.footage / "lp_d9.mp4"),
                        "-c", "copy", str(looped)], check=True)
        tracks = {}
        for clip in (args.footage / "hdtf_aoc.mp4", args.footage / "lp_d9.mp4", looped):
            tracks[clip.name] = folder / f"{clip.stem}.npz"
            subprocess.run([sys.executable, "-m", "pipeline.cli", "track", str(clip), "-o", str(tracks[clip.name]),
                            "-q"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cold = child(tracks["lp_d9.mp4"], 256, "builtin", limit=64,
                     env={**os.environ, "NUMBA_CACHE_DIR": str(folder / "empty-numba-cache")})
        print(f"conditioning rendering on {os.cpu_count()} CPU cores, torch threads 2, numba threads "
              f"{numba.config.NUMBA_NUM_THREADS}, batches of 64 frames at 256 and 16 at 512\n")
        print("| clip | rasteriser | size | frames | conditioning frames/s (median of 3) | best of 3 | "
              "first call s | peak memory MiB |")
        print("|---|---|---|---|---|---|---|---|")
        for name in ("hdtf_aoc.mp4", "lp_d9.mp4"):
            for backend in backends:
                for size in (256, 512):
                    r = child(tracks[name], size, backend, limit=0 if size == 256 else 128)
                    print(f"| {name} | {backend} | {size} | {r['frames']} | {r['fps']:.0f} | {r['best']:.0f} | "
                          f"{r['first_s']:.2f} | {r['peak_mib']:.0f} |")
        print(f"\nfirst call with an empty numba cache (compiling the kernels): {cold['first_s']:.1f} s")
        print("\nmemory against shot length (built-in, 256):\n")
        print("| clip | frames | conditioning frames/s | peak memory MiB |")
        print("|---|---|---|---|")
        for name in ("lp_d9.mp4", "lp_d9_x4.mp4"):
            r = child(tracks[name], 256, "builtin")
            print(f"| {name} | {r['frames']} | {r['fps']:.0f} | {r['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
