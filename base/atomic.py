"""Writing small outputs atomically: a hidden temporary file beside the target, renamed when complete."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A hidden temporary path beside `path` to write to; renamed onto `path` if the block ends without error,
    deleted in any case."""
    path = Path(path)
    tmp = path.with_name(f".dvp-tmp-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode {path} as PNG")
    write_bytes(path, encoded.tobytes())
