"""An invisible watermark in the pictures: a job identifier and the tool's version that survive re-encoding,
downscaling, cropping, brightness changes and cuts.

The scheme lives in the frequency domain of a square tile:

- The mark is one tile (`TILE` pixels at zoom 1) repeated over the whole
  picture, the same in every frame. A periodic picture has a line spectrum: its
  energy sits on a lattice of frequencies, one per (u, v) cycles per tile. The
  tile is built directly from those coefficients, in a mid-frequency annulus
  (`BAND` cycles per tile): low enough to survive H.264 at CRF 28 after a 50 %
  downscale, high enough to hide in the picture's texture.
- Each coefficient carries two real degrees of freedom (its cosine and sine
  parts). A fixed pseudo-random third of them carries a known pattern, the
  synchronisation pattern; the rest carry the payload's coded bits, each bit on
  `len(dofs) // CODED_BITS` coefficients scattered over the band.
- The payload (32-bit job identifier, 16-bit version) gets a CRC-16 and a rate
  1/2 convolutional code (constraint length 7), decoded with soft decisions
  (Viterbi), so weak coefficients cost little and a wrong payload is caught.
- The pattern is added to the luma only (the same amount to R, G and B), scaled
  by the local texture, so flat areas get a fraction of it.

Detection whitens each frame (the sign of its fine detail) and sums the frames:
the fixed mark adds up while moving content averages out. The sum is folded
onto one tile for each candidate scale; a downscale shrinks the tile's period,
a crop only shifts the tile, and a brightness change scales both mark and
picture. The folded tile's phase correlation with the synchronisation pattern
gives a peak and the shift; for the highest peaks over the scales the shift is
undone in the spectrum, the synchronisation coefficients measure ring by ring
how much mark each coefficient carries, and the payload is decoded until its
CRC holds.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TILE = 128  # pixels per tile side at zoom 1
BAND = (5.0, 14.0)  # the annulus the mark lives in, in cycles per tile
SYNC_SHARE = 0.25  # the share of the band's degrees of freedom that carry the synchronisation pattern
PAYLOAD_BITS = 48  # job identifier (32) + version (16)
CRC_BITS = 16
CONSTRAINT = 7  # the convolutional code's constraint length; generators 133 and 171 (octal)
GENERATORS = (0o133, 0o171)
CODED_BITS = (PAYLOAD_BITS + CRC_BITS + CONSTRAINT - 1) * 2
STRENGTH = 3.5  # the mark's RMS in textured areas, in 8-bit grey levels
MAX_RMS = 2.2  # a frame's mark never exceeds this RMS (PSNR 41.3 dB against the unmarked frame)
REACH = 16  # pixels: how far a change of the picture changes the mark around it (the texture measure's blurs)
FLAT_SHARE = 0.15  # the share of it that flat areas get
SEED = 20261206  # fixes which coefficients carry what; public: this is a mark, not a secret
SYNC_THRESHOLD = 5.5  # the phase-correlation peak (in standard deviations) a mark needs, besides a valid CRC
SCALES = (0.3, 1.6)  # the tile sizes detection searches, relative to TILE in the picture as read
SEARCH_SIDE = 384  # the centre the scale search looks at, in pixels (the whole picture is read at the best scale)
ZOOM_2_FROM = 900  # pictures at least this high (and wide) get a zoom-2 mark: a 256-pixel tile
HALVED_FROM = 640  # pictures at least this high (and wide) are read at half size (a zoom-2 mark cropped, too)
SPAN = 3.0  # how far around the centre's best scale the whole picture is searched, in the coarse search's steps
REFINE = 31  # scales tried there
DECODES = 5  # of those, how many of the highest sync peaks (local maxima over the scales) are decoded


@dataclass(frozen=True)
class Payload:
    job_id: int  # 32 bits
    version: tuple[int, int, int]  # major (5 bits), minor (6 bits), patch (5 bits)

    @property
    def job_hex(self) -> str:
        return f"{self.job_id:08x}"

    def bits(self) -> np.ndarray:
        major, minor, patch = self.version
        if not (0 <= major < 32 and 0 <= minor < 64 and 0 <= patch < 32):
            raise ValueError(f"version {self.version} does not fit the watermark's 5.6.5 bits")
        word = (self.job_id & 0xFFFFFFFF) << 16 | major << 11 | minor << 5 | patch
        return _to_bits(word, PAYLOAD_BITS)

    @classmethod
    def of_bits(cls, bits: np.ndarray) -> Payload:
        word = _from_bits(bits)
        return cls(word >> 16, ((word >> 11) & 31, (word >> 5) & 63, word & 31))

    @classmethod
    def of(cls, job_id: str, version: str) -> Payload:
        """From an 8-hex-digit job identifier and a version string such as "0.1.0"."""
        parts = [int("".join(c for c in p if c.isdigit()) or 0) for p in version.split(".")[:3]]
        parts += [0] * (3 - len(parts))
        return cls(int(job_id, 16), (parts[0], parts[1], parts[2]))


@dataclass
class Detection:
    found: bool
    payload: Payload | None
    sync: float  # the synchronisation peak in standard deviations (about 4-5 on unmarked pictures)
    agreement: float  # the share of coded bits read as the decoded payload encodes them (0.5: chance)
    scale: float  # the tile's size in the pictures read, over TILE
    shift: tuple[int, int]  # where the tile starts, in TILE pixels
    frames: int  # frames read

    def report(self) -> dict:
        return {"found": self.found, "job_id": self.payload.job_hex if self.payload else None,
                "tool_version": ".".join(map(str, self.payload.version)) if self.payload else None,
                "confidence": round(self.agreement, 3), "sync": round(self.sync, 1), "scale": round(self.scale, 4),
                "frames_read": self.frames}


# --- the tile ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Which coefficient carries what: (u, v) per degree of freedom, whether it is a sine part, and its role."""

    u: np.ndarray
    v: np.ndarray
    sine: np.ndarray  # bool
    sync: np.ndarray  # (n_sync,) indices into the dofs
    sync_signs: np.ndarray  # (n_sync,) +-1
    bit_of: np.ndarray  # (n_dof,) the coded bit a dof carries, -1 for sync dofs


