"""Temporal clean-up of landmark tracks: short gaps filled, jitter removed without lag.

The smoother is a bilateral filter in time: each landmark is averaged with
itself in up to 4 frames on either side, weighted by a Gaussian of the frame
distance *and* of how far the landmark is from where it is now. Detector
jitter (a fraction of a pixel) is averaged away; real motion moves the
neighbours far out of range, so they drop out and fast head turns, blinks and
lip closures keep their full amplitude and timing. The kernel is symmetric, so
steady motion comes out with no lag. Distances are measured in interocular
distances, so the behaviour does not depend on resolution.
"""
from __future__ import annotations

import numpy as np

RADIUS = 4  # frames on each side the kernel may reach
SIGMA_FRAMES = 2.0
RANGE = 0.012  # interocular distances: about 3x mediapipe's jitter on a still face


def fill_gaps(points: np.ndarray, valid: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate runs of at most `max_gap` invalid frames between valid ones, in place.

    points: (F, L, C); valid: (F,) bool. Returns the (F,) mask of frames filled.
    """
    filled = np.zeros(len(valid), dtype=bool)
    idx = np.flatnonzero(valid)
    for a, b in zip(idx[:-1], idx[1:]):
        gap = b - a - 1
        if 0 < gap <= max_gap:
            w = (np.arange(1, gap + 1) / (gap + 1))[:, None, None]
            points[a + 1:b] = (1 - w) * points[a] + w * points[b]
            filled[a + 1:b] = True
    return filled


def smooth(points: np.ndarray, valid: np.ndarray, interocular: np.ndarray) -> np.ndarray:
    """Zero-lag, edge-preserving smoothing of landmark trajectories.

    points: (F, L, C) with C >= 2 (all channels are smoothed, the range test
    uses x and y); valid: (F,) bool (invalid frames neither contribute nor
    change); interocular: (F,) pixels. Returns a new array.
    """
    n = len(points)
    pts = np.nan_to_num(points.astype(np.float64))
    reach = (RANGE * np.where(valid, interocular, 1.0))[:, None]  # (F, 1) pixels
    acc = np.zeros_like(pts)
    total = np.zeros(points.shape[:2])
    for k in range(-RADIUS, RADIUS + 1):
        lo, hi = max(0, -k), min(n, n - k)
        if lo >= hi:
            continue
        here, there = pts[lo:hi], pts[lo + k:hi + k]
        d2 = ((there[..., :2] - here[..., :2]) ** 2).sum(-1) / reach[lo:hi] ** 2
        w = np.exp(-0.5 * (k / SIGMA_FRAMES) ** 2 - 0.5 * d2) * valid[lo + k:hi + k, None]
        acc[lo:hi] += w[..., None] * there
        total[lo:hi] += w
    out = points.astype(np.float64).copy()
    ok = valid[:, None] & (total > 0)
    out[ok] = acc[ok] / total[ok][:, None]
    return out.astype(points.dtype)
