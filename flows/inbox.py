"""The farm's watch folder: job files dropped into an inbox are run once each, then filed as done or failed.

- A job file is taken only when fully written: its size and modification time
  unchanged for `SETTLE_S` (a copy in progress keeps changing them; a writer that
  renames a finished file into the inbox is taken at once the next time round).
- It is claimed by renaming it, in the same folder, to a hidden `.NAME.working`:
  a rename is atomic, so two watchers never take the same file, and the job's
  relative paths still resolve from where it was dropped.
- It runs as the shot flow, its work folder in `work/NAME.work` of the inbox.
- It is then moved to `done/` with `NAME.result.json` beside it, or to `failed/`
  with `NAME.reason.txt`: the error in one readable line (a mistake in the job
  file, a missing input, a failure of a stage).
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from base.atomic import write_bytes, write_json
from base.errors import DvpError

SETTLE_S = 2.0
PATTERNS = ("*.yaml", "*.yml")
log = logging.getLogger("dvp")


def settled(inbox: Path, seen: dict[Path, tuple[int, int, float]], now: float | None = None) -> list[Path]:
    """The job files of `inbox` whose size and modification time have not changed for `SETTLE_S` (`seen` remembers
    them from one look to the next)."""
    now = time.monotonic() if now is None else now
    ready = []
    for path in sorted(p for pattern in PATTERNS for p in inbox.glob(pattern) if not p.name.startswith(".")):
        try:
            stat = path.stat()
        except FileNotFoundError:  # taken by another watcher meanwhile
            continue
        mark = (stat.st_size, stat.st_mtime_ns)
        if path not in seen or seen[path][:2] != mark:
            seen[path] = (*mark, now)
        elif now - seen[path][2] >= SETTLE_S:
            ready.append(path)
    return ready


def claim(path: Path) -> Path | None:
    """`path` renamed to its hidden working name; None when another watcher took it first."""
    working = path.with_name(f".{path.name}.working")
    try:
        os.rename(path, working)
    except FileNotFoundError:
        return None
    return working


def process(job: Path, name: str, inbox: Path, run) -> bool:
    """Run one claimed job file with `run(job_file, work)` and file it; True when it succeeded."""
    done, failed = inbox / "done", inbox / "failed"
    try:
        result = run(str(job), str(inbox / "work" / f"{Path(name).stem}.work"))
    except Exception as exc:  # every failure is filed with its reason; the watcher carries on
        failed.mkdir(exist_ok=True)
        reason = str(exc) if isinstance(exc, DvpError) else f"{type(exc).__name__}: {exc}"
        reason = reason.replace(job.name, name)  # the file as it was dropped, not its working name
        write_bytes(failed / f"{Path(name).stem}.reason.txt", (reason.strip() + "\n").encode())
        os.replace(job, failed / name)
        log.warning("%s failed: %s", name, reason)
        return False
    done.mkdir(exist_ok=True)
    write_json(done / f"{Path(name).stem}.result.json", json.loads(json.dumps(result, default=str)))
    os.replace(job, done / name)
    log.info("%s done: %s", name, result.get("output"))
    return True


def watch(inbox: str | os.PathLike, run, once: bool = False, poll: float = 1.0) -> dict[str, int]:
    """Take the settled job files of `inbox` and process them, one at a time; with `once`, stop when the inbox
    holds no job file. Returns how many were done and how many failed."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise DvpError(f"the inbox {inbox} is not a folder; create it, then drop job files into it")
    seen: dict[Path, tuple[int, int, float]] = {}
    counts = {"done": 0, "failed": 0}
    while True:
        for path in settled(inbox, seen):
            working = claim(path)
            if working is not None:
                counts["done" if process(working, path.name, inbox, run) else "failed"] += 1
        if once and not any(p for pattern in PATTERNS for p in inbox.glob(pattern) if not p.name.startswith(".")):
            return counts
        time.sleep(poll)