def _layout() -> Layout:
    half = TILE // 2
    us, vs = np.meshgrid(np.arange(-half, half), np.arange(0, half), indexing="xy")
    r = np.hypot(us, vs)
    keep = (r >= BAND[0]) & (r <= BAND[1]) & ((vs > 0) | (us > 0))  # one of each conjugate pair
    u, v = us[keep], vs[keep]
    u, v = np.repeat(u, 2), np.repeat(v, 2)
    sine = np.tile([False, True], len(u) // 2)
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(u))
    n_sync = int(round(SYNC_SHARE * len(u)))
    sync = order[:n_sync]
    bit_of = np.full(len(u), -1)
    payload_dofs = order[n_sync:]
    if len(payload_dofs) < CODED_BITS:
        raise ValueError("the band holds too few coefficients for the payload")
    bit_of[payload_dofs] = np.arange(len(payload_dofs)) % CODED_BITS
    signs = rng.choice([-1.0, 1.0], n_sync)
    return Layout(u, v, sine, sync, signs, bit_of)


LAYOUT = _layout()


def _spectrum(values: np.ndarray) -> np.ndarray:
    """The tile's full complex spectrum from a value per dof (Hermitian, so its inverse is real)."""
    spec = np.zeros((TILE, TILE), complex)
    coeff = np.where(LAYOUT.sine, -1j * values, values) / 2
    np.add.at(spec, (LAYOUT.v % TILE, LAYOUT.u % TILE), coeff)
    np.add.at(spec, (-LAYOUT.v % TILE, -LAYOUT.u % TILE), np.conj(coeff))
    return spec


def tile(payload: Payload) -> np.ndarray:
    """The mark's tile (TILE, TILE) float32 with RMS 1: the synchronisation pattern plus the coded payload."""
    values = np.zeros(len(LAYOUT.u))
    values[LAYOUT.sync] = LAYOUT.sync_signs
    coded = 2.0 * encode(payload) - 1.0
    carried = LAYOUT.bit_of >= 0
    values[carried] = coded[LAYOUT.bit_of[carried]]
    pattern = np.fft.ifft2(_spectrum(values)).real
    return (pattern / pattern.std()).astype(np.float32)


def _sync_spectrum() -> np.ndarray:
    values = np.zeros(len(LAYOUT.u))
    values[LAYOUT.sync] = LAYOUT.sync_signs
    return _spectrum(values)


SYNC_SPECTRUM = _sync_spectrum()


# --- marking ----------------------------------------------------------------------------------------------------


