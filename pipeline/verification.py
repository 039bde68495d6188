"""`dvp verify`: was a video made or changed by dvp, by which job, and is it still what was signed?

Two independent witnesses, since either can be lost on its own:

- the invisible watermark in the pictures (`pipeline.watermark`), which survives
  re-encoding, resizing, cropping and cuts, and names the job and dvp's version;
- the signed C2PA manifest (`pipeline.provenance`), embedded or a sidecar, which
  says what was done from which inputs, and whether the file, and its decoded
  pictures, are still those it was signed for. Any re-encoding loses it.
"""
from __future__ import annotations

import time
from pathlib import Path

from base.errors import DvpError
from base.progress import progress
from base.reading import VideoReader
from pipeline.provenance import read_manifest
from pipeline.watermark import Accumulator, Detection, detect


def read_watermark(video: Path, show_progress: bool = True) -> Detection:
    """The watermark of `video` (a file or a PNG-sequence folder), read from all its frames at their stored
    pixels, as they were marked."""
    accumulator = Accumulator()
    with VideoReader(video, stored=True, woven=True) as reader:
        for frame in progress(reader, reader.frame_count, "verify", show_progress):
            accumulator.add(frame)
    if accumulator.total is None:
        raise DvpError(f"{video}: no frames could be read; give a video with pictures")
    return detect(accumulator.total, accumulator.frames)


def verify(video: str | Path, manifest: str | Path | None = None, show_progress: bool = True) -> dict:
    """What `video` carries: its watermark, its manifest (embedded, `manifest`, or `<video>.c2pa`), and whether
    they agree with each other and with the pictures; `verdict` says it in a sentence, `ok` whether nothing
    contradicts a dvp output intact since signing."""
    video = Path(video)
    if not video.exists():
        raise DvpError(f"{video} does not exist; give the video (or PNG-sequence folder) to check")
    started = time.perf_counter()
    mark = read_watermark(video, show_progress)
    reading = read_manifest(video, Path(manifest) if manifest is not None else None)
    claim = reading.claim or {}
    result = {"video": str(video), "watermark": mark.report(),
              "manifest": {"found": reading.found, "where": reading.where, "valid": reading.valid,
                           "state": reading.state, "signer": reading.signer, "problems": reading.problems,
                           "pictures_match": reading.pictures_match, "job": claim.get("job"),
                           "job_id": claim.get("job_id"), "tool_version": claim.get("tool_version"),
                           "marks": claim.get("marks"), "actions": claim.get("actions"),
                           "ingredients": claim.get("ingredients")}}
    agree = None
    if mark.found and reading.found and claim.get("job_id"):
        agree = mark.payload.job_hex == claim["job_id"]
    result["watermark_matches_manifest"] = agree
    result["verdict"], result["ok"] = _verdict(mark, reading, agree)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _verdict(mark: Detection, reading, agree: bool | None) -> tuple[str, bool]:
    said = []
    if mark.found:
        said.append(f"watermarked by dvp {'.'.join(map(str, mark.payload.version))} (job {mark.payload.job_hex}, "
                    f"confidence {mark.agreement:.2f})")
    else:
        said.append("no dvp watermark found")
    if not reading.found:
        said.append("no C2PA manifest")
    elif reading.valid and reading.pictures_match is not False:
        said.append(f"C2PA manifest intact ({reading.state}, signed by {reading.signer})"
                    + (", pictures match it" if reading.pictures_match else ""))
    else:
        said.append("C2PA manifest does NOT match: " + ("; ".join(reading.problems) or "the pictures differ"))
    if agree is False:
        said.append("the watermark's job differs from the manifest's")
    ok = (mark.found or (reading.found and reading.valid)) and not (reading.found and not reading.valid) \
        and reading.pictures_match is not False and agree is not False
    return "; ".join(said), bool(ok)
