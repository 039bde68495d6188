"""The `dvp` command with the render farm's commands (`dvp farm ...`) added to those of `pipeline.cli`.

The command line belongs to the pipeline layer, which may not import the flows;
this entry point lends it the farm's commands instead. Prefect is imported only
when a farm command runs, so the other commands start as fast as before.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline import cli


def _add_farm(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("farm", help="run shots as Prefect flows (render farm)",
                       description="Run a shot's job file as a Prefect flow: track the target, train its model when "
                                   "the job file gives none, run the job (reenact, edit or dub) and deliver the "
                                   "output. Artifacts are kept in a work folder under keys made from their inputs' "
                                   "content, so a run cut short carries on from its finished stages and a finished "
                                   "job runs again from the work folder. Without PREFECT_API_URL the flow runs "
                                   "against a temporary local Prefect server (it starts by itself).")
    farm = p.add_subparsers(dest="farm_command", required=True)
    run = farm.add_parser("run", help="run one job file")
    run.add_argument("job", help="the shot's job file (YAML; see flows/job_file.py and the docs)")
    run.add_argument("--work", help="the work folder (default: JOB.work beside the job file)")
    cli._report(run, "the flow's result: output, model, track, work folder")
    _where(run)
    watch = farm.add_parser("watch", help="run the job files dropped into an inbox folder, once each",
                            description="Watch INBOX for job files (*.yaml): each one, once fully written, is run "
                                        "as the shot flow and moved to INBOX/done (with NAME.result.json) or "
                                        "INBOX/failed (with NAME.reason.txt). Work folders go to INBOX/work.")
    watch.add_argument("inbox", help="the folder job files are dropped into")
    watch.add_argument("--once", action="store_true", help="stop when the inbox holds no job file")
    watch.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the inbox (default 2)")
    _where(watch)
    serve = farm.add_parser("serve", help="serve the flows as Prefect deployments (runs on demand and on a schedule)",
                            description="Serve every flow as a deployment named `farm` (shot/farm, dub/farm, ...), "
                                        "run on demand from the Prefect UI, the API or `prefect deployment run "
                                        "shot/farm -p job_file=JOB.yaml`, and with --inbox the inbox/farm "
                                        "deployment on a schedule. Needs a Prefect server that keeps running: "
                                        "`prefect server start`, and PREFECT_API_URL set to it.")
    serve.add_argument("--inbox", help="a watch folder to look into on a schedule (as `dvp farm watch --once`)")
    when = serve.add_mutually_exclusive_group()
    when.add_argument("--every", type=float, default=60.0, metavar="SECONDS",
                      help="seconds between scheduled looks at the inbox (default 60)")
    when.add_argument("--cron", help="a cron schedule for the inbox instead, e.g. '*/5 * * * *'")
    serve.add_argument("--limit", type=int, default=1, help="flow runs at a time in this process (default 1)")
    _where(serve)


def _where(p: argparse.ArgumentParser) -> None:
    """Where the tasks run (see `flows.runners`), and how finely the output is cut into tasks."""
    p.add_argument("--segment-frames", type=int, default=256, metavar="N",
                   help="output frames each synthesis task makes, side by side, joined without re-encoding (default "
                        "256; multiples of 256 give the frames of one pass; 0: the whole output in one task)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--dask-address", metavar="tcp://HOST:8786",
                       help="run the tasks on this Dask cluster (its workers need the same files at the same paths)")
    where.add_argument("--workers", type=int, metavar="N",
                       help="run the tasks on N local worker processes (a Dask LocalCluster started for the run)")
    p.add_argument("--gpu", action="store_true",
                   help="with --dask-address: train and synthesise only on the workers started with "
                        "`--resources GPU=1` (tracking and joining run anywhere)")


def _run_farm(args: argparse.Namespace) -> int:
    from flows.job_file import load_job

    if args.workers is not None and args.workers < 1:
        raise cli.DvpError("--workers takes a number of worker processes, 1 or more")
    if args.gpu and args.dask_address is None:
        raise cli.DvpError("--gpu sends tasks to the GPU workers of a Dask cluster: give --dask-address too")
    if args.segment_frames < 0:
        raise cli.DvpError("--segment-frames takes a number of frames, or 0 for the whole output in one task")
    if args.farm_command == "run":
        load_job(args.job)  # mistakes in the job file are reported before Prefect starts
    from flows.server import prefect_server
    from flows.shot import run_shot

    if args.farm_command == "serve":
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            raise cli.DvpError("dvp farm serve needs a Prefect server that keeps running (schedules are made by its "
                               "scheduler): start one with `prefect server start` and set PREFECT_API_URL, e.g. "
                               "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`")
        if args.inbox is not None and not Path(args.inbox).is_dir():
            raise cli.DvpError(f"the inbox {args.inbox} is not a folder; create it first")
        from flows.serving import serve_farm

        serve_farm(args.inbox, args.every, args.cron, args.dask_address, args.workers, args.limit,
                   args.segment_frames, args.gpu)
        return 0
    with prefect_server():
        if args.farm_command == "watch":
            from flows.inbox import watch

            counts = watch(args.inbox, lambda job, work: run_shot(job, work, args.dask_address, args.workers,
                                                                  args.segment_frames, args.gpu),
                           once=args.once, poll=args.poll)
            cli._summary(counts)
            return 0
        return cli._finish(args, run_shot(args.job, args.work, args.dask_address, args.workers,
                                          args.segment_frames, args.gpu))


FARM = {"farm": (_add_farm, _run_farm)}


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, extra=FARM)
