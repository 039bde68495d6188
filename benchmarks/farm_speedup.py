"""What the farm's chunk-parallel tasks buy on this machine, and what starting the farm costs.

Measures, on a real clip:
- start-up: the temporary Prefect server `dvp farm` starts (`flows.server`), and a Dask LocalCluster of `--workers`
  worker processes (spawn, one thread each);
- tracking: one pass (`track_video`, no Prefect) against the track flow (faces detected in chunks of 256 frames as
  mapped tasks, then followed, fitted and lit in one task) in Prefect's thread pool and on the LocalCluster;
- synthesis: an edit in one pass (`run_job`) against the edit flow (planned once, segments of `--segment-frames`
  frames as mapped tasks, joined without re-encoding) on the LocalCluster, through a `cpu` model trained for
  `--steps` steps (its speed, not its quality, is what counts here).
The flows run on fresh work folders, so nothing is served from a cache; the cluster's start is not counted in the
flows' times (it is its own row).

    python benchmarks/farm_speedup.py [--clip ../shared/footage/talk_lieu_60s.mp4] [--workers 2] [--steps 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "footage"


def timed(function, *args, **kwargs) -> tuple[float, object]:
    began = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - began, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=FOOTAGE / "talk_lieu_60s.mp4")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--segment-frames", type=int, default=256)
    args = ap.parse_args()
    from distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    from base.reading import VideoReader
    from flows.runners import local_cluster
    from flows.server import prefect_server
    from flows.shot import edit_flow, track_flow
    from pipeline.editing import edit
    from pipeline.job import JobOptions
    from pipeline.tracking import TrackOptions, track_video
    from pipeline.training import train_model, training_config
    from translation.training import TrainOptions

    frames = VideoReader(args.clip).frame_count
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        began = time.perf_counter()
        with prefect_server():
            rows.append(("start-up", "temporary Prefect server", time.perf_counter() - began, None))
            clusters, runners = {}, {}
            for workers in (1, args.workers):  # the cluster `dvp farm run --workers N` starts
                seconds, clusters[workers] = timed(LocalCluster, **local_cluster(workers))
                runners[workers] = DaskTaskRunner(address=clusters[workers].scheduler_address)
                rows.append(("start-up", f"Dask LocalCluster, {workers} worker(s)", seconds, None))

            one, _ = timed(track_video, args.clip, tmp / "one.track.npz", options=TrackOptions(show_progress=False))
            rows.append(("tracking", "one pass, no Prefect", one, one))
            seconds, _ = timed(track_flow, str(args.clip), str(tmp / "threads"))
            rows.append(("tracking", "track flow, Prefect's threads", seconds, one))
            for workers, runner in runners.items():
                seconds, _ = timed(track_flow.with_options(task_runner=runner), str(args.clip),
                                   str(tmp / f"d{workers}"))
                rows.append(("tracking", f"track flow, {workers} Dask worker(s)", seconds, one))

            model = tmp / "model"
            train_model(args.clip, model, training_config(model, "cpu"), tmp / "one.track.npz",
                        TrainOptions(steps=args.steps, show_progress=False))
            spec = tmp / "smile.yaml"
            spec.write_text(f"version: 1\nedits:\n  - frames: [0, {frames - 1}]\n    expression: {{smile: 0.4}}\n")
            options = JobOptions(verify=False, show_progress=False)
            one, _ = timed(edit, args.clip, model, spec, tmp / "one.mov", options)
            rows.append(("synthesis", "edit in one pass, no Prefect", one, one))
            for workers, runner in runners.items():
                seconds, _ = timed(edit_flow.with_options(task_runner=runner), str(args.clip), str(model), str(spec),
                                   str(tmp / f"d{workers}.mov"), str(tmp / f"work{workers}"), {"verify": False},
                                   args.segment_frames)
                rows.append(("synthesis", f"edit flow, segments of {args.segment_frames}, {workers} Dask worker(s)",
                             seconds, one))
            for cluster in clusters.values():
                cluster.close()
    print(f"{args.clip.name}: {frames} frames; {os.cpu_count()} cores")
    print("| stage | how | seconds | speed-up |")
    print("|---|---|---|---|")
    for stage, how, seconds, base in rows:
        print(f"| {stage} | {how} | {seconds:.1f} | {f'{base / seconds:.2f}x' if base else ''} |")


if __name__ == "__main__":
    main()
