"""The space-time generator and the conditional patch discriminator.

Generator: a U-Net over the 9 * N_w channel space-time conditioning. Each
encoder level halves the resolution with a 4 x 4 stride-2 convolution; each
decoder level doubles it (a resize and a 3 x 3 convolution, or in models made
before, a 4 x 4 transposed convolution: `TranslationConfig.upsample`) and is joined to
the encoder level of the same size by a skip connection, so the fine detail of
the conditioning (edges of the face, the eyes) reaches the output directly and
the deep levels only have to supply what the rendering lacks: skin, hair, teeth,
shading, the body and the background. GroupNorm rather than BatchNorm: it
behaves the same in training and inference and does not depend on the batch
size, which is small on a CPU.

Discriminator: a PatchGAN that judges overlapping patches of (conditioning,
image) pairs, so it asks whether the image is a real frame *for this
conditioning*, not just a plausible face. It may see only the latest frames of
the window (`disc_window`): the first convolution over all 99 channels costs as
much as the rest of the discriminator, and on a CPU that time is better spent on
more generator steps.

Both take and give values in [-1, 1].
"""
from __future__ import annotations

import torch
from torch import nn

from translation.config import TranslationConfig

IMAGE_CHANNELS = 3


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, max(1, channels // 4)), channels)


def _upsampling(channels: int, out: int, kind: str, bias: bool = True) -> nn.Module:
    """Twice the resolution: a 4 x 4 stride-2 transposed convolution, nearest-neighbour resizing and a 3 x 3
    convolution, or a sub-pixel convolution (see `TranslationConfig.upsample`)."""
    if kind == "transposed":
        return nn.ConvTranspose2d(channels, out, 4, 2, 1, bias=bias)
    if kind == "subpixel":
        conv = nn.Conv2d(channels, 4 * out, 3, 1, 1, bias=bias)
        with torch.no_grad():  # ICNR: each output channel's four sub-pixels start from the same kernel
            start = nn.Conv2d(channels, out, 3, 1, 1, bias=bias)
            conv.weight.copy_(start.weight.repeat_interleave(4, dim=0))
            if bias:
                conv.bias.copy_(start.bias.repeat_interleave(4))
        return nn.Sequential(conv, nn.PixelShuffle(2))
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, out, 3, 1, 1, bias=bias))


class Generator(nn.Module):
    def __init__(self, config: TranslationConfig):
        super().__init__()
        widths = config.widths()
        self.encoder = nn.ModuleList()
        channels = config.in_channels
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(_norm(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            self.encoder.append(nn.Sequential(*layers))
            channels = width
        self.decoder = nn.ModuleList()
        depth = len(widths)
        for i in range(depth - 1, 0, -1):  # up to the resolution of encoder level i - 1
            into = widths[i] if i == depth - 1 else 2 * widths[i]
            layers = [_upsampling(into, widths[i - 1], config.upsample, bias=False), _norm(widths[i - 1])]
            if depth - 1 - i < config.dropout_levels and config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            layers.append(nn.ReLU(inplace=True))
            self.decoder.append(nn.Sequential(*layers))
        self.output = nn.Sequential(_upsampling(2 * widths[0] if depth > 1 else widths[0], IMAGE_CHANNELS,
                                                config.upsample), nn.Tanh())

    def forward(self, conditioning: torch.Tensor) -> torch.Tensor:
        skips = []
        x = conditioning
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        skips.pop()  # the deepest level is the decoder's input, not a skip
        for level in self.decoder:
            x = torch.cat([level(x), skips.pop()], dim=1)
        return self.output(x)


class PatchDiscriminator(nn.Module):
    def __init__(self, config: TranslationConfig):
        super().__init__()
        width = config.disc_width
        self.in_channels = config.disc_in_channels
        layers: list[nn.Module] = [nn.Conv2d(config.disc_in_channels + IMAGE_CHANNELS, width, 4, 2, 1),
                                   nn.LeakyReLU(0.2, inplace=True)]
        channels = width
        for i in range(1, config.disc_layers + 1):
            out = width * min(2 ** i, 8)
            stride = 2 if i < config.disc_layers else 1
            layers += [nn.Conv2d(channels, out, 4, stride, 1, bias=False), _norm(out), nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, conditioning: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Logits, one per patch: (N, 1, h, w). Only the latest `disc_window` frames of the conditioning are read."""
        return self.net(torch.cat([conditioning[:, conditioning.shape[1] - self.in_channels:], image], dim=1))

    def features(self, conditioning: torch.Tensor, image: torch.Tensor) -> list[torch.Tensor]:
        """The activation after every layer's non-linearity, then the logits (the same as `forward`'s)."""
        x = torch.cat([conditioning[:, conditioning.shape[1] - self.in_channels:], image], dim=1)
        out = []
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                out.append(x)
        return [*out, x]


class MultiScaleDiscriminator(nn.Module):
    """The patch discriminator at several resolutions (pix2pixHD): scale k sees the conditioning and the image
    averaged down 2**k times, so the coarse scales judge the whole head and the fine one the texture."""

    def __init__(self, config: TranslationConfig):
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(config) for _ in range(config.disc_scales))

    def features(self, conditioning: torch.Tensor, image: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per scale, the activations and the logits (see `PatchDiscriminator.features`)."""
        out = []
        for k, scale in enumerate(self.scales):
            if k:
                conditioning = nn.functional.avg_pool2d(conditioning, 3, 2, 1, count_include_pad=False)
                image = nn.functional.avg_pool2d(image, 3, 2, 1, count_include_pad=False)
            out.append(scale.features(conditioning, image))
        return out


def discriminator(config: TranslationConfig) -> nn.Module:
    """The discriminator a config asks for: one patch discriminator (as models made before multi-scale were), or
    several scales."""
    return PatchDiscriminator(config) if config.disc_scales == 1 else MultiScaleDiscriminator(config)


def scale_features(disc: nn.Module, conditioning: torch.Tensor, image: torch.Tensor) -> list[list[torch.Tensor]]:
    """Per scale, the activations and the logits, for either kind of discriminator."""
    if isinstance(disc, MultiScaleDiscriminator):
        return disc.features(conditioning, image)
    return [disc.features(conditioning, image)]


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
