"""The dark-disk iris reader of benchmarks/gaze_readback.py finds a drawn iris, also where the lids cut it."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np

_spec = importlib.util.spec_from_file_location(
    "gaze_readback", Path(__file__).resolve().parents[1] / "benchmarks" / "gaze_readback.py")
gaze_readback = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gaze_readback)


def _eye(centre, radius, lids):
    """A bright eye opening with a dark disk (drawn 16 times larger, then shrunk: anti-aliased) on skin. Drawn in
    continuous coordinates, where pixel i spans [i, i + 1); the reader puts pixel centres on whole numbers, so it
    should find the disk half a pixel up and left of `centre`."""
    scale = 16
    big = np.full((40 * scale, 64 * scale), 150, np.uint8)
    cv2.fillPoly(big, [np.round(lids * scale).astype(np.int32)], 230)
    disk = np.zeros_like(big)
    cv2.circle(disk, tuple(np.round(np.multiply(centre, scale)).astype(int)), int(radius * scale), 255, -1)
    inside = np.zeros_like(big)
    cv2.fillPoly(inside, [np.round(lids * scale).astype(np.int32)], 255)
    big[(disk > 0) & (inside > 0)] = 60
    return cv2.resize(big, (64, 40), interpolation=cv2.INTER_AREA)


def _almond(height):
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    return np.c_[32 + 22 * np.cos(t), 20 + height / 2 * np.sin(t)]


def test_disk_reader_finds_a_fully_visible_iris():
    lids = _almond(24)
    for centre in ((30.3, 20.6), (36.8, 19.1)):
        found = gaze_readback.disk_centre(_eye(centre, 6, lids), lids, np.array(centre) + [2, -1.5], 6)
        assert np.abs(found + 0.5 - centre).max() < 0.25


def test_disk_reader_finds_an_iris_the_lids_cut():
    lids = _almond(12)  # the opening is narrower than the iris: it touches both lids, as on real footage
    for centre in ((33.4, 20.0), (33.4, 21.5), (29.9, 19.0)):
        found = gaze_readback.disk_centre(_eye(centre, 9, lids), lids, np.array((33.4, 20.0)), 9)
        assert np.abs(found + 0.5 - centre).max() < 0.25  # on a clean drawing the height shows in the sides' curve
