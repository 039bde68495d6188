"""Every output marked and checkable: the visible label, the invisible watermark against each attack, the signed
manifest, and `dvp verify` on marked, unmarked, tampered and mismatched videos."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from base.errors import DvpError
from base.ffmpeg_process import ffmpeg_path
from base.reading import VideoReader
from base.writing import VideoWriter
from pipeline import watermark as wm
from pipeline.label import Label, LabelStamp
from pipeline.marking import MarkOptions
from pipeline.verification import read_watermark, verify

PAYLOAD = wm.Payload.of("c0ffee42", "0.1.0")


def _textured(rng: np.random.Generator, h: int = 288, w: int = 352) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.2)
    grey = 60 + 140 * (noise - noise.min()) / (noise.max() - noise.min())
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def test_payload_survives_coding_with_coded_bits_flipped():
    rng = np.random.default_rng(1)
    coded = 2.0 * wm.encode(PAYLOAD) - 1
    flipped = coded.copy()
    flipped[rng.choice(len(coded), len(coded) // 20, replace=False)] *= -1
    soft = flipped * rng.uniform(0.2, 1.0, len(coded))
    bits, agreement = wm.decode(soft)
    assert wm.crc_ok(bits) and wm.Payload.of_bits(bits[:wm.PAYLOAD_BITS]) == PAYLOAD
    assert 0.93 <= agreement <= 0.97
    assert not wm.crc_ok(wm.decode(rng.normal(size=len(coded)))[0])  # noise decodes to a path the CRC refuses


def test_mark_costs_under_the_psnr_bound_and_reads_back_on_synthetic_frames():
    rng = np.random.default_rng(2)
    marker, accumulator = wm.Marker(PAYLOAD, 352, 288), wm.Accumulator()
    for _ in range(12):
        frame = _textured(rng)
        marked = marker.mark(frame)
        error = np.mean((marked.astype(np.float64) - frame) ** 2)
        assert 10 * np.log10(255 ** 2 / error) >= 40
        accumulator.add(marked)
    found = wm.detect(accumulator.total, accumulator.frames)
    assert found.found and found.payload == PAYLOAD and found.agreement > 0.95


def test_flat_grey_gets_a_faint_mark_and_deep_frames_the_same_mark():
    grey = np.full((256, 256, 3), 128, np.uint8)
    marked = wm.Marker(PAYLOAD, 256, 256).mark(grey).astype(np.float64)
    assert np.sqrt(np.mean((marked - 128) ** 2)) <= wm.FLAT_SHARE * wm.STRENGTH + 0.3
    deep = wm.Marker(PAYLOAD, 256, 256).mark(np.full((256, 256, 3), 128 * 257, np.uint16))
    assert deep.dtype == np.uint16
    assert np.abs(deep / 257.0 - marked).max() <= 1.0


def test_unmarked_pictures_give_no_payload():
    rng = np.random.default_rng(3)
    accumulator = wm.Accumulator()
    for _ in range(12):
        accumulator.add(_textured(rng))
    found = wm.detect(accumulator.total, accumulator.frames)
    assert not found.found and found.payload is None and found.sync < wm.SYNC_THRESHOLD + 1


def test_label_sits_in_its_corner_and_bad_settings_are_refused():
    frame = np.full((240, 320, 3), 40, np.uint8)
    stamped = LabelStamp(Label(corner="top-left"), 320, 240).stamp(frame.copy())
    changed = np.argwhere(np.any(stamped != frame, axis=2))
    assert changed[:, 0].max() < 60 and changed[:, 1].max() < 200  # only the top-left corner
    assert stamped.max() > 150  # white text
    for bad in (Label(corner="middle"), Label(size=0.5), Label(opacity=0), Label(text=" ")):
        with pytest.raises(DvpError):
            bad.check()
    with pytest.raises(DvpError, match="together"):
        MarkOptions(signing_key=Path("key.pem")).check()


ATTACKS = {
    "H.264 CRF 28": ["-crf", "28"],
    "downscale 50 %": ["-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2", "-crf", "18"],
    "crop 10 % each border": ["-vf", "crop=trunc(iw*0.4)*2:trunc(ih*0.4)*2", "-crf", "18"],
    "brightness +10 %": ["-vf", "lutrgb=r=val*1.1:g=val*1.1:b=val*1.1", "-crf", "18"],
    "brightness -10 %": ["-vf", "lutrgb=r=val*0.9:g=val*0.9:b=val*0.9", "-crf", "18"],
    "2-s cut": ["-ss", "0.6", "-t", "2", "-crf", "18"],
}


@pytest.fixture(scope="module")
def marked_clip(footage, tmp_path_factory) -> Path:
    """lp_d0.mp4 marked as a job's output is."""
    out = tmp_path_factory.mktemp("marked") / "marked.mp4"
    reader = VideoReader(footage / "lp_d0.mp4")
    marker = wm.Marker(PAYLOAD, reader.width, reader.height)
    with reader, VideoWriter(out, reader.fps, reader.width, reader.height) as writer:
        for frame in reader:
            writer.write(marker.mark(frame))
    return out


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_mark_survives_each_attack(marked_clip, attack, tmp_path):
    attacked = tmp_path / "attacked.mp4"
    args = ATTACKS[attack]
    cut = args[:4] if args[0] == "-ss" else []
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", *cut, "-i", str(marked_clip), *args[len(cut):],
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(attacked)], check=True)
    found = read_watermark(attacked, show_progress=False)
    assert found.found, f"{attack}: sync {found.sync:.1f}, agreement {found.agreement:.2f}"
    assert found.payload == PAYLOAD


