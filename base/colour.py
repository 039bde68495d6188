"""What a video's pixel values mean: its colour description (matrix, primaries, transfer function, range).

A YUV video becomes RGB through a matrix; players take it, and the primaries
and transfer function that say which colours the RGB values stand for, from
the stream's tags, and guess where a file says nothing: BT.709 for HD, BT.601
for SD. dvp reads frames as such a player shows them, and writes an output
with its target's own description (the matrix it guessed made explicit), so
that a passed-through frame decodes to the shot's picture wherever the shot
is shown, HDR and SD included. The work itself is done on the RGB values as
they are: an HDR plate's are its PQ or HLG code values, not tone-mapped.
"""
from __future__ import annotations

from dataclasses import dataclass

# ffmpeg's colorspace tags, and the names its scaler knows the matrices by
_MATRICES = {"bt709": "bt709", "bt470bg": "bt470", "smpte170m": "smpte170m", "smpte240m": "smpte240m",
             "fcc": "fcc", "bt2020nc": "bt2020", "bt2020c": "bt2020"}
_PRIMARIES = {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "film", "bt2020", "smpte428", "smpte431",
              "smpte432", "jedec-p22"}
_TRANSFERS = {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "linear", "log100", "log316",
              "iec61966-2-4", "bt1361e", "iec61966-2-1", "bt2020-10", "bt2020-12", "smpte2084", "smpte428",
              "arib-std-b67"}
HDR_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG"}
_PRORES_PRIMARIES = ("bt709", "bt470bg", "smpte170m", "bt2020", "smpte431", "smpte432")


@dataclass(frozen=True)
class Colour:
    """A stream's colour tags as ffmpeg names them; None where the stream says nothing."""

    matrix: str | None = None  # e.g. "bt709", "smpte170m", "bt2020nc"; "gbr" for RGB-coded pictures
    primaries: str | None = None  # e.g. "bt709", "bt2020"
    transfer: str | None = None  # e.g. "bt709", "smpte2084" (PQ), "arib-std-b67" (HLG)
    range: str | None = None  # "tv" (limited) or "pc" (full)

    @classmethod
    def parse(cls, description: str) -> Colour:
        """From the parenthesis after the pixel format in ffmpeg's stream summary, e.g. `tv, bt709/unknown/unknown,
        progressive` or `tv, bt709` (one name when matrix, primaries and transfer agree)."""
        values: dict[str, str | None] = {}
        for token in (part.strip().rstrip(")") for part in description.split(",")):
            if token in ("tv", "pc"):
                values["range"] = token
            elif "/" in token and token.count("/") == 2:
                matrix, primaries, transfer = token.split("/")
                values.update(matrix=matrix, primaries=primaries, transfer=transfer)
            elif token in _MATRICES or token == "gbr":
                values.update(matrix=token, primaries=token, transfer=token)
        return cls(matrix=values.get("matrix") if values.get("matrix") in (*_MATRICES, "gbr") else None,
                   primaries=values.get("primaries") if values.get("primaries") in _PRIMARIES else None,
                   transfer=values.get("transfer") if values.get("transfer") in _TRANSFERS else None,
                   range=values.get("range"))

    def resolved(self, width: int, height: int) -> Colour:
        """The description with a YUV matrix always named: the tagged one, or for a stream that names none (or is
        RGB-coded) what players assume for its size: BT.709 from 1280 wide or 577 lines up, BT.601 below."""
        if self.matrix in _MATRICES:
            return self
        return Colour("bt709" if width >= 1280 or height > 576 else "smpte170m", self.primaries, self.transfer,
                      self.range if self.matrix != "gbr" else None)

    @property
    def scaler_matrix(self) -> str:
        """The matrix by the name ffmpeg's scaler takes (`in_color_matrix`, `out_color_matrix`); BT.709 when none
        is named (call `resolved` first)."""
        return _MATRICES.get(self.matrix or "", "bt709")

    def tags(self) -> str:
        """An ffmpeg `setparams` filter that tags frames with this description (limited range, as written), leaving
        unsaid what it does not say."""
        params = [f"colorspace={self.matrix if self.matrix in _MATRICES else 'bt709'}", "range=tv"]
        if self.primaries:
            params.append(f"color_primaries={self.primaries}")
        if self.transfer:
            params.append(f"color_trc={self.transfer}")
        return "setparams=" + ":".join(params)

    def for_prores(self) -> Colour:
        """The description as a ProRes frame header can hold it: matrices BT.709, BT.601 and BT.2020 (PAL's BT.470BG
        is BT.601's matrix), transfers BT.709 (which ProRes also uses for BT.601 and BT.2020 SDR, the same curve),
        PQ and HLG, and a few primaries. FFmpeg's encoder writes any other value as 0, which reads back as an RGB
        matrix or a reserved transfer that decoders refuse; what has no ProRes code is left unsaid instead."""
        matrix = {"bt470bg": "smpte170m"}.get(self.matrix or "", self.matrix)
        if matrix not in ("bt709", "smpte170m", "bt2020nc"):
            matrix = "bt709"  # converted with it, and tagged so
        transfer = {"smpte170m": "bt709", "bt470bg": "bt709", "bt470m": "bt709", "bt2020-10": "bt709",
                    "bt2020-12": "bt709"}.get(self.transfer or "", self.transfer)
        if transfer not in ("bt709", "smpte2084", "arib-std-b67"):
            transfer = None
        primaries = self.primaries if self.primaries in _PRORES_PRIMARIES else None
        return Colour(matrix, primaries, transfer, self.range)

    @property
    def hdr(self) -> str | None:
        """"PQ" or "HLG" for high-dynamic-range footage, else None."""
        return HDR_TRANSFERS.get(self.transfer or "")

    def label(self) -> str:
        """How reports show it: matrix/primaries/transfer, "unknown" for what the stream does not say."""
        return "/".join(value or "unknown" for value in (self.matrix, self.primaries, self.transfer))


BT709 = Colour("bt709", "bt709", "bt709", "tv")


# How ffmpeg converts between RGB and YUV, both ways. Its default rounds with a bias: an 8-bit frame written to
# H.264 (even lossless) and read back came out 1.1-1.4 levels darker, from ProRes 1.7, and each generation of
# editing an output again added as much. With accurate rounding the round trip is unbiased (within 0.03 of a level
# on average; 0.40 mean absolute difference for lossless H.264, against 1.24). `VideoReader` takes 11.8 ms for a
# 1080p frame instead of 7.0: it asks for planar RGB and interleaves it with OpenCV, as packed RGB with accurate
# rounding costs ffmpeg twice as much. Writing costs what it did, the encoder dominating.
SWS_FLAGS = "accurate_rnd+full_chroma_int"
