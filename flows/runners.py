"""Where a flow's tasks run: in threads of this process (Prefect's default), on a Dask cluster at an address, or on
a local Dask cluster of worker processes started for the run.

Worker processes are started with the spawn method (a process forked after rendering hangs in torch) and run one
task at a time each (`threads_per_worker=1`): torch inside a task uses several cores itself. Dask starts its workers
with `OMP_NUM_THREADS=1`, which would leave torch one core; a local cluster's workers get the machine's cores shared
among them instead.
"""
from __future__ import annotations

import os


def task_runner(dask_address: str | None = None, workers: int | None = None):
    """A Prefect task runner for `--dask-address` or `--workers N`; None for Prefect's default."""
    if dask_address is None and not workers:
        return None
    from prefect_dask import DaskTaskRunner

    if dask_address is not None:
        local_cluster(0)  # the spawn method for what this process starts
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=local_cluster(workers))


def local_cluster(workers: int) -> dict:
    """The options of a local cluster of `workers` worker processes (see the module notes), with Dask configured
    to start them so."""
    import dask

    dask.config.set({"distributed.worker.multiprocessing-method": "spawn"})
    if workers:
        share = str(max(1, (os.cpu_count() or 1) // workers))
        dask.config.set({"distributed.nanny.pre-spawn-environ": {
            **dask.config.get("distributed.nanny.pre-spawn-environ"), "OMP_NUM_THREADS": share,
            "MKL_NUM_THREADS": share, "OPENBLAS_NUM_THREADS": share}})
    return {"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
