"""Retiming a shot to a dub: which moment of the original each moment of the dub shows.

A dub line is rarely as long as the line it replaces, and the actor's head,
eyes and blinks must keep pace with the new words. The warp maps the dub's
clock onto the original's, piecewise linear between anchors found in both
soundtracks:

- speech and pauses: voice activity (`speech.activity`) in both; the pauses
  inside each line are paired in order by their place in the line (a small
  alignment that may leave a pause unpaired), and the first word's start, each
  paired pause's start and end, and the last word's end are the anchors. Between
  anchors time runs linearly; before the first and after the last it runs at
  the original's own speed, and a moment before the original's start or after
  its end is reflected back into it (the original plays backwards and forwards
  again rather than freezing);
- same language (`same_language`): dynamic time warping of the log-mel spectra
  of each paired stretch of speech refines the map inside it, so syllables meet
  syllables;
- no dialogue in the original (no sound, or less speech than `DIALOGUE_MIN_S`
  and `DIALOGUE_MIN_SHARE`), or a dub line more than `PAIR_STRETCH_LIMIT` times
  longer or shorter than the original's dialogue (not the same line: a short
  dub over a long monologue): a uniform stretch of the whole shot onto the dub
  when that changes its speed by at most `UNIFORM_LIMIT`; otherwise the shot
  plays at its own speed from its start, since a larger stretch shows as slow or
  fast motion;
- `keep_length`: the shot keeps its length and its own timing.

Stretches beyond `STRETCH_WARN` (dub length over original length, either way)
of stretches longer than `WARN_MIN_S` are warned of; the report lists every
segment with its factor.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from speech.phones import FRAME_SECONDS

log = logging.getLogger("dvp")

PAUSE_S = 0.25  # the shortest silence inside a line that counts as a pause to map
DIALOGUE_MIN_S = 1.0  # an original with less speech than this ...
DIALOGUE_MIN_SHARE = 0.1  # ... or less than this share of its length has no dialogue to retime by
UNIFORM_LIMIT = 0.25  # the most a shot without dialogue is sped up or slowed down to fit the dub
STRETCH_WARN = 0.25  # segments stretched or squeezed by more than this are warned of
WARN_MIN_S = 0.2  # segments shorter than this are not warned of (a few frames either way are not seen)
SKIP_COST = 0.15  # cost of leaving a pause unpaired, in units of a line's length
PAIR_STRETCH_LIMIT = 2.0  # pairings of pauses that would stretch the speech between them more than this are dropped
DTW_STEP_S = 0.02  # the spectra's rows for time warping
DTW_MAX_S = 30.0  # longer stretches of speech keep the linear map (time warping is quadratic in length)
KNOT_S = 0.1  # the time-warped map is kept as knots this far apart


@dataclass(frozen=True)
class Segment:
    kind: str  # lead, speech, pause, tail, or shot (the whole shot, for a warp without anchors)
    dub: tuple[float, float]  # seconds on the dub's clock
    original: tuple[float, float]  # seconds on the original's clock (before reflection)

    @property
    def stretch(self) -> float:
        """Dub length over original length: 1.2 plays the original 20 % slower."""
        span = self.original[1] - self.original[0]
        return (self.dub[1] - self.dub[0]) / span if span > 0 else float("inf")

    def as_dict(self, fps: float) -> dict:
        return {"kind": self.kind, "dub_s": [round(t, 3) for t in self.dub],
                "original_s": [round(t, 3) for t in self.original],
                "dub_frames": [round(t * fps) for t in self.dub],
                "original_frames": [round(t * fps) for t in self.original],
                "stretch": round(self.stretch, 3) if np.isfinite(self.stretch) else None}


@dataclass(frozen=True)
class Warp:
    """A monotonic map from the dub's clock to the original's (see the module notes)."""

    method: str  # pauses | pauses+dtw | uniform | own speed | keep length
    dub_knots: np.ndarray
    original_knots: np.ndarray
    segments: tuple[Segment, ...]
    dub_seconds: float
    original_seconds: float
    reason: str = ""  # why a warp without anchors was chosen, for the warning and the report

    def original_time(self, dub_times: np.ndarray) -> np.ndarray:
        """Seconds on the original's clock, reflected into [0, original_seconds]."""
        t = np.asarray(dub_times, float)
        d, o = self.dub_knots, self.original_knots
        out = np.interp(t, d, o)
        out = np.where(t < d[0], o[0] - (d[0] - t), out)  # the original's own speed beyond the anchors
        out = np.where(t > d[-1], o[-1] + (t - d[-1]), out)
        return reflect(out, self.original_seconds)

    def out_of_range(self) -> list[Segment]:
        """Segments stretched or squeezed beyond `STRETCH_WARN`, long enough to be seen."""
        return [s for s in self.segments
                if max(s.dub[1] - s.dub[0], s.original[1] - s.original[0]) >= WARN_MIN_S
                and not 1 / (1 + STRETCH_WARN) <= s.stretch <= 1 + STRETCH_WARN]

    def report(self, fps: float) -> dict:
        return {"method": self.method, "reason": self.reason, "dub_seconds": round(self.dub_seconds, 3),
                "original_seconds": round(self.original_seconds, 3),
                "segments": [s.as_dict(fps) for s in self.segments],
                "beyond_25_percent": len(self.out_of_range())}