class Marker:
    """Adds the mark to frames of one size; `zoom` 2 for large pictures, whose tile is then 256 pixels."""

    def __init__(self, payload: Payload, width: int, height: int) -> None:
        self.payload = payload
        self.zoom = zoom_for(width, height)
        pattern = tile(payload)
        if self.zoom != 1:
            side = TILE * self.zoom
            pattern = cv2.resize(np.tile(pattern, (2, 2)), (2 * side, 2 * side), interpolation=cv2.INTER_CUBIC)
            pattern = pattern[:side, :side] / pattern[:side, :side].std()
        reps = (-(-height // pattern.shape[0]), -(-width // pattern.shape[1]))
        self.field = np.tile(pattern, reps)[:height, :width].astype(np.float32)
        self.width, self.height = width, height
        self._buffers: dict[str, np.ndarray] = {}

    def mark(self, frame: np.ndarray) -> np.ndarray:
        """`frame` (H, W, 3) uint8 or uint16 RGB, marked; a new array."""
        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(f"the marker was made for {self.width}x{self.height} frames, not "
                             f"{frame.shape[1]}x{frame.shape[0]}")
        deep = frame.dtype == np.uint16
        grey = luma(frame) * (255.0 / 65535.0) if deep else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        # full-size work in buffers kept from frame to frame: allocating them anew costs as much as the work
        share = cv2.resize(shrunk_texture(grey, 2 * self.zoom), (self.width, self.height),
                           dst=self._buffers.get("share"), interpolation=cv2.INTER_LINEAR)
        delta = cv2.multiply(share, self.field, dst=self._buffers.get("delta"), scale=STRENGTH)
        self._buffers.update(share=share, delta=delta)
        rms = float(cv2.norm(delta, cv2.NORM_L2)) / np.sqrt(delta.size)
        if rms > MAX_RMS:  # in steps of 1/32, so a small local change of the picture leaves the rest as it was
            delta *= np.floor(32 * MAX_RMS / rms) / 32
        if deep:
            out = frame.astype(np.int32) + np.rint(delta * 257.0).astype(np.int32)[..., None]
            return np.clip(out, 0, 65535).astype(np.uint16)
        step = self._buffers.setdefault("step", np.empty(delta.shape, np.int16))
        np.copyto(step, np.rint(delta, out=delta), casting="unsafe")
        steps = cv2.merge([step, step, step], dst=self._buffers.get("steps"))
        self._buffers["steps"] = steps
        return cv2.add(frame, steps, dtype=cv2.CV_8U)  # saturating


def zoom_for(width: int, height: int) -> int:
    return 2 if min(width, height) >= ZOOM_2_FROM else 1


def luma(frame: np.ndarray) -> np.ndarray:
    """Rec. 601 luma as float32 (8-bit frames rounded to whole levels, which costs the mark nothing)."""
    if frame.dtype == np.uint8:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    f = frame.astype(np.float32)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def texture(grey: np.ndarray, shrink: int = 2) -> np.ndarray:
    """How much of the mark each pixel takes: FLAT_SHARE on flat areas, rising with the local contrast to 1 where
    the picture has texture to hide it (about 3.5 grey levels of detail)."""
    h, w = grey.shape
    return cv2.resize(shrunk_texture(grey, shrink), (w, h), interpolation=cv2.INTER_LINEAR)


def shrunk_texture(grey: np.ndarray, shrink: int) -> np.ndarray:
    """`texture`, `shrink` times smaller (twice the mark's zoom): it varies slowly, and at full size it would be
    most of the marking's cost."""
    h, w = grey.shape
    small = cv2.resize(grey.astype(np.float32), (-(-w // shrink), -(-h // shrink)), interpolation=cv2.INTER_AREA)
    detail = small - cv2.GaussianBlur(small, (0, 0), 0.75)
    contrast = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), 2.0))
    return np.clip(FLAT_SHARE + contrast / 4.0, FLAT_SHARE, 1.0)


# --- reading ----------------------------------------------------------------------------------------------------


class Accumulator:
    """Sums whitened frames: the mark adds up frame after frame, moving content averages out."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        grey = luma(frame)
        if frame.dtype == np.uint16:
            grey *= 255.0 / 65535.0
        if min(grey.shape) >= HALVED_FROM:  # a large picture read at half size: a zoom-2 mark as a zoom-1 one
            grey = cv2.resize(grey, ((grey.shape[1] + 1) // 2, (grey.shape[0] + 1) // 2), interpolation=cv2.INTER_AREA)
        white = whiten(grey)
        if self.total is None:
            self.total = white
        elif white.shape == self.total.shape:
            self.total += white
        else:
            raise ValueError(f"frame {self.frames} is {frame.shape[1]}x{frame.shape[0]}, the first was "
                             f"{self.total.shape[1]}x{self.total.shape[0]}")
        self.frames += 1


def whiten(grey: np.ndarray) -> np.ndarray:
    """The sign of the picture's fine detail: every pixel counts the same, so strong edges do not drown the mark
    (the mark's frequencies lie above the blur at any scale searched)."""
    return np.sign(grey - cv2.GaussianBlur(grey, (0, 0), 2.0)).astype(np.float32)


def fold(picture: np.ndarray, period: float) -> np.ndarray:
    """`picture` averaged onto one tile of TILE pixels, its tiles being `period` pixels wide."""
    h, w = picture.shape
    step = TILE / period
    ys = (np.arange(h) * step).astype(np.int64) % TILE
    xs = (np.arange(w) * step).astype(np.int64) % TILE
    index = (ys[:, None] * TILE + xs[None, :]).ravel()
    sums = np.bincount(index, picture.ravel(), TILE * TILE)
    counts = np.bincount(index, None, TILE * TILE)
    folded = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    folded[counts > 0] -= folded[counts > 0].mean()
    return folded.reshape(TILE, TILE)


BAND_MASK = np.abs(SYNC_SPECTRUM) > 0
RINGS = np.floor(np.hypot(LAYOUT.u, LAYOUT.v) / 1.5).astype(int)  # rings of the band, for `read_soft_bits`



def sync_peak(folded: np.ndarray) -> tuple[float, tuple[int, int]]:
    """The phase correlation of a folded tile with the synchronisation pattern: its peak in standard deviations,
    and the shift (rows, columns) at which it lies."""
    spec = np.fft.fft2(folded)
    spec = np.where(BAND_MASK, spec / (np.abs(spec) + 1e-9), 0)
    corr = np.fft.ifft2(spec * np.conj(SYNC_SPECTRUM)).real
    at = np.unravel_index(int(np.argmax(corr)), corr.shape)
    return float((corr[at] - corr.mean()) / (corr.std() + 1e-12)), (int(at[0]), int(at[1]))


def detect(total: np.ndarray, frames: int) -> Detection:
    """Look for the mark in the sum of whitened frames (see `Accumulator`)."""
    h, w = total.shape
    cy, cx = max(0, (h - SEARCH_SIDE) // 2), max(0, (w - SEARCH_SIDE) // 2)
    centre = total[cy:cy + SEARCH_SIDE, cx:cx + SEARCH_SIDE]
    best = (-np.inf, 1.0)
    lo, hi = SCALES
    step = 1.2 / max(centre.shape)  # relative: at most about half a pixel of drift over the centre
    scale = lo
    while scale <= hi:
        peak, _ = sync_peak(fold(centre, TILE * scale))
        if peak > best[0]:
            best = (peak, scale)
        scale *= 1 + step
    # refined over the whole picture; the sync peak wanders a little with the scale (an attack's resampling moves
    # the tile by fractions of a pixel), so the best few are decoded and the first whose CRC holds wins
    span = best[1] * step * SPAN
    refined = []
    for scale in np.linspace(best[1] - span, best[1] + span, REFINE):
        folded = fold(total, TILE * scale)
        peak, shift = sync_peak(folded)
        refined.append((peak, scale, shift, folded))
    peaks = [item for k, item in enumerate(refined)  # the local maxima over the scales, highest first
             if item[0] >= max(refined[max(k - 1, 0)][0], refined[min(k + 1, len(refined) - 1)][0])]
    peaks.sort(key=lambda item: -item[0])
    tried = None
    for peak, scale, shift, folded in peaks[:DECODES]:
        if peak < SYNC_THRESHOLD and tried is not None:
            break
        bits, agreement = decode(read_soft_bits(folded, shift))
        if tried is None:
            tried = Detection(False, None, peak, agreement, scale, shift, frames)
        if peak >= SYNC_THRESHOLD and crc_ok(bits):
            return Detection(True, Payload.of_bits(bits[:PAYLOAD_BITS]), peak, agreement, scale, shift, frames)
    return tried


def read_soft_bits(folded: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """The coded bits' soft values (positive: 1) from a folded tile whose pattern starts at `shift`. The
    synchronisation pattern is known, so it serves as a pilot: in each ring of the band it measures how much
    mark and how much noise a coefficient carries, and the payload's coefficients are weighed by that."""
    spec = np.fft.fft2(np.roll(folded, (-shift[0], -shift[1]), axis=(0, 1)))
    x = spec[LAYOUT.v % TILE, LAYOUT.u % TILE]
    values = np.where(LAYOUT.sine, -x.imag, x.real)
    weights = np.zeros(len(values))
    pilots = np.zeros(len(values), bool)
    pilots[LAYOUT.sync] = True
    known = np.zeros(len(values))
    known[LAYOUT.sync] = LAYOUT.sync_signs
    for ring in np.unique(RINGS):
        here = RINGS == ring
        p = here & pilots
        gain = float(np.mean(values[p] * known[p]))
        noise = float(np.var(values[p] - gain * known[p])) + 1e-12
        weights[here] = max(gain, 0.0) / noise
    carried = LAYOUT.bit_of >= 0
    return np.bincount(LAYOUT.bit_of[carried], (values * weights)[carried], CODED_BITS)


# --- payload coding ---------------------------------------------------------------------------------------------


def _to_bits(word: int, n: int) -> np.ndarray:
    return np.array([(word >> (n - 1 - i)) & 1 for i in range(n)], np.uint8)


def _from_bits(bits: np.ndarray) -> int:
    word = 0
    for b in bits:
        word = word << 1 | int(b)
    return word


def crc16(bits: np.ndarray) -> np.ndarray:
    """CRC-16-CCITT of a bit string, as 16 bits."""
    reg = 0xFFFF
    for b in bits:
        top = (reg >> 15) & 1
        reg = (reg << 1) & 0xFFFF
        if top ^ int(b):
            reg ^= 0x1021
    return _to_bits(reg, CRC_BITS)


def crc_ok(bits: np.ndarray) -> bool:
    return bool(np.array_equal(crc16(bits[:PAYLOAD_BITS]), bits[PAYLOAD_BITS:PAYLOAD_BITS + CRC_BITS]))


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


STATES = 1 << (CONSTRAINT - 1)
# output bits of each (state, input) transition; state holds the previous CONSTRAINT-1 inputs, newest highest
_OUT = np.array([[[_parity(((i << (CONSTRAINT - 1)) | s) & g) for g in GENERATORS] for i in (0, 1)]
                 for s in range(STATES)], np.uint8)
_NEXT = np.array([[((i << (CONSTRAINT - 1)) | s) >> 1 for i in (0, 1)] for s in range(STATES)])


def encode(payload: Payload) -> np.ndarray:
    """The payload, its CRC and the code's tail, convolutionally coded: CODED_BITS bits."""
    info = payload.bits()
    bits = np.concatenate([info, crc16(info), np.zeros(CONSTRAINT - 1, np.uint8)])
    state, out = 0, []
    for b in bits:
        out.extend(_OUT[state, b])
        state = _NEXT[state, b]
    return np.array(out, np.uint8)


def decode(soft: np.ndarray) -> tuple[np.ndarray, float]:
    """Soft-decision Viterbi: the most likely information bits (payload + CRC), and the share of coded bits whose
    soft value agrees with that path's."""
    steps = len(soft) // 2
    pairs = soft[:2 * steps].reshape(steps, 2)
    signs = 2.0 * _OUT.astype(float) - 1.0  # (S, 2, 2)
    metric = np.full(STATES, -np.inf)
    metric[0] = 0.0
    back = np.zeros((steps, STATES), np.int64)
    back_in = np.zeros((steps, STATES), np.uint8)
    for t in range(steps):
        gain = signs @ pairs[t]  # (S, 2)
        cand = metric[:, None] + gain
        if t >= steps - (CONSTRAINT - 1):
            cand[:, 1] = -np.inf  # the tail is zeros
        new = np.full(STATES, -np.inf)
        for i in (0, 1):
            nxt = _NEXT[:, i]
            better = cand[:, i] > new[nxt]
            # several states lead to the same next state: resolve by a stable loop over the two predecessors
            for s in np.flatnonzero(better):
                if cand[s, i] > new[nxt[s]]:
                    new[nxt[s]] = cand[s, i]
                    back[t, nxt[s]] = s
                    back_in[t, nxt[s]] = i
        metric = new
    state, bits = 0, []
    for t in range(steps - 1, -1, -1):
        bits.append(back_in[t, state])
        state = back[t, state]
    bits = np.array(bits[::-1], np.uint8)
    info = bits[:PAYLOAD_BITS + CRC_BITS]
    # agreement with the re-encoded path
    st, coded = 0, []
    for b in bits:
        coded.extend(_OUT[st, b])
        st = _NEXT[st, b]
    coded = np.array(coded, float) * 2 - 1
    agreement = float(np.mean(np.sign(soft[:len(coded)]) == coded))
    return info, agreement

