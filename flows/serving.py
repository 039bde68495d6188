"""`dvp farm serve`: the flows as Prefect deployments, served by this process, and the inbox looked into on a
schedule.

Every flow is deployed under the name `farm` (`shot/farm`, `dub/farm`, ...): a run can be asked for from the Prefect
UI, the API or `prefect deployment run 'shot/farm' -p job_file=...`, and this process runs it. With an inbox, the
`inbox/farm` deployment runs on a schedule and takes the job files waiting there, as `dvp farm watch --once` does.
Serving needs a server that keeps running (`prefect server start`): schedules are made by its scheduler service.
"""
from __future__ import annotations

import os
from pathlib import Path

from prefect import flow

from flows import shot
from flows.inbox import watch

DEPLOYMENT = "farm"
FLOWS = (shot.shot_flow, shot.track_flow, shot.train_flow, shot.evaluate_flow, shot.reenact_flow, shot.edit_flow,
         shot.dub_flow, shot.animate_flow)


@flow(name="inbox")
def inbox_flow(inbox: str, dask_address: str | None = None, workers: int | None = None,
               segment_frames: int = shot.SEGMENT_FRAMES, gpu: bool = False) -> dict:
    """Run the job files waiting in `inbox`, once each, then file them as done or failed."""
    return watch(inbox, lambda job, work: shot.run_shot(job, work, dask_address, workers, segment_frames, gpu),
                 once=True, poll=1.0)


def deployments(inbox: str | os.PathLike | None = None, every: float = 60.0, cron: str | None = None,
                dask_address: str | None = None, workers: int | None = None,
                segment_frames: int = shot.SEGMENT_FRAMES, gpu: bool = False) -> list:
    """The farm's deployments: every flow on demand, and the inbox on a schedule (every `every` seconds, or on
    `cron`) when one is given. Their tasks run where `dask_address` or `workers` say (see `flows.runners`)."""
    from flows.runners import task_runner

    runner = task_runner(dask_address, workers)
    made = [(f.with_options(task_runner=runner) if runner is not None else f).to_deployment(
        name=DEPLOYMENT, tags=["dvp"],
        parameters={"segment_frames": segment_frames, "gpu": gpu} if f is shot.shot_flow else
        {"segment_frames": segment_frames} if "segment_frames" in f.parameters.properties else None)
        for f in FLOWS]
    if inbox is not None:
        schedule = {"cron": cron} if cron else {"interval": every}
        made.append(inbox_flow.to_deployment(
            name=DEPLOYMENT, tags=["dvp"], parameters={"inbox": str(Path(inbox).resolve()),
                                                       "dask_address": dask_address, "workers": workers,
                                                       "segment_frames": segment_frames, "gpu": gpu},
            **schedule))
    return made


def serve_farm(inbox: str | os.PathLike | None = None, every: float = 60.0, cron: str | None = None,
               dask_address: str | None = None, workers: int | None = None, limit: int = 1,
               segment_frames: int = shot.SEGMENT_FRAMES, gpu: bool = False) -> None:
    """Serve the farm's deployments until stopped, running at most `limit` flow runs at a time. Served runs send
    heartbeats, and the server marks Crashed those whose heartbeats stop (`flows.runs.crash_silent_runs`)."""
    from prefect import serve

    from flows.runs import HEARTBEAT_S, crash_silent_runs

    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_S))  # read by the runs' processes
    crash_silent_runs()

    serve(*deployments(inbox, every, cron, dask_address, workers, segment_frames, gpu), limit=limit,
          print_starting_message=True)
