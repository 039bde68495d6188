"""Flow runs a killed process left in Running, found through their work folder and marked Crashed.

Open-source Prefect has no heartbeat for a flow run: a process killed with SIGKILL (an out-of-memory kill, a farm
manager ending a job) leaves its run Running for ever. A shot flow therefore notes its run in its work folder
(`.flow-run.json`: the run, the host, the process) and removes the note when it ends, however it ends, short of
being killed. A run that finds a note of another run whose process is gone from this host marks that run Crashed
before it carries on with the job. A note from another host, or from a process still alive, is left alone: that
run may be working.

For runs that are not run again, `dvp farm serve` also sets up Prefect's own remedy on its server: served runs send
a heartbeat (`PREFECT_FLOWS_HEARTBEAT_FREQUENCY`), and an automation marks Crashed a run whose heartbeats stop for
`SILENCE_S` without it ending.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from base.atomic import write_json

NOTE = ".flow-run.json"
HEARTBEAT_S = 60  # how often a served flow run reports that it is alive
SILENCE_S = 300  # heartbeats missed for this long: the run's process is gone
AUTOMATION = "dvp: crash zombie flow runs"


@contextlib.contextmanager
def noted(folder: str | os.PathLike) -> Iterator[str | None]:
    """Note this flow run in the work folder for the block; yields the id of an earlier run marked Crashed."""
    from prefect.runtime import flow_run

    note = Path(folder) / NOTE
    note.parent.mkdir(parents=True, exist_ok=True)
    crashed = None
    if note.is_file():
        with contextlib.suppress(ValueError, KeyError, OSError):
            earlier = json.loads(note.read_text())
            if earlier["run"] != flow_run.id and earlier["host"] == socket.gethostname() and not _alive(
                    earlier["pid"], earlier["started"]):
                crashed = _mark_crashed(earlier["run"])
    write_json(note, {"run": flow_run.id, "host": socket.gethostname(), "pid": os.getpid(),
                      "started": _start_time(os.getpid())})
    try:
        yield crashed
    finally:
        note.unlink(missing_ok=True)


def _start_time(pid: int) -> str | None:
    """When the process started (in clock ticks since boot, from /proc), so a reused process id is told apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started is None or _start_time(pid) == started


def _mark_crashed(run: str) -> str | None:
    """Set a run that is still Running to Crashed; its id, or None when it had ended in the meantime."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    from flows.tasks import logger

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run).state
        if state is None or not state.is_running():
            return None
        client.set_flow_run_state(run, Crashed(message="its process was killed; the job was run again"), force=True)
    logger().warning("flow run %s was left Running by a process that is gone: marked Crashed", run)
    return run


def crash_silent_runs() -> str:
    """Make sure the server has the automation that marks Crashed a flow run whose heartbeats stopped; its name."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    with contextlib.suppress(ValueError):
        if Automation.read(name=AUTOMATION) is not None:
            return AUTOMATION
    Automation(
        name=AUTOMATION,
        description="dvp: a flow run that stopped sending heartbeats without ending was killed; mark it Crashed",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=SILENCE_S)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"no heartbeat for {SILENCE_S} s: its process is gone")],
    ).create()
    return AUTOMATION
