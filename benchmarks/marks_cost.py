"""What the marks cost inside a real job, and how fast `dvp verify` reads them back.

Runs `dvp reenact` (TARGET driven by SOURCE with MODEL; any preset, since marking does not depend on training),
takes from its report the seconds spent labelling and watermarking frames and sealing the output (hashing its
pictures, signing the manifest), then runs `dvp verify` on the output and compares its time with the output's
running time.

    python benchmarks/marks_cost.py MODEL TARGET SOURCE [--out DIR] [--format mov|mp4]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dvp(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - started, run


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
        output, report = folder / f"reenacted.{args.format}", folder / "reenact.json"
        seconds, run = dvp("reenact", str(Path(args.target).resolve()), "--source", str(Path(args.source).resolve()),
                           "--model", str(Path(args.model).resolve()), "-o", str(output), "--report", str(report),
                           "-q")
        if run.returncode != 0:
            sys.exit(run.stderr)
        rep = json.loads(report.read_text())
        marks = rep["marks"]["seconds"]
        frames = rep["frames"]
        verify_s, check = dvp("verify", str(output), "-q", "--report", str(folder / "verify.json"))
        verified = json.loads((folder / "verify.json").read_text())
        from base.probe import probe

        duration = probe(output).duration
    print(f"| job | frames | job seconds | marking + sealing seconds | share | verify seconds | output seconds | "
          "verify speed |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| reenact {Path(args.target).name} by {Path(args.source).name} ({args.format}) | {frames} | {seconds:.1f} | "
          f"{marks:.1f} | {100 * marks / seconds:.1f} % | {verify_s:.1f} | {duration:.1f} | "
          f"{duration / verify_s:.1f}x real time |")
    print(f"verify: {verified['verdict']} (exit {check.returncode})", file=sys.stderr)


if __name__ == "__main__":
    main()
