"""The iris's sideways place from its own edge (reconstruction.iris), on drawn eyes."""
import cv2
import numpy as np

from reconstruction import iris


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
        found = iris.disk_centre(_eye(centre, 6, lids), lids, np.array(centre) + [2, -1.5], 6)
        assert np.abs(found + 0.5 - centre).max() < 0.25


def test_disk_reader_finds_an_iris_the_lids_cut():
    lids = _almond(12)  # the opening is narrower than the iris: it touches both lids, as on real footage
    for centre in ((33.4, 20.0), (33.4, 21.5), (29.9, 19.0)):
        found = iris.disk_centre(_eye(centre, 9, lids), lids, np.array((33.4, 20.0)), 9)
        assert np.abs(found + 0.5 - centre).max() < 0.25  # on a clean drawing the height shows in the sides' curve


def _points(lids, iris_centre, radius):
    """Landmarks of one eye: the lid contour, then the iris centre and a ring of four."""
    ring = [iris_centre + radius * np.array(d) for d in ((1, 0), (0, -1), (-1, 0), (0, 1))]
    return np.vstack([lids, [iris_centre], ring])


def test_refiner_moves_the_iris_sideways_only_and_leaves_a_closed_eye():
    lids = _almond(12)
    points = _points(lids, np.array([31.0, 19.0]), 9)  # the detector's iris: 2.9 px left of the drawn one
    refiner = iris.IrisRefiner(lid_contours=(np.arange(24), np.arange(24)), irises=(tuple(range(24, 29)),) * 2)
    image = _eye((33.4, 20.0), 9, lids)
    moved = refiner.refine(image, points)
    assert abs(moved[24, 0] + 0.5 - 33.4) < 0.25
    assert np.allclose(moved[25:29] - moved[24], points[25:29] - points[24])  # the ring moves with the centre
    assert np.array_equal(moved[:, 1], points[:, 1])  # the height stays the detector's
    closed = _almond(3)  # a blink: the opening shows far less than the iris
    shut = _points(closed, np.array([31.0, 19.0]), 9)
    assert np.array_equal(refiner.refine(_eye((33.4, 20.0), 9, closed), shut), shut)
