"""The ffmpeg binary, and the lifecycle of the ffmpeg processes that read and write media.

Which binary: a system ffmpeg wins because it may have codecs or hardware
support that the static build shipped by imageio-ffmpeg lacks; the bundled one
means a plain `pip install` is enough. There is deliberately no ffprobe
dependency: the bundled build does not include it, so probing parses ffmpeg's
own output.

Lifecycle: every process is started through `start_ffmpeg`, which registers it
before a signal can end the job, drains its stderr in a thread (keeping only
its complaints), and `stop` reaps it. Outputs being written register their
temporary files (`track_unfinished`), so that `abandon_unfinished` can remove
what a job cut short by Ctrl-C or SIGTERM left.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import IO

import imageio_ffmpeg


@cache
def ffmpeg_path() -> str:
    """Absolute path of the ffmpeg executable to run."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


_PREFIX = re.compile(r"\[[^\]]* @ 0x[0-9a-f]+\]\s*")


def failure_reason(process: subprocess.Popen[bytes], stderr: StderrTail) -> str:
    """Why an ended ffmpeg failed: its last complaints, without `[h264 @ 0x55...]` prefixes."""
    lines = [_PREFIX.sub("", line).rstrip(".") for line in stderr.text().splitlines()[-3:]]
    if lines:
        return "; ".join(lines)
    if process.returncode < 0:
        return f"ffmpeg was killed by signal {-process.returncode}"
    return f"ffmpeg exited with status {process.returncode}"


_LEVEL = re.compile(r"\[(panic|fatal|error|warning|info|verbose|debug|trace)\] ")
_CORRUPT_FRAME = "corrupt decoded frame"  # ffmpeg's warning for a frame the decoder patched over


class StderrTail:
    """Reads a process's stderr in a thread and keeps the last of its complaints.

    A full stderr pipe would block ffmpeg while we block on its stdout, so it is
    drained as it comes; keeping only a tail bounds memory on noisy files.
    Complaints are errors, and the warning for each frame decoded through
    damaged data (which ffmpeg gives only as a warning); other warnings are
    dropped.
    """

    def __init__(self, stream: IO[bytes], keep: int = 20) -> None:
        self._lines: deque[str] = deque(maxlen=keep)
        self.complaints = 0  # complaints so far (readable while ffmpeg runs)
        self.corrupt_frames = 0  # of which frames decoded through damaged data
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode(errors="replace").strip()
                level = _LEVEL.search(line)
                corrupt = _CORRUPT_FRAME in line
                if not line or "Last message repeated" in line or (
                        level and level[1] not in ("panic", "fatal", "error") and not corrupt):
                    continue
                self._lines.append(_LEVEL.sub("", line, count=1))
                self.corrupt_frames += corrupt
                self.complaints += 1

    def text(self) -> str:
        """Everything kept, once the process has closed its stderr."""
        self._thread.join()
        return self.text_so_far()

    def text_so_far(self) -> str:
        """What is kept now, while the process may still be writing."""
        return "\n".join(list(self._lines))


# What this process has under way: a signal can cut through a constructor before its `with` owns the object, and
# `abandon_unfinished` then still stops these processes and removes these temporary files and folders.
_RUNNING: set[subprocess.Popen[bytes]] = set()
_UNFINISHED: set[Path] = set()


def abandon_unfinished() -> None:
    """Stop this process's ffmpeg processes and delete what its unfinished outputs wrote (for a job cut short by a
    signal: whatever the `with` blocks on the way out did not get to)."""
    for process in list(_RUNNING):
        stop(process)
    for path in list(_UNFINISHED):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    _UNFINISHED.clear()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM held back for the length of the block, then delivered. A signal that lands while a child
    process is being started raises out of `subprocess.Popen` with the child running but unknown to
    `abandon_unfinished`: that ffmpeg then writes its output after the clean-up (a preview's temporary file was
    left so). Python runs signal handlers only in the main thread, so elsewhere there is nothing to hold."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not None:  # None: a handler set outside Python, which cannot be put back
            held[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def start_ffmpeg(args: list[str], stdin: int, stdout: int) -> tuple[subprocess.Popen[bytes], StderrTail]:
    with _signals_deferred():  # registered before any signal can end the job
        process = subprocess.Popen(
            [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+warning", *args],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
        _RUNNING.add(process)
    assert process.stderr is not None
    return process, StderrTail(process.stderr)


def stop(process: subprocess.Popen[bytes]) -> None:
    """End `process` if it still runs, and reap it so no zombie is left."""
    if process.poll() is None:
        process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()
    _RUNNING.discard(process)


def run_for_report(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ffmpeg to completion for its report on stderr (and what it writes to stdout), as text; the exit status is
    the caller's to judge. For short runs that read a header or check a file, not for streaming frames."""
    return subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )


def strip_prefix(line: str) -> str:
    """An ffmpeg message without its `[h264 @ 0x55...]` prefix and final full stop."""
    return _PREFIX.sub("", line).rstrip(".")


def track_unfinished(path: Path) -> None:
    """Note a temporary file or folder of an output being written, for `abandon_unfinished`."""
    _UNFINISHED.add(path)


def forget_unfinished(*paths: Path) -> None:
    """The output is finished or discarded: its temporary paths are no longer this process's to remove."""
    _UNFINISHED.difference_update(paths)
