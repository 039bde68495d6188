"""Every threshold of the eye stage, in one place: what counts as open, how the warp blends, when a fit is trusted.

The defaults are what `dvp reenact` and `dvp edit` run with; a study (or a test)
can pass other values to `EyeStage` without touching module constants.
"""
from __future__ import annotations

from dataclasses import dataclass

from reconstruction.track import OPEN_EYE_BLINK


@dataclass(frozen=True)
class EyeSettings:
    # When an eye is open: its blink control is below this (the lids show the iris). The gaze calibration measures
    # only on eyes wider open than `calibration_open_blink` in the shot: a half-open eye's iris is read poorly, and
    # the slope it gives is the lids' as much as the eyeball's.
    open_blink: float = OPEN_EYE_BLINK
    calibration_open_blink: float = 0.3

    # The gaze warp (`pipeline.eyes.eyeball_warp`).
    feather_px: float = 0.8  # Gaussian sigma of the blend's edge
    inset_px: float = 1.0  # the opening is shrunk by this much, so lids painted a pixel off get no eyeball colour
    margin_px: int = 3  # around an opening's box
    min_seen: float = 0.6  # share of the opening the target frame must show for its eyeball to be used
    eye_turn_limit_deg: float = 45.0  # no eye turns further in its socket (the human range is about 45-50 sideways)

    # The gaze calibration (`pipeline.eyes.gaze_calibration`).
    calibration_offsets_deg: tuple[float, ...] = (0.0, 10.0, 0.0, -10.0, 0.0, 16.0, 0.0, -16.0)
    calibration_block: int = 16  # frames per offset
    calibration_min_samples: int = 40  # open eyes in the measured blocks needed to trust a slope
    gaze_gain_range: tuple[float, float] = (0.4, 1.5)  # a slope outside says the measurement failed

    # The painted head (`pipeline.eyes.painted_head`): a fit further than this from the conditioning is taken for a
    # misdetection, and the frame keeps the conditioned head.
    painted_head_max_turn_deg: float = 8.0
    painted_head_max_shift_cm: float = 2.0
    painted_head_max_faces: int = 3
    painted_head_iterations: int = 4


DEFAULT = EyeSettings()
