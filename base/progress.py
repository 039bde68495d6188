"""Progress bars for long work: frames done / total, rate and time left.

Bars go to stderr (so stdout stays clean for scripts). The same progress is
logged through `logging` (the "dvp" logger) every `LOG_EVERY_S` seconds and
when a stage finishes, with or without a bar: that is where Prefect picks it up
for a flow's logs, and where a farm's log collector finds it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("dvp")
LOG_EVERY_S = 30.0


def progress(items: Iterable[T], total: int | None, stage: str, enabled: bool = True) -> Iterator[T]:
    """Yield from `items` while showing a bar; log how far the stage is every `LOG_EVERY_S` seconds, and its rate
    when done."""
    start = time.perf_counter()
    logged = start
    count = 0
    with tqdm(items, total=total, desc=stage, unit="frame", disable=not enabled, dynamic_ncols=True,
              mininterval=0.5, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                          "[{elapsed}<{remaining}, {rate_fmt}]") as bar:
        for item in bar:
            count += 1
            yield item
            now = time.perf_counter()
            if now - logged >= LOG_EVERY_S:
                logged = now
                _log_progress(stage, count, total, now - start)
    seconds = time.perf_counter() - start
    log.info("%s: %d frames in %.1f s (%.1f frames/s)", stage, count, seconds, count / max(seconds, 1e-9))


def _log_progress(stage: str, count: int, total: int | None, seconds: float) -> None:
    rate = count / max(seconds, 1e-9)
    if total:
        log.info("%s: %d/%d frames (%.0f %%), %.1f frames/s, about %.0f s left", stage, count, total,
                 100 * count / total, rate, max(total - count, 0) / rate)
    else:
        log.info("%s: %d frames, %.1f frames/s", stage, count, rate)
