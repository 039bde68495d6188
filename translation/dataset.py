"""Training data of one target actor: conditioning and real crops of every frame, on disk.

The whole shot is rendered once, through the shot crop, at the network's size:
per frame the 9 conditioning channels and the real RGB crop, both uint8, in two
memory-mapped arrays. Space-time windows are cut from them on demand, so memory
stays bounded whatever the length of the video (the OS pages frames in and
out), and a second run (`--resume`, `dvp evaluate`) reuses the files when their
inputs are unchanged: the folder is keyed on the track's content, the video's
size and name, the crop and the resolution.

Split in time, as a held-out test of a video model should be: the last
`holdout_fraction` of the frames is held out, and the `window` frames before it
are left out of both parts, so no training window reaches into the held-out part.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from base.atomic import write_json
from base.errors import DvpError
from base.probe import media_bytes
from base.progress import progress
from base.reading import VideoReader
from reconstruction.fitting import actor_from_track
from rendering.backends import resolve
from rendering.conditioning import ConditioningRenderer
from rendering.crop import CropBox, shot_crop
from rendering.spacetime import CONDITIONING_CHANNELS

CACHE_VERSION = 1
C = len(CONDITIONING_CHANNELS)


def file_digest(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes, read in blocks."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class ShotData:
    """Conditioning (F, 9, S, S) and real crops (F, 3, S, S) of one shot, uint8, memory-mapped."""

    conditioning: np.ndarray
    frames: np.ndarray
    valid: np.ndarray  # (F,) bool: frames with a fitted face
    crop: CropBox
    size: int

    def __len__(self) -> int:
        return len(self.valid)

    def window_indices(self, t: np.ndarray, window: int) -> np.ndarray:
        """(B, window) frame indices of the windows ending at frames t, oldest first, padded at the shot start."""
        return np.clip(np.asarray(t)[:, None] - (window - 1) + np.arange(window)[None, :], 0, None)

    def windows(self, t: np.ndarray, window: int) -> torch.Tensor:
        """Space-time conditioning (B, 9 * window, S, S) uint8 for the frames t."""
        idx = self.window_indices(t, window)
        if isinstance(self.conditioning, torch.Tensor):
            out = take(self.conditioning, idx.reshape(-1))
        else:
            needed, pos = np.unique(idx, return_inverse=True)  # one sorted read of the memory map
            out = torch.from_numpy(self.conditioning[needed][pos.reshape(-1)])
        return out.view(len(idx), window * C, self.size, self.size)

    def current(self, t: np.ndarray) -> torch.Tensor:
        """The conditioning (B, 9, S, S) uint8 of the frames t alone."""
        return take(self.conditioning, t)

    def real(self, t: np.ndarray) -> torch.Tensor:
        """Real crops (B, 3, S, S) uint8."""
        return take(self.frames, t)

    def _per_frame_arrays(self) -> dict[str, np.ndarray | torch.Tensor]:
        """The arrays indexed by frame (or sample) that batches are gathered from; `valid` is not one of them."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), (np.ndarray, torch.Tensor)) and f.name != "valid"}

    @property
    def nbytes(self) -> int:
        """Bytes of the per-frame arrays (what `to` moves)."""
        return sum(a.nbytes for a in self._per_frame_arrays().values())

    def to(self, device: torch.device) -> "ShotData":
        """A copy whose arrays are tensors on `device`: a GPU then gathers its own batches, where copying them
        from the memory map each step would keep it waiting (at 256x256 a batch's windows are about 100 MB)."""
        # torch.tensor copies: the memory map is read-only
        return replace(self, **{name: torch.as_tensor(a, device=device) if isinstance(a, torch.Tensor)
                                else torch.tensor(a).to(device) for name, a in self._per_frame_arrays().items()})


def take(array: np.ndarray | torch.Tensor, index: np.ndarray) -> torch.Tensor:
    """Rows of a memory-mapped array (as a new CPU tensor) or of a tensor (on its device)."""
    if isinstance(array, torch.Tensor):
        return array[torch.as_tensor(np.asarray(index), device=array.device)]
    return torch.from_numpy(np.ascontiguousarray(array[np.asarray(index)]))


