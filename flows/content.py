"""What a task's result depends on, as one key: the content of its input files, its options and the code.

Prefect would key a `Path` argument on its string and pickle whole arrays; a
render farm renames, copies and re-exports files all the time, so the flows key
on bytes instead. A file's digest is SHA-256 of its bytes, remembered for the
process while its size and modification time stay the same; a folder's (a
model, an image sequence) is the digest of its files' names and digests. The
code version is the package version and a digest of the project's own sources
and data files, so a change of code is a change of key.

A stage's artifact lives in the work folder under its key
(`<stage>-<key><suffix>`), written atomically by the stage function itself, so
finding it there means it is complete: this is what lets a re-run skip finished
stages, whatever Prefect's own records say.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("base", "reconstruction", "rendering", "speech", "translation", "pipeline", "data")
KEY_CHARS = 20
_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, or of a folder's file names and digests (hidden files left out)."""
    path = Path(path)
    if path.is_dir():
        entries = sorted(p for p in path.rglob("*") if p.is_file() and not any(
            part.startswith(".") for part in p.relative_to(path).parts))
        h = hashlib.sha256()
        for entry in entries:
            h.update(f"{entry.relative_to(path).as_posix()}\0{file_digest(entry)}\n".encode())
        return h.hexdigest()
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _digests:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _digests[memo] = h.hexdigest()
    return _digests[memo]


@functools.cache
def code_version() -> str:
    """The dvp version and a digest of its sources and data files."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".npz", ".pt", ".yaml", ".json"):
                h.update(f"{path.relative_to(root).as_posix()}\0{file_digest(path)}\n".encode())
    try:
        release = version("dvp")
    except PackageNotFoundError:
        release = "unknown"
    return f"{release}+{h.hexdigest()[:12]}"


def stage_key(stage: str, inputs: dict[str, str | os.PathLike | None], options: dict) -> str:
    """The key of a stage run on `inputs` (files or folders, or lists of them, by role; None for an input not given)
    with `options` (JSON-able)."""
    described = {"stage": stage, "code": code_version(), "options": options,
                 "inputs": {role: _digests_of(p) for role, p in sorted(inputs.items())}}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:KEY_CHARS]


def _digests_of(files):
    """An input's digest: of a file or folder, of each of a list of them, or None."""
    if files is None:
        return None
    if isinstance(files, list | tuple):
        return [file_digest(f) for f in files]
    return file_digest(files)


def artifact(work: str | os.PathLike, stage: str, key: str, suffix: str = "") -> Path:
    """Where the artifact of a stage run with `key` lives in the work folder."""
    return Path(work) / f"{stage}-{key}{suffix}"