def reflect(t: np.ndarray, length: float) -> np.ndarray:
    """Times folded into [0, length] as a ball bounces: -1 becomes 1, length + 1 becomes length - 1."""
    if length <= 0:
        return np.zeros_like(t)
    k = np.mod(t, 2 * length)
    return np.where(k <= length, k, 2 * length - k)


def speech_spans(active: np.ndarray, min_pause: float = PAUSE_S) -> list[tuple[float, float]]:
    """Stretches of speech in seconds from voice activity on the 10 ms grid, silences shorter than `min_pause`
    bridged."""
    edges = np.diff(np.r_[0, np.asarray(active, int), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    spans: list[list[float]] = []
    for a, b in zip(starts * FRAME_SECONDS, ends * FRAME_SECONDS, strict=True):
        if spans and a - spans[-1][1] < min_pause:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    return [(a, b) for a, b in spans]


def has_dialogue(spans: list[tuple[float, float]], seconds: float) -> bool:
    spoken = sum(b - a for a, b in spans)
    return spoken >= DIALOGUE_MIN_S and spoken >= DIALOGUE_MIN_SHARE * seconds


def pair_pauses(original: list[tuple[float, float]], dub: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Which pause of the original goes with which of the dub: order kept, matched by their middles' places in
    their lines (0 at the first word, 1 at the last), a pause left unpaired for `SKIP_COST`. Pauses are the gaps
    between consecutive spans; the result indexes them."""
    def places(spans):
        line = spans[-1][1] - spans[0][0]
        return [((spans[i][1] + spans[i + 1][0]) / 2 - spans[0][0]) / line for i in range(len(spans) - 1)]

    po, pd = places(original), places(dub)
    cost = np.zeros((len(po) + 1, len(pd) + 1))
    cost[:, 0] = SKIP_COST * np.arange(len(po) + 1)
    cost[0, :] = SKIP_COST * np.arange(len(pd) + 1)
    for i in range(1, len(po) + 1):
        for j in range(1, len(pd) + 1):
            cost[i, j] = min(cost[i - 1, j - 1] + abs(po[i - 1] - pd[j - 1]), cost[i - 1, j] + SKIP_COST,
                             cost[i, j - 1] + SKIP_COST)
    pairs, i, j = [], len(po), len(pd)
    while i and j:
        if np.isclose(cost[i, j], cost[i - 1, j - 1] + abs(po[i - 1] - pd[j - 1])):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif np.isclose(cost[i, j], cost[i - 1, j] + SKIP_COST):
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def pause_warp(original: list[tuple[float, float]], dub: list[tuple[float, float]], original_seconds: float,
               dub_seconds: float) -> Warp:
    """The warp anchored on the first word, the paired pauses and the last word (see the module notes). A pairing
    that would play a stretch between anchors more than `PAIR_STRETCH_LIMIT` times faster or slower is dropped, the
    one beside the worst stretch first: two pauses at similar places of lines of different shape are not the same
    pause."""
    pairs = pair_pauses(original, dub)
    while True:
        warp = anchored_warp(original, dub, pairs, original_seconds, dub_seconds)
        stretch = np.array([seg.stretch for seg in warp.segments[1:-1]])  # between anchors: lead and tail left out
        badness = np.abs(np.log(np.where(np.isfinite(stretch) & (stretch > 0), stretch, 1e6)))
        if not pairs or badness.max(initial=0) <= np.log(PAIR_STRETCH_LIMIT):
            return warp
        worst = int(np.argmax(badness))  # segment k lies between anchors k and k + 1; anchor 2i + 1 starts pause i
        pairs.pop(min(max((worst - 1) // 2, 0), len(pairs) - 1))


def anchored_warp(original: list[tuple[float, float]], dub: list[tuple[float, float]], pairs: list[tuple[int, int]],
                  original_seconds: float, dub_seconds: float) -> Warp:
    """The warp through the first word, the `pairs` of pauses and the last word."""
    anchors = [(dub[0][0], original[0][0], "speech")]
    for io, jd in pairs:
        anchors.append((dub[jd][1], original[io][1], "pause"))
        anchors.append((dub[jd + 1][0], original[io + 1][0], "speech"))
    anchors.append((dub[-1][1], original[-1][1], "tail"))
    d = np.array([a[0] for a in anchors])
    o = np.array([a[1] for a in anchors])
    lead_from = o[0] - d[0]
    segments = [Segment("lead", (0.0, float(d[0])), (float(lead_from), float(o[0])))]
    segments += [Segment(anchors[k][2], (float(d[k]), float(d[k + 1])), (float(o[k]), float(o[k + 1])))
                 for k in range(len(anchors) - 1)]
    segments.append(Segment("tail", (float(d[-1]), dub_seconds), (float(o[-1]), float(o[-1] + dub_seconds - d[-1]))))
    return Warp("pauses", d, o, tuple(segments), dub_seconds, original_seconds)


def uniform_warp(original_seconds: float, dub_seconds: float, keep_length: bool = False,
                 reason: str = "") -> Warp:
    """A whole shot without dialogue to retime by: stretched onto the dub within `UNIFORM_LIMIT`, else at its own
    speed; with `keep_length`, the shot's own timing."""
    if keep_length:
        end, method = dub_seconds, "keep length"
    elif abs(dub_seconds / original_seconds - 1) <= UNIFORM_LIMIT:
        end, method = original_seconds, "uniform"
    else:
        end, method = dub_seconds, "own speed"
    return Warp(method, np.array([0.0, dub_seconds]), np.array([0.0, end]),
                (Segment("shot", (0.0, dub_seconds), (0.0, end)),), dub_seconds, original_seconds, reason)


def refine_by_time_warping(warp: Warp, original_spectra: np.ndarray, dub_spectra: np.ndarray) -> Warp:
    """`warp` with each paired stretch of speech aligned by dynamic time warping of the two spectra ((T, B) on the
    10 ms grid, each standardised over its file); pauses and the anchors stay where they are."""
    import librosa

    step = round(DTW_STEP_S / FRAME_SECONDS)
    d_knots, o_knots = [warp.dub_knots[0]], [warp.original_knots[0]]
    for seg in warp.segments:
        if seg.kind not in ("speech", "pause", "tail") or seg.dub[0] < warp.dub_knots[0] or \
                seg.dub[1] > warp.dub_knots[-1] + 1e-9:
            continue
        (d0, d1), (o0, o1) = seg.dub, seg.original
        long = max(d1 - d0, o1 - o0) > DTW_MAX_S
        x = dub_spectra[int(d0 / FRAME_SECONDS):int(d1 / FRAME_SECONDS):step]
        y = original_spectra[int(o0 / FRAME_SECONDS):int(o1 / FRAME_SECONDS):step]
        if seg.kind == "pause" or long or len(x) < 4 or len(y) < 4:
            d_knots.append(d1)
            o_knots.append(o1)
            continue
        cost = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2))
        _, path = librosa.sequence.dtw(C=cost, global_constraints=True, band_rad=0.25)
        path = path[::-1]
        where = np.zeros(len(x))
        for i in range(len(x)):
            where[i] = path[path[:, 0] == i, 1].mean()
        where = np.convolve(np.pad(where, 5, mode="edge"), np.ones(11) / 11, mode="valid")  # 0.2 s smoothing
        times_d = d0 + (np.arange(len(x)) + 0.5) * DTW_STEP_S
        times_o = np.maximum.accumulate(np.clip(o0 + (where + 0.5) * DTW_STEP_S, o0, o1))
        keep = np.arange(0, len(x), max(1, round(KNOT_S / DTW_STEP_S)))[1:]
        for k in keep:
            if d_knots[-1] < times_d[k] < d1 and o_knots[-1] <= times_o[k] <= o1:
                d_knots.append(float(times_d[k]))
                o_knots.append(float(times_o[k]))
        d_knots.append(d1)
        o_knots.append(o1)
    return Warp("pauses+dtw", np.array(d_knots), np.array(o_knots), warp.segments, warp.dub_seconds,
                warp.original_seconds)


def plan_warp(original_activity: np.ndarray | None, dub_activity: np.ndarray, original_seconds: float,
              dub_seconds: float, keep_length: bool = False, original_spectra: np.ndarray | None = None,
              dub_spectra: np.ndarray | None = None) -> Warp:
    """The warp for a dub (see the module notes). Activities are voice activity on the 10 ms grid (None: the
    original has no sound); spectra, when both are given, refine it by time warping."""
    if keep_length:
        return uniform_warp(original_seconds, dub_seconds, keep_length=True)
    dub = speech_spans(dub_activity)
    original = speech_spans(original_activity) if original_activity is not None else []
    if not dub or not has_dialogue(original, original_seconds):
        return uniform_warp(original_seconds, dub_seconds, reason="the original has no dialogue to retime by")
    line, spoken = original[-1][1] - original[0][0], dub[-1][1] - dub[0][0]
    if not 1 / PAIR_STRETCH_LIMIT <= spoken / line <= PAIR_STRETCH_LIMIT:
        return uniform_warp(original_seconds, dub_seconds, reason=(
            f"the dub's line ({spoken:.1f} s) and the original's dialogue ({line:.1f} s) differ more than "
            f"{PAIR_STRETCH_LIMIT:g} times in length, so they are not the same line"))
    warp = pause_warp(original, dub, original_seconds, dub_seconds)
    if original_spectra is not None and dub_spectra is not None:
        warp = refine_by_time_warping(warp, original_spectra, dub_spectra)
    return warp


def warn_of(warp: Warp, fps: float) -> None:
    """Warn of what the warp does that a viewer may see."""
    if warp.method == "own speed":
        log.warning("%s, and fitting the shot's %.2f s to the dub's %.2f s would change its speed by more than "
                    "%d %%: it plays at its own speed from its start%s", warp.reason, warp.original_seconds,
                    warp.dub_seconds, round(100 * UNIFORM_LIMIT),
                    " (backwards and forwards again past its end)" if warp.dub_seconds > warp.original_seconds
                    else "")
    beyond = warp.out_of_range()
    if beyond:
        listed = ", ".join(f"{s.kind} at dub frames {round(s.dub[0] * fps)}-{round(s.dub[1] * fps)} x{s.stretch:.2f}"
                           for s in beyond[:4])
        log.warning("%d stretch%s of the original beyond %d %%: %s%s", len(beyond), "es" if len(beyond) > 1 else "",
                    round(100 * STRETCH_WARN), listed, ", ..." if len(beyond) > 4 else "")


def target_frames(warp: Warp, count: int, fps: float, lead: float, frames: int) -> np.ndarray:
    """(count,) for each output frame (shown at (j + 0.5) / fps on the dub's clock), the target frame shown at the
    warped moment on the original's clock (whose first frame is shown `lead` seconds after its start)."""
    moments = warp.original_time((np.arange(count) + 0.5) / fps)
    return np.clip(np.floor((moments - lead) * fps), 0, frames - 1).astype(np.int64)
