"""Prefect flows: thin orchestration over the plain functions of the other packages.

The stages report their progress through the "dvp" logger (`base.progress`); Prefect is told to take that logger's
records into a run's logs before it is first imported (through here), in this process and in Dask's workers alike,
and the tasks (`flows.tasks.progress_logged`) let its progress lines through while they run.
"""
import os

if "dvp" not in os.environ.get("PREFECT_LOGGING_EXTRA_LOGGERS", "").split(","):
    os.environ["PREFECT_LOGGING_EXTRA_LOGGERS"] = ",".join(
        filter(None, [os.environ.get("PREFECT_LOGGING_EXTRA_LOGGERS", ""), "dvp"]))
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # the watcher's lines outside a run
