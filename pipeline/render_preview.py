"""`dvp render`: a Track and its video in, a preview of the network's conditioning out.

Each preview frame shows, side by side at the conditioning size: the real crop,
the colour rendering, the correspondence image, the eye-gaze map, and the real
crop with the colour rendering laid over it (the check that the two line up).
A contact sheet PNG holds six evenly spaced rows of the same. The report's
`photometric_error` is the mean absolute difference, in [0, 1], between the
colour rendering and the real crop inside the face mask: a rendering that does
not line up with the face shows it at once. Frames are
streamed and rendered in batches, so memory does not grow with the shot.
"""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from base.atomic import write_json, write_png
from base.errors import DvpError
from base.progress import progress
from base.reading import VideoReader
from base.writing import VideoWriter
from reconstruction.fitting import actor_from_track
from reconstruction.track import load_track
from rendering.backends import resolve
from rendering.conditioning import ConditioningRenderer
from rendering.crop import shot_crop
from rendering.spacetime import CONDITIONING_CHANNELS, DEFAULT_WINDOW

SHEET_ROWS = 6
SHEET_PANEL = 128


def _as_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) uint8 to (H, W, 3)."""
    return image.permute(1, 2, 0).contiguous().numpy()


def preview_row(real: np.ndarray, colour: torch.Tensor, correspondence: torch.Tensor, gaze: torch.Tensor,
                mask: torch.Tensor) -> np.ndarray:
    """real crop | colour | correspondence | eye gaze | colour over the real crop."""
    col = _as_uint8(colour)
    m = mask[0].numpy()[..., None] / 255.0
    overlay = (real * (1 - 0.6 * m) + col * 0.6 * m).astype(np.uint8)
    return np.concatenate([real, col, _as_uint8(correspondence), _as_uint8(gaze), overlay], axis=1)


def render_video(track_path: str | os.PathLike, video: str | os.PathLike, output: str | os.PathLike,
                 size: int = 256, report: str | os.PathLike | None = None, rasterizer: str = "auto",
                 contact_sheet: str | os.PathLike | None = None, max_frames: int | None = None,
                 show_progress: bool = True) -> dict:
    """Write the conditioning preview of a tracked video; returns the report."""
    started = time.perf_counter()
    if size < 32 or size % 2:
        raise DvpError(f"--size must be an even number of pixels, at least 32 (not {size})")
    backend = resolve(rasterizer)
    track = load_track(track_path)
    video, output = Path(video), Path(output)
    sheet_path = Path(contact_sheet) if contact_sheet else output.with_suffix(".png")
    reader = VideoReader(video)
    track.check_video(video, reader.width, reader.height, reader.frame_count)
    actor = actor_from_track(track)
    crop = shot_crop(track, actor)
    renderer = ConditioningRenderer(track, crop, size, backend, actor=actor)
    n = min(len(track), reader.frame_count, max_frames or len(track))
    valid = np.flatnonzero(track.valid[:n])
    sheet_frames = set(valid[np.linspace(0, len(valid) - 1, min(SHEET_ROWS, len(valid))).astype(int)].tolist())
    sheet_rows: dict[int, np.ndarray] = {}
    render_s = 0.0
    error_sum, error_pixels = 0.0, 0.0
    with reader, VideoWriter(output, reader.fps, 5 * size, size) as writer:
        batch: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            nonlocal render_s, error_sum, error_pixels
            t0 = time.perf_counter()
            cond = renderer.render(np.array([i for i, _ in batch]))
            render_s += time.perf_counter() - t0
            crops = torch.as_tensor(np.stack([c for _, c in batch])).permute(0, 3, 1, 2).float()
            mask = cond.mask.float() / 255
            error_sum += float(((cond.colour.float() - crops).abs() * mask).sum()) / 3 / 255
            error_pixels += float(mask.sum())
            for k, (i, real) in enumerate(batch):
                row = preview_row(real, cond.colour[k], cond.correspondence[k], cond.gaze[k], cond.mask[k])
                writer.write(row)
                if i in sheet_frames:
                    sheet_rows[i] = cv2.resize(row, (5 * SHEET_PANEL, SHEET_PANEL), interpolation=cv2.INTER_AREA)
            batch.clear()

        for i, frame in enumerate(progress(reader, n, "render", show_progress)):
            if i >= n:
                break
            batch.append((i, crop.cut(frame, size)))
            if len(batch) == renderer.batch_frames:
                flush()
        if batch:
            flush()
    write_png(sheet_path, np.concatenate([sheet_rows[i] for i in sorted(sheet_rows)]))
    total = time.perf_counter() - started
    result = {
        "track": Path(track_path).name, "video": video.name, "preview": output.name, "contact_sheet": sheet_path.name,
        "frames": int(n), "valid_frames": int(len(valid)), "size": size, "rasterizer": backend,
        "crop": crop.to_dict(),
        "photometric_error": round(error_sum / error_pixels, 4) if error_pixels else None,
        "conditioning_frames_per_second": round(n / render_s, 1) if render_s else None,
        "frames_per_second": round(n / total, 1), "seconds": round(total, 2),
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "conditioning_channels": list(CONDITIONING_CHANNELS),
        "window": {"frames": DEFAULT_WINDOW, "channels": DEFAULT_WINDOW * len(CONDITIONING_CHANNELS)},
    }
    if report is not None:
        write_json(report, result)
    return result
