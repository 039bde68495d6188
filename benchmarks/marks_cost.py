"""What the marks cost a real job, and how fast `dvp verify` reads them back.

Runs `dvp reenact` (TARGET driven by SOURCE with MODEL; any preset, since marking does not depend on training)
three times in this process: once to warm up, then with the frames written unmarked and the output left unsigned
(the marks switched off here, for the measurement only: dvp itself has no such switch), then as shipped. The
difference is what labelling, watermarking and sealing cost the job, whatever else shares the cores (the encoder,
the network). Then `dvp verify` reads the marked output, against the output's running time.

    python benchmarks/marks_cost.py MODEL TARGET SOURCE [--out DIR] [--format mov|mp4]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.probe import probe  # noqa: E402
from pipeline.cli import main as dvp  # noqa: E402


def run(args: list[str]) -> float:
    started = time.perf_counter()
    if dvp(args) != 0:
        sys.exit(f"dvp {args[0]} failed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("target")
    parser.add_argument("source")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--format", default="mov", choices=["mov", "mp4"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        job = ["reenact", str(Path(args.target).resolve()), "--source", str(Path(args.source).resolve()),
               "--model", str(Path(args.model).resolve()), "-q"]
        output = folder / f"reenacted.{args.format}"
        run([*job, "-o", str(folder / f"warm.{args.format}")])  # loads and caches what both runs use
        with mock.patch("pipeline.synthesis.marked", lambda writer, marks: writer), \
                mock.patch("pipeline.marking.Provenance.seal", lambda self, out, seconds=0.0: {}):
            plain_s = run([*job, "-o", str(folder / f"plain.{args.format}")])
        marked_s = run([*job, "-o", str(output)])
        verify_s = run(["verify", str(output), "-q", "--report", str(folder / "verify.json")])
        verdict = json.loads((folder / "verify.json").read_text())["verdict"]
        duration, frames = probe(output).duration, probe(output).frame_count
    info = probe(args.target)
    print("| job | frames | unmarked s | marked s | marks' share | verify s | output s | verify speed |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| reenact {Path(args.target).name} ({info.width}x{info.height}) by {Path(args.source).name}, "
          f"{args.format} | {frames} | {plain_s:.1f} | {marked_s:.1f} | {100 * (marked_s - plain_s) / plain_s:.1f} % "
          f"| {verify_s:.1f} | {duration:.1f} | {duration / verify_s:.1f}x real time |")
    print(f"verify: {verdict}", file=sys.stderr)


if __name__ == "__main__":
    main()
