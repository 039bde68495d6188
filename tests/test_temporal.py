"""Gap filling and the zero-lag smoother."""
import numpy as np

from reconstruction.temporal import fill_gaps, smooth

IOD = 100.0  # interocular distance in pixels for these synthetic tracks


def _track(x):
    """A one-landmark track (F, 1, 2) moving along x."""
    return np.stack([x, np.zeros_like(x)], -1)[:, None, :]


def test_smoothing_halves_jitter_at_rest():
    rng = np.random.default_rng(0)
    noisy = _track(200 + rng.normal(0, 0.5, 400))
    out = smooth(noisy, np.ones(400, bool), np.full(400, IOD))
    assert out[:, 0, 0].std() < 0.5 * noisy[:, 0, 0].std()


def test_fast_motion_keeps_its_timing_and_amplitude():
    t = np.arange(120)
    x = 200 + 30 * np.sin(2 * np.pi * t / 20)  # a fast oscillation: up to 9 px (0.09 IOD) per frame
    rng = np.random.default_rng(1)
    noisy = _track(x + rng.normal(0, 0.3, len(t)))
    out = smooth(noisy, np.ones(len(t), bool), np.full(len(t), IOD))[:, 0, 0]
    lags = range(-3, 4)
    best = max(lags, key=lambda k: np.corrcoef(np.roll(out, k)[5:-5], x[5:-5])[0, 1])
    assert best == 0, "no lag"
    assert np.abs(out - x).max() < 1.5  # peaks are kept (a plain 7-tap average would lose ~3 px)


def test_a_step_is_not_smeared():
    x = np.where(np.arange(60) < 30, 100.0, 160.0)
    out = smooth(_track(x), np.ones(60, bool), np.full(60, IOD))[:, 0, 0]
    assert abs(out[27] - 100) < 1 and abs(out[33] - 160) < 1


def test_short_gaps_are_filled_and_long_ones_left():
    pts = _track(np.arange(30, dtype=float))
    valid = np.ones(30, bool)
    valid[5:8] = False  # 3 frames: filled
    valid[15:25] = False  # 10 frames: left alone
    pts[~valid] = np.nan
    filled = fill_gaps(pts, valid, max_gap=5)
    assert filled.sum() == 3 and filled[5:8].all()
    np.testing.assert_allclose(pts[5:8, 0, 0], [5, 6, 7])
    assert np.isnan(pts[15:25]).all()


def test_invalid_frames_do_not_leak_into_neighbours():
    x = np.full(20, 50.0)
    x[10] = 5000.0
    valid = np.ones(20, bool)
    valid[10] = False
    out = smooth(_track(x), valid, np.full(20, IOD))[:, 0, 0]
    assert np.abs(out[valid] - 50).max() < 1e-9
