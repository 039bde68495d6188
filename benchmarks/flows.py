"""The shot flow run twice on a real clip: the first run does the work, the second is served from the work folder.

Writes a job file (an edit: a smile over the middle of the clip, through a `tiny` model trained for `--steps`),
runs `flows.shot.shot_flow` on it twice against a temporary Prefect server, and prints the seconds of each run and
of each stage's task in the first.

    python benchmarks/flows.py [--clip ../shared/footage/lp_d0.mp4] [--steps 60] [--work DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from base.probe import probe  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "footage" / "lp_d0.mp4")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    from flows.shot import shot_flow

    frames = probe(args.clip).frame_count
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        folder = args.work or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "smile.yaml").write_text(f"version: 1\nedits:\n  - frames: [{frames // 4}, {frames * 3 // 4}]\n"
                                           "    ease: 5\n    expression: {smile: 0.5}\n")
        job = folder / "shot.yaml"
        job.write_text(yaml.safe_dump({"version": 1, "target": str(args.clip.resolve()), "job": "edit",
                                       "edits": "smile.yaml", "output": "out/edited.mov",
                                       "train": {"preset": "tiny", "steps": args.steps},
                                       "options": {"verify": False}}))
        print(f"{args.clip.name}: {frames} frames, an edit through a tiny model trained for {args.steps} steps")
        print("| run | seconds |")
        print("|---|---|")
        for run in ("first (does the work)", "second (from the work folder)"):
            began = time.perf_counter()
            shot_flow(str(job))
            print(f"| {run} | {time.perf_counter() - began:.1f} |", flush=True)


if __name__ == "__main__":
    main()