def time_split(valid: np.ndarray, holdout_fraction: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out frame indices (valid frames only), split in time with a gap of `window` frames."""
    n = len(valid)
    start = n - max(1, int(round(n * holdout_fraction)))
    train = np.arange(0, max(0, start - window))
    held = np.arange(start, n)
    train, held = train[valid[train]], held[valid[held]]
    if len(train) < 2 * window or len(held) == 0:
        raise DvpError(f"the video has {n} frames ({int(valid.sum())} with a face): too few to train on with a "
                       f"{window}-frame window and {holdout_fraction:.0%} held out; a minute of footage "
                       "(about 1,500 frames or more) is what the network is meant for")
    return train, held


def _cache_key(track_path: Path, video: Path, size: int, crop: CropBox) -> dict:
    return {"version": CACHE_VERSION, "track_sha1": file_digest(track_path), "video": video.name,
            "video_bytes": media_bytes(video), "size": size, "crop": crop.to_dict()}


def cached_arrays(folder: Path, key: dict, shapes: dict[str, tuple]) -> dict[str, np.ndarray] | None:
    """Read-only memory maps of the uint8 arrays in `folder` when its manifest says they were made from `key`."""
    manifest = folder / "manifest.json"
    if not (manifest.is_file() and json.loads(manifest.read_text()) == key):
        return None
    return {name: np.memmap(folder / f"{name}.u8", np.uint8, "r", shape=shape) for name, shape in shapes.items()}


def new_arrays(folder: Path, shapes: dict[str, tuple], video: Path, track) -> tuple[VideoReader, dict, dict]:
    """Start a cache anew: check the video against the track, empty the folder, and open writable memory maps under
    temporary names. Returns the video's reader, the temporary paths and the arrays."""
    reader = VideoReader(video)
    track.check_video(video, reader.width, reader.height, reader.frame_count)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    temp = {name: folder / f".dvp-tmp-{name}.u8" for name in shapes}
    return reader, temp, {name: np.memmap(temp[name], np.uint8, "w+", shape=shape) for name, shape in shapes.items()}


def finish_arrays(folder: Path, temp: dict[str, Path], arrays: dict[str, np.ndarray], key: dict) -> None:
    """Flush the arrays, give them their names, and write the manifest last: only then is the cache complete."""
    for name, array in arrays.items():
        array.flush()
        os.replace(temp[name], folder / f"{name}.u8")
    arrays.clear()
    write_json(folder / "manifest.json", key)


def load_or_build(video: str | os.PathLike, track, track_path: str | os.PathLike, size: int, folder: str | os.PathLike,
                  rasterizer: str = "auto", show_progress: bool = True) -> ShotData:
    """The shot's data in `folder`, rendered now unless a complete copy for the same inputs is there."""
    video, track_path, folder = Path(video), Path(track_path), Path(folder)
    actor = actor_from_track(track)
    crop = shot_crop(track, actor)
    key = _cache_key(track_path, video, size, crop)
    n = len(track)
    shapes = {"conditioning": (n, C, size, size), "frames": (n, 3, size, size)}
    arrays = cached_arrays(folder, key, shapes)
    if arrays is not None:
        return ShotData(arrays["conditioning"], arrays["frames"], track.valid.copy(), crop, size)
    reader, temp, arrays = new_arrays(folder, shapes, video, track)
    renderer = ConditioningRenderer(track, crop, size, resolve(rasterizer), actor=actor)
    batch: list[int] = []

    def flush() -> None:
        cond = renderer.render(np.array(batch)).stacked()
        arrays["conditioning"][batch[0]:batch[-1] + 1] = cond.numpy()
        batch.clear()

    count = 0
    with reader:
        for i, frame in enumerate(progress(reader, n, "render training data", show_progress)):
            if i >= n:
                break
            arrays["frames"][i] = crop.cut(frame, size).transpose(2, 0, 1)
            batch.append(i)
            count += 1
            if len(batch) == renderer.batch_frames:
                flush()
        if batch:
            flush()
    if count < n:  # the video ended a frame early: repeat its last frame, as the reader's rate filter would
        arrays["frames"][count:] = arrays["frames"][count - 1]
        arrays["conditioning"][count:] = arrays["conditioning"][count - 1]
    finish_arrays(folder, temp, arrays, key)
    return load_or_build(video, track, track_path, size, folder, rasterizer, show_progress)