@pytest.fixture(scope="module")
def animated(tmp_path_factory) -> Path:
    """A short dvp animate output: labelled, watermarked, signed."""
    from skimage.data import astronaut

    from pipeline.animation import AnimateOptions, animate

    folder = tmp_path_factory.mktemp("animated")
    cv2.imwrite(str(folder / "astronaut.png"), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    report = animate(folder / "astronaut.png", folder / "nod.mp4", ["nod"],
                     options=AnimateOptions(seconds=1.6, show_progress=False))
    assert report["marks"]["manifest"] == "embedded" and report["marks"]["visible_label"]
    return folder / "nod.mp4"


def test_verify_reads_back_a_job_output(animated):
    result = verify(animated, show_progress=False)
    assert result["ok"] and result["watermark"]["found"] and result["watermark_matches_manifest"]
    manifest = result["manifest"]
    assert manifest["valid"] and manifest["pictures_match"] and manifest["job"] == "animate"
    assert manifest["marks"]["visible_label"] is True
    assert {i["role"] for i in manifest["ingredients"]} == {"photo"}
    assert any(a["action"] == "c2pa.edited" and a["frames"] == [0, 40] for a in manifest["actions"])


def test_tampered_pictures_fail_verification(animated, tmp_path):
    tampered = tmp_path / "tampered.mp4"
    data = bytearray(animated.read_bytes())
    mdat = data.rfind(b"mdat")
    data[mdat + 5000] ^= 0xFF  # one byte of the coded pictures
    tampered.write_bytes(bytes(data))
    result = verify(tampered, show_progress=False)
    assert result["manifest"]["found"] and not result["manifest"]["valid"]
    assert not result["ok"] and "does NOT match" in result["verdict"]


def test_a_tampered_manifest_fails_verification(animated, tmp_path):
    tampered = tmp_path / "tampered.mp4"
    data = bytearray(animated.read_bytes())
    said = data.find(b"the photo astronaut.png animated")  # an action's description, inside the signed manifest
    assert said > 0
    data[said + 4:said + 9] = b"PHOTO"
    tampered.write_bytes(bytes(data))
    result = verify(tampered, show_progress=False)
    assert result["manifest"]["found"] and not result["manifest"]["valid"] and result["manifest"]["problems"]
    assert not result["ok"] and result["watermark"]["found"], "the pictures' own mark still names the job"


def test_another_videos_manifest_does_not_match(animated, footage, tmp_path):
    from pipeline.provenance import Claim, default_signing, pictures_hash, sidecar_path, sign_output

    copy = tmp_path / "animated.bin"  # a container c2pa cannot embed in: the manifest goes to a sidecar
    shutil.copy(animated, copy)
    claim = Claim(copy.name, "animate", "0badc0de", "0.1.0", [], [{"role": "photo", "name": "a.png", "sha256": "00"}],
                  pictures_hash(animated), {"watermark": False})
    assert sign_output(copy, claim, default_signing()) == sidecar_path(copy)
    assert verify(copy, show_progress=False)["manifest"]["valid"]
    result = verify(footage / "lp_d0.mp4", sidecar_path(copy), show_progress=False)
    assert result["manifest"]["found"] and not result["manifest"]["valid"]
    assert result["manifest"]["pictures_match"] is False and not result["ok"]
    assert "does NOT match" in result["verdict"]


def test_unmarked_video_is_reported_unmarked_and_exits_1(footage, tmp_path):
    run = subprocess.run([sys.executable, "-m", "pipeline.cli", "verify", str(footage / "lp_d0.mp4"), "-q",
                          "--report", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    summary = json.loads(run.stdout)
    assert not summary["watermark"]["found"] and not summary["manifest"]["found"] and not summary["ok"]
    assert "no dvp watermark found" in run.stderr
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == summary["verdict"]


def test_no_visible_mark_is_recorded(tmp_path):
    from skimage.data import astronaut

    from pipeline.animation import AnimateOptions, animate

    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    animate(tmp_path / "a.png", tmp_path / "plain.mp4", ["blink"],
            options=AnimateOptions(seconds=0.4, show_progress=False, marks=MarkOptions(visible=False)))
    result = verify(tmp_path / "plain.mp4", show_progress=False)
    assert result["manifest"]["marks"]["visible_label"] is False
    assert any("no visible label" in (a["description"] or "") for a in result["manifest"]["actions"])
    assert result["watermark"]["found"] and result["ok"]


def test_signing_pair_command(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pipeline.cli", "signing-pair", str(tmp_path / "pair")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "pair" / "key.pem").is_file() and (tmp_path / "pair" / "cert.pem").is_file()
    again = subprocess.run([sys.executable, "-m", "pipeline.cli", "signing-pair", str(tmp_path / "pair")],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "already exist" in again.stderr


def test_a_job_files_mark_options_are_taken_out_of_its_options(tmp_path):
    settings = {"visible_mark": False, "mark_text": "SYNTHETIC", "mark_corner": "top-left", "job_id": "00c0ffee",
                "signing_key": str(tmp_path / "k.pem"), "signing_cert": str(tmp_path / "c.pem"), "verify": True}
    options = MarkOptions.of_settings(settings)
    assert settings == {"verify": True}, "what the job's own options take is left"
    assert not options.visible and options.label.text == "SYNTHETIC" and options.label.corner == "top-left"
    assert options.job_id == "00c0ffee" and options.signing_key == tmp_path / "k.pem"
    with pytest.raises(DvpError, match="does not exist"):
        options.check()
    with pytest.raises(DvpError, match="8 hexadecimal digits"):
        MarkOptions(job_id="shot-12").check()
