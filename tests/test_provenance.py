"""Signed C2PA manifests: embedded in MP4 and MOV, sidecars for PNG sequences, and what tampering looks like."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import c2pa
import numpy as np
import pytest

from base.errors import DvpError
from base.ffmpeg_process import ffmpeg_path
from base.writing import open_output
from pipeline import provenance
from pipeline.provenance import (
    Claim,
    Signing,
    default_signing,
    make_test_pair,
    pictures_hash,
    read_manifest,
    sidecar_path,
    sign_output,
)


@pytest.fixture(scope="module")
def signing(tmp_path_factory) -> Signing:
    return make_test_pair(tmp_path_factory.mktemp("signing"))


def make_video(path: Path, fmt: str, seed: int = 0, frames: int = 10) -> Path:
    """A tiny 64x64 clip of random pictures."""
    rng = np.random.default_rng(seed)
    with open_output(path, fmt, 25, 64, 64) as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    return path


def claim_for(video: Path, job: str = "reenact") -> Claim:
    return Claim(
        title=video.name, job=job, job_id="0a1b2c3d", tool_version="0.1.0",
        actions=[{"action": "c2pa.edited", "description": "face reenacted from source.mp4", "frames": [2, 9]}],
        ingredients=[{"role": "target video", "name": "target.mp4", "sha256": "ab" * 32},
                     {"role": "source video", "name": "source.mp4", "sha256": "cd" * 32},
                     {"role": "model folder", "name": "model", "sha256": "ef" * 32}],
        pictures=pictures_hash(video),
        marks={"visible_label": True, "label_text": "AI-generated", "watermark": True, "label_box": [0, 48, 64, 16]},
    )


def assert_round_trip(reading, claim: Claim) -> None:
    assert reading.claim["job"] == claim.job
    assert reading.claim["job_id"] == claim.job_id
    assert reading.claim["tool_version"] == claim.tool_version
    assert reading.claim["pictures"] == claim.pictures
    assert reading.claim["marks"] == claim.marks  # the number list too (c2pa would mangle it unguarded)
    assert reading.claim["ingredients"] == claim.ingredients
    assert reading.claim["title"] == claim.title
    opened, edited = reading.claim["actions"]
    assert opened["action"] == "c2pa.opened"  # the target video is the parent
    assert edited["action"] == "c2pa.edited"
    assert edited["description"] == claim.actions[0]["description"]
    assert edited["frames"] == [2, 9]
    assert edited["digitalSourceType"].endswith("/compositeWithTrainedAlgorithmicMedia")


def top_level_boxes(data: bytes) -> dict[bytes, tuple[int, int]]:
    """{box type: (offset, size)} of an MP4's top-level boxes (the last of each type)."""
    boxes, offset = {}, 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        boxes[kind] = (offset, size or len(data) - offset)
        offset += size or len(data)
    return boxes


def test_mp4_embedded_round_trip(tmp_path, signing):
    video = make_video(tmp_path / "out.mp4", "mp4")
    claim = claim_for(video)
    assert sign_output(video, claim, signing) == video
    assert not list(tmp_path.glob(".dvp-tmp-*"))
    reading = read_manifest(video)
    assert (reading.found, reading.where, reading.valid, reading.problems) == (True, "embedded", True, [])
    assert reading.state == "Valid"  # intact; not "Trusted": the test CA is on no trust list
    assert reading.signer == "dvp local test (dvp)"
    assert reading.pictures_match is True
    assert_round_trip(reading, claim)
    assert b"uuid" in video.read_bytes()[:64]  # c2pa's box, right after ftyp
    assert pictures_hash(video) == claim.pictures  # embedding leaves the pictures alone


def test_pictures_hash_survives_a_remux_only(tmp_path):
    video = make_video(tmp_path / "a.mp4", "mp4")
    remux, reencode = tmp_path / "a.mov", tmp_path / "b.mp4"
    subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(video), "-c", "copy", str(remux)], check=True)
    subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(video), "-c:v", "libx264", "-crf", "30", str(reencode)],
                   check=True)
    assert pictures_hash(remux) == pictures_hash(video)
    assert pictures_hash(reencode) != pictures_hash(video)


def test_prores_mov_embedded(tmp_path, signing):
    video = make_video(tmp_path / "out.mov", "prores")
    claim = claim_for(video)
    assert sign_output(video, claim, signing) == video  # c2pa takes video/quicktime
    assert not sidecar_path(video).exists()
    reading = read_manifest(video)
    assert (reading.found, reading.where, reading.valid, reading.pictures_match) == (True, "embedded", True, True)
    assert_round_trip(reading, claim)


