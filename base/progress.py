"""Progress bars for long work: frames done / total, rate and time left.

Bars go to stderr (so stdout stays clean for scripts) and every finished stage
is also logged through `logging`, which is where Prefect picks it up.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("dvp")


def progress(items: Iterable[T], total: int | None, stage: str, enabled: bool = True) -> Iterator[T]:
    """Yield from `items` while showing a bar; log the stage's rate when done."""
    start = time.perf_counter()
    count = 0
    with tqdm(items, total=total, desc=stage, unit="frame", disable=not enabled, dynamic_ncols=True,
              mininterval=0.5, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                          "[{elapsed}<{remaining}, {rate_fmt}]") as bar:
        for item in bar:
            count += 1
            yield item
    seconds = time.perf_counter() - start
    log.info("%s: %d frames in %.1f s (%.1f frames/s)", stage, count, seconds, count / max(seconds, 1e-9))
