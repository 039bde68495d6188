"""Where a flow's tasks run: in threads of this process (Prefect's default), on a Dask cluster at an address, or on
a local Dask cluster of worker processes started for the run.

Worker processes are started with the spawn method (a process forked after rendering hangs in torch) and run one
task at a time each (`threads_per_worker=1`): torch inside a task already uses the machine's cores.
"""
from __future__ import annotations


def task_runner(dask_address: str | None = None, workers: int | None = None):
    """A Prefect task runner for `--dask-address` or `--workers N`; None for Prefect's default."""
    if dask_address is None and not workers:
        return None
    import dask
    from prefect_dask import DaskTaskRunner

    dask.config.set({"distributed.worker.multiprocessing-method": "spawn"})
    if dask_address is not None:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})