def test_png_sequence_gets_a_sidecar(tmp_path, signing):
    folder = make_video(tmp_path / "frames", "png")
    claim = claim_for(folder, job="animate")
    claim.actions = [{"action": "c2pa.created", "description": "animated from photo.jpg", "frames": None}]
    claim.ingredients = [{"role": "photo", "name": "photo.jpg", "sha256": "01" * 32}]
    where = sign_output(folder, claim, signing)
    assert where == tmp_path / "frames.c2pa" and where.is_file()
    reading = read_manifest(folder)
    assert (reading.found, reading.where, reading.valid, reading.pictures_match) == (True, "sidecar", True, True)
    [created] = reading.claim["actions"]
    assert created["action"] == "c2pa.created" and created["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert reading.claim["ingredients"] == claim.ingredients
    # any frame changed breaks the binding
    frame = folder / "frame_000003.png"
    shutil.copy(folder / "frame_000004.png", frame)
    changed = read_manifest(folder)
    assert changed.found and not changed.valid and changed.pictures_match is False
    assert any("dataHash.mismatch" in problem for problem in changed.problems)


def test_tampered_manifest_and_media_are_invalid(tmp_path, signing):
    video = make_video(tmp_path / "out.mp4", "mp4")
    sign_output(video, claim_for(video), signing)
    signed = video.read_bytes()

    # a byte of the job id, inside the org.dvp.job assertion of the embedded manifest
    uuid_at, uuid_size = top_level_boxes(signed)[b"uuid"]
    at = signed.find(b"0a1b2c3d", uuid_at, uuid_at + uuid_size)
    assert at > 0
    tampered = tmp_path / "manifest.mp4"
    tampered.write_bytes(signed[:at] + b"9" + signed[at + 1:])
    reading = read_manifest(tampered)
    assert reading.found and reading.where == "embedded" and not reading.valid
    assert any(problem.startswith("assertion.hashedURI.mismatch: a statement in the manifest was changed")
               for problem in reading.problems)

    # a byte of the coded pictures
    mdat_at, mdat_size = top_level_boxes(signed)[b"mdat"]
    at = mdat_at + mdat_size // 2
    media = tmp_path / "media.mp4"
    media.write_bytes(signed[:at] + bytes([signed[at] ^ 0xFF]) + signed[at + 1:])
    reading = read_manifest(media)
    assert reading.found and not reading.valid
    assert any("bmffHash.mismatch" in problem for problem in reading.problems)


def test_sidecar_of_another_video_is_invalid(tmp_path, signing):
    a = make_video(tmp_path / "a", "png", seed=1)
    b = make_video(tmp_path / "b", "png", seed=2)
    sidecar = sign_output(a, claim_for(a), signing)
    reading = read_manifest(b, sidecar=sidecar)
    assert reading.found and reading.where == "sidecar" and not reading.valid
    assert reading.pictures_match is False
    assert any("another file" in problem for problem in reading.problems)


def test_refused_container_falls_back_to_a_sidecar(tmp_path, signing, monkeypatch):
    def refuse(*args, **kwargs):
        raise c2pa.C2paError.NotSupported("not this container")

    a = make_video(tmp_path / "a.mp4", "mp4", seed=1)
    b = make_video(tmp_path / "b.mp4", "mp4", seed=2)
    unsigned = a.read_bytes()
    monkeypatch.setattr(provenance, "_embed", refuse)
    where = sign_output(a, claim_for(a), signing)
    assert where == tmp_path / "a.mp4.c2pa" and a.read_bytes() == unsigned
    reading = read_manifest(a)
    assert (reading.where, reading.valid, reading.pictures_match) == ("sidecar", True, True)
    other = read_manifest(b, sidecar=where)
    assert other.found and not other.valid and other.pictures_match is False


def test_unsigned_video_has_no_manifest(tmp_path):
    video = make_video(tmp_path / "plain.mp4", "mp4", frames=3)
    reading = read_manifest(video)
    assert (reading.found, reading.where, reading.valid, reading.claim, reading.pictures_match) == \
        (False, None, False, None, None)
    with pytest.raises(DvpError, match="no such sidecar"):
        read_manifest(video, sidecar=tmp_path / "missing.c2pa")


def test_make_test_pair_refuses_to_overwrite(tmp_path):
    pair = make_test_pair(tmp_path)
    key, cert = pair.key.read_bytes(), pair.cert.read_bytes()
    assert cert.count(b"BEGIN CERTIFICATE") == 2  # leaf, then the test CA
    with pytest.raises(DvpError, match="already exist"):
        make_test_pair(tmp_path)
    pair.cert.unlink()
    with pytest.raises(DvpError, match="already exist"):  # either file alone is enough to refuse
        make_test_pair(tmp_path)
    assert pair.key.read_bytes() == key


def test_default_signing(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("DVP_SIGNING_KEY", raising=False)
    monkeypatch.delenv("DVP_SIGNING_CERT", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda name: str(tmp_path / "data" / name))
    pair = default_signing()
    assert pair.key == tmp_path / "data" / "dvp" / "signing" / "key.pem" and pair.cert.is_file()
    key = pair.key.read_bytes()
    assert default_signing() == pair and pair.key.read_bytes() == key  # made once, then reused

    monkeypatch.setenv("DVP_SIGNING_KEY", str(tmp_path / "studio.key"))
    with pytest.raises(DvpError, match="DVP_SIGNING_CERT"):
        default_signing()
    monkeypatch.setenv("DVP_SIGNING_CERT", str(tmp_path / "studio.pem"))
    assert default_signing() == Signing(tmp_path / "studio.key", tmp_path / "studio.pem")


def test_wrong_credentials_say_which_file(tmp_path, signing):
    video = make_video(tmp_path / "out.mp4", "mp4", frames=3)
    other = make_test_pair(tmp_path / "other")
    with pytest.raises(DvpError, match="is not the key of the first certificate"):
        sign_output(video, claim_for(video), Signing(other.key, signing.cert))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(DvpError, match="garbage.pem: is not an unencrypted PEM private key"):
        sign_output(video, claim_for(video), Signing(garbage, signing.cert))
    assert not read_manifest(video).found  # nothing was written
