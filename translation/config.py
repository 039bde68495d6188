"""Typed configuration of the rendering-to-video network, and its named presets.

A preset is a whole, runnable configuration: network widths, the crop size it
works at, the space-time window, optimiser and loss settings, and how often to
checkpoint. `dvp train --preset NAME` starts from one; a few fields (window,
batch size) can be overridden on the command line. The config is saved with the
model, so a model directory says exactly how it was made.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from rendering.spacetime import CONDITIONING_CHANNELS, DEFAULT_WINDOW
from translation.plate import PLATE_CHANNELS

UPSAMPLING = ("transposed", "resize", "subpixel")
GAN_LOSSES = ("bce", "hinge")


@dataclass(frozen=True)
class TranslationConfig:
    name: str
    size: int  # square crop side in pixels that the network reads and writes
    window: int = DEFAULT_WINDOW  # N_w: frames of conditioning stacked along channels
    # Generator: a U-Net. `depth` stride-2 levels; level i has min(base_width * 2**i, max_width) channels.
    depth: int = 8
    base_width: int = 64
    max_width: int = 512
    dropout: float = 0.5  # on the deepest decoder levels, as in pix2pix-style generators
    dropout_levels: int = 3
    # How each decoder level doubles the resolution: "transposed", a 4 x 4 stride-2 transposed convolution (the
    # paper's; its kernels overlap unevenly and paint a checkerboard); "resize", nearest-neighbour upsampling then a
    # 3 x 3 convolution (Odena et al. 2016); or "subpixel", a 3 x 3 convolution to four times the channels at the low
    # resolution, shuffled into pixels, initialised so that the four sub-pixels start alike (ICNR, Aitken et al.
    # 2017): no checkerboard at the start, at the cost of the transposed convolution. A model saved before this field
    # existed is "transposed".
    upsample: str = "transposed"
    # Discriminator: a conditional PatchGAN over (space-time conditioning, image).
    disc_width: int = 64
    disc_layers: int = 3  # stride-2 layers; 3 gives 70 x 70 pixel patches
    disc_window: int = 0  # frames of conditioning (the latest) the discriminator sees with the image; 0: all
    # pix2pixHD's stronger critic: the same discriminator at `disc_scales` resolutions (each half the one before),
    # and a feature-matching loss (weight `feature_matching`: the L1 distance between the discriminators' inner
    # activations for the generated and the real frame). `gan_loss` "bce" (the paper's) or "hinge".
    disc_scales: int = 1
    feature_matching: float = 0.0
    gan_loss: str = "bce"
    # Optimisation (the paper's: Adam 2e-4, beta1 0.5; L1 weight 100 plus the adversarial term).
    batch_size: int = 16
    learning_rate: float = 2e-4
    beta1: float = 0.5
    l1_weight: float = 100.0
    adversarial_weight: float = 1.0
    # An exponential moving average of the generator's weights, kept beside them and used for validation and
    # inference (0: none, the generator's own weights). Its decay warms up as (1 + step) / (10 + step).
    ema_decay: float = 0.0
    # Extra L1 weight inside the rendered face and around the eyes (0, 0: plain L1 as in the paper). At low
    # resolution the face is a small part of the shot crop and the eyes a tiny one; weighting them makes the
    # network spend its capacity where pose, expression and gaze are read (see README: translation results).
    face_weight: float = 0.0
    eye_weight: float = 0.0
    # The background plate (see translation.plate): the target's crop with the head cut out, as 4 more input
    # channels; and random shift (fraction of the crop), scale (fraction) and roll (degrees) of half the training
    # samples (see translation.augment), which needs the plate.
    plate: bool = False
    # Where the training plate comes from: the frame itself (False), or the random other training frame whose face
    # is also cut out (True), as in synthesis, where the plate is the target's original frame and the head is driven.
    plate_other_frame: bool = False
    # Balanced sampling (see translation.sampling): frames drawn with probability density ** -pose_balance over head
    # pose and gaze, so the footage's rare poses are learnt too; 0 draws uniformly.
    pose_balance: float = 0.0
    augment_shift: float = 0.0
    augment_scale: float = 0.0
    augment_roll: float = 0.0
    # Book-keeping.
    checkpoint_every: int = 500  # steps
    validation_frames: int = 16  # held-out frames scored and shown at every checkpoint
    holdout_fraction: float = 0.15  # the last part of the video, kept out of training

    @property
    def window_channels(self) -> int:
        return len(CONDITIONING_CHANNELS) * self.window

    @property
    def in_channels(self) -> int:
        """The generator's input: the space-time window, and the plate when there is one."""
        return self.window_channels + (PLATE_CHANNELS if self.plate else 0)

    @property
    def augments(self) -> bool:
        return bool(self.augment_shift or self.augment_scale or self.augment_roll)

    @property
    def disc_in_channels(self) -> int:
        return len(CONDITIONING_CHANNELS) * (self.disc_window or self.window)

    def widths(self) -> list[int]:
        return [min(self.base_width * 2 ** i, self.max_width) for i in range(self.depth)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TranslationConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def check(self) -> "TranslationConfig":
        """Raise ValueError for a configuration the network cannot be built with."""
        if self.size % 2 ** self.depth:
            raise ValueError(f"size {self.size} must be divisible by 2**depth = {2 ** self.depth}")
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLING)}, not {self.upsample!r}")
        if self.window < 1 or self.batch_size < 1:
            raise ValueError("window and batch size must be at least 1")
        if not 0 <= self.disc_window <= self.window:
            raise ValueError(f"disc_window must be between 0 (all) and the window ({self.window})")
        if self.plate_other_frame and not self.plate:
            raise ValueError("plate_other_frame needs the plate")
        if self.augments and not self.plate:
            raise ValueError("augmentation needs the plate: without it the network cannot tell where the shifted "
                             "background went")
        if min(self.augment_shift, self.augment_scale, self.augment_roll) < 0:
            raise ValueError("augmentation ranges must not be negative")
        if not 0 <= self.pose_balance <= 1:
            raise ValueError("pose_balance must be between 0 (uniform sampling) and 1 (even over the poses)")
        if self.disc_scales < 1 or self.feature_matching < 0 or self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"disc_scales must be at least 1, feature_matching at least 0, and gan_loss one of "
                             f"{', '.join(GAN_LOSSES)}")
        if self.size >> (self.disc_scales - 1) < 2 ** (self.disc_layers + 2):
            raise ValueError(f"{self.disc_scales} discriminator scales leave too few pixels at {self.size}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError("ema_decay must be at least 0 (no average) and below 1")
        if self.face_weight < 0 or self.eye_weight < 0:
            raise ValueError("face_weight and eye_weight must not be negative")
        if not 0 < self.holdout_fraction < 0.5:
            raise ValueError("holdout_fraction must be between 0 and 0.5")
        return self

    def with_overrides(self, **changes) -> "TranslationConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).check()


# Every preset upsamples by sub-pixel convolution and keeps an average of the generator's weights: measured against
# the paper's transposed convolution at equal training time (docs/train.md, "Training recipes at equal wall time").
# The tiny preset, for tests of a few hundred steps, keeps no average.
PRESETS: dict[str, TranslationConfig] = {
    # The paper's resolution and the widths of its encoder-decoder (64 to 512, eight levels).
    "paper": TranslationConfig(name="paper", size=256, depth=8, base_width=64, max_width=512, upsample="subpixel",
                               ema_decay=0.999, batch_size=16, checkpoint_every=1000),
    # Twice the resolution: one more level, narrower at the top to keep memory in hand.
    "hd": TranslationConfig(name="hd", size=512, depth=9, base_width=32, max_width=512, upsample="subpixel",
                            ema_decay=0.999, batch_size=8, checkpoint_every=1000),
    # Small enough to learn a usable model of one actor in about 30 minutes on 2 CPU cores. A window of 5 frames:
    # at equal training time it paints as well as no window and flickers as little as the paper's 11 (docs/train.md).
    "cpu": TranslationConfig(name="cpu", size=128, window=5, depth=5, base_width=32, max_width=256, dropout=0.0,
                             dropout_levels=0, upsample="subpixel", ema_decay=0.999, disc_width=32, disc_layers=3,
                             disc_window=1, batch_size=8, face_weight=2.0, eye_weight=20.0, plate=True,
                             augment_shift=0.05, augment_scale=0.05, augment_roll=5.0, checkpoint_every=250),
    # The cpu preset's recipe (plate, augmentation, face and eye weights) at the paper's resolution and depth, for a
    # GPU: widths capped at 256 keep the generator at about 15 M parameters, fast enough to render on a CPU.
    "gpu": TranslationConfig(name="gpu", size=256, depth=8, base_width=64, max_width=256, dropout=0.0,
                             dropout_levels=0, upsample="subpixel", ema_decay=0.999, disc_width=64, disc_layers=3,
                             disc_window=1, batch_size=16, face_weight=2.0, eye_weight=20.0, plate=True,
                             augment_shift=0.05, augment_scale=0.05, augment_roll=5.0, checkpoint_every=1000),
    # For tests and smoke runs: seconds per hundred steps.
    "tiny": TranslationConfig(name="tiny", size=64, window=3, depth=3, base_width=8, max_width=32, dropout=0.0,
                              dropout_levels=0, upsample="subpixel", disc_width=8, disc_layers=2, disc_window=1,
                              batch_size=4, checkpoint_every=20, validation_frames=4),
}


def preset(name: str) -> TranslationConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
