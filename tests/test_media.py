"""Probing, reading and writing video, on tiny synthetic clips and on the real footage."""
from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest
from clips import FFMPEG, ffmpeg, ffmpeg_report, make_clip

from base.errors import MediaError
from base.probe import AudioStream, probe, probe_audio
from base.reading import VideoReader, read_frames
from base.writing import Codec, ImageSequenceWriter, VideoWriter


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def no_child_processes() -> bool:
    return not psutil.Process().children(recursive=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, 64x48, 25 fps, with mono AAC audio and a start timecode."""
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", "-timecode", "01:02:03:04", seconds=2, audio=True)


# --- probe ---------------------------------------------------------------


def test_probe_reports_the_stream(clip: Path) -> None:
    info = probe(clip)
    assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 64, 48)
    assert (info.fps, info.frame_count, info.duration) == (25, 50, pytest.approx(2.0))
    assert (info.sar, info.rotation, info.variable_frame_rate) == (1, 0, False)
    # AAC decodes to 32-bit float samples
    assert info.audio == (AudioStream(index=1, codec="aac", sample_rate=16000, channels=1, bits=32),)
    assert info.timecode == "01:02:03:04"
    assert (info.display_width, info.display_height) == (64, 48)


def test_ntsc_rate_is_exact(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "ntsc.mp4", rate="30000/1001", seconds=0.5))
    assert info.fps == Fraction(30000, 1001)
    assert not info.variable_frame_rate


def test_non_square_pixels_are_resampled_to_square(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "sar.mp4", "-vf", "setsar=15/16", seconds=0.4)
    info = probe(path)
    assert info.sar == Fraction(15, 16)
    assert (info.display_width, info.display_height) == (60, 48)
    frames = list(read_frames(path))
    assert len(frames) == 10
    assert all(frame.shape == (48, 60, 3) for frame in frames)


def test_rotation_metadata_is_honoured(tmp_path: Path) -> None:
    plain = make_clip(tmp_path / "plain.mp4", size="64x32", seconds=0.2)
    turned = tmp_path / "turned.mp4"
    # 90 degrees counter-clockwise for display, which is 270 clockwise.
    ffmpeg("-display_rotation", "90", "-i", plain, "-c", "copy", turned)
    info = probe(turned)
    assert info.rotation == 270
    assert (info.display_width, info.display_height) == (32, 64)
    with VideoReader(turned) as reader:
        assert (reader.width, reader.height) == (32, 64)
        frames = list(reader)
    for upright, shown in zip(read_frames(plain), frames, strict=True):
        assert shown.shape == (64, 32, 3)
        assert psnr(np.rot90(upright), shown) > 30


# --- reading -------------------------------------------------------------


def test_variable_frame_rate_comes_out_constant(tmp_path: Path) -> None:
    # Frame k is k shades brighter than frame 0. Frames 0-24 come at 25 fps, then
    # 25-49 at 12.5 fps: 2.96 s in all, so 74 frames at a constant 25 fps.
    # setpts truncates, so round: 29/25/TB would come out as 28.999 and then 28.
    shade_and_slow_down = "geq=lum=16+N*4:cb=128:cr=128,setpts='round(if(lt(N,25),N,2*N-25)/25/TB)'"
    path = make_clip(tmp_path / "vfr.mp4", "-vf", shade_and_slow_down, "-fps_mode", "vfr", "-bf", "0",
                     seconds=2, source="color")
    info = probe(path)
    assert info.variable_frame_rate
    assert (info.fps, info.frame_count) == (25, 50)
    with VideoReader(path) as reader:
        brightness = [round(float(frame.mean())) for frame in reader]
    assert len(brightness) == reader.frame_count == 74
    shades = sorted(set(brightness))
    assert len(shades) == 50
    # The slow half is shown twice as long: each of its frames comes twice.
    assert [shades.index(b) for b in brightness] == [i if i < 25 else (i + 25) // 2 for i in range(74)]


def test_a_variable_rate_clip_is_as_long_as_its_timestamps_say(tmp_path: Path) -> None:
    # 25 frames at 25 fps, then 4 frames held 0.4 s each, as a phone writes a pause, and a last one: 2.64 s, so
    # 66 frames at 25 fps. The average rate ffmpeg reports would make it 2.7 s.
    hold = "geq=lum=16+N*6:cb=128:cr=128,setpts='round(if(lt(N,25),N,25+10*(N-25))/25/TB)'"
    path = make_clip(tmp_path / "pause.mp4", "-vf", hold, "-frames:v", "30", "-fps_mode", "vfr", "-bf", "0",
                     seconds=2, source="color")
    info = probe(path)
    assert info.frame_count == 30 and info.duration == pytest.approx(2.64)
    with VideoReader(path) as reader:
        assert len(list(reader)) == reader.frame_count == 66


def test_frames_an_edit_list_cuts_away_are_not_counted(tmp_path: Path) -> None:
    # A clip cut without re-encoding starts at the keyframe before the cut: the frames before it are in the file,
    # with times before its start, and no player shows them. Counting them made a phone clip's track 3 frames
    # short of what the reader expected, and refused.
    whole = make_clip(tmp_path / "whole.mp4", "-g", "50", seconds=3)
    cut = tmp_path / "cut.mp4"
    ffmpeg("-ss", "0.5", "-i", whole, "-t", "1.8", "-c", "copy", cut)
    info = probe(cut)
    with VideoReader(cut) as reader:
        shown = len(list(reader))
        assert shown == reader.frame_count
    assert info.lead >= 0 and info.frame_count <= shown < 60


def test_an_mpeg_program_stream_is_read_at_its_frame_rate(tmp_path: Path) -> None:
    # MPEG-1 in MPEG-PS: ffmpeg reports tbr 50 for 25 fps video; read at 50, every frame came twice.
    path = make_clip(tmp_path / "old.mpg", "-c:v", "mpeg1video", "-f", "mpeg", seconds=2)
    info = probe(path)
    assert info.fps == 25 and info.frame_count == 50
    with VideoReader(path) as reader:
        frames = list(reader)
    assert len(frames) == reader.frame_count == 50
    repeats = sum(np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    assert repeats <= 1, "read at 50 fps every frame came twice (ffmpeg's guessed MPEG-PS times may repeat one)"


def test_a_video_that_starts_after_its_audio_is_read_from_the_file_start(tmp_path: Path) -> None:
    # ffmpeg's clock starts with the earliest stream; the first picture is shown from there.
    clip = make_clip(tmp_path / "clip.mp4", seconds=1, audio=True)
    late = tmp_path / "late.mp4"
    ffmpeg("-itsoffset", "0.2", "-i", clip, "-i", clip, "-map", "0:v", "-map", "1:a", "-c", "copy", late)
    info = probe(late)
    assert info.lead == pytest.approx(0.2, abs=0.01)
    with VideoReader(late) as reader:
        assert len(list(reader)) == reader.frame_count == 30


def test_reader_resamples_rate_and_stops_at_max_frames(clip: Path) -> None:
    assert sum(1 for _ in read_frames(clip, fps=10)) == VideoReader(clip, fps=10).frame_count == 20
    with VideoReader(clip, max_frames=7) as reader:
        assert reader.frame_count == 7
        assert len(list(reader)) == 7
    assert no_child_processes()


def test_breaking_out_stops_ffmpeg(clip: Path) -> None:
    with VideoReader(clip) as reader:
        for _ in reader:
            break
    assert no_child_processes()


def test_decode_failure_names_the_frame(tmp_path: Path) -> None:
    # A file cut short is refused when probed (see BAD_INPUTS); one cut while a job reads it (a copy still
    # arriving on a network drive) runs out part-way. With the index at the front the header survives the cut.
    cut = make_clip(tmp_path / "cut.mp4", "-movflags", "+faststart", size="128x96", seconds=4)
    reader = VideoReader(cut)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    delivered = 0
    failed = r"cut\.mp4: decoding failed at frame \d+ of \d+ .*first \d+ frames decode"
    with pytest.raises(MediaError, match=failed) as failure:
        for _ in reader:
            delivered += 1
    assert 0 < delivered < 100
    assert f"at frame {delivered} of" in str(failure.value)
    assert no_child_processes()


def damaged_copy(clean: Path, hit: Path, packet: int) -> Path:
    """`clean` with random bytes of one video packet changed, in a way ffmpeg notices when it decodes the copy.
    Which bytes the noise filter changes depends on the ffmpeg release, and a light hit can decode without a word
    (wrong pictures, no complaint: damage no reader can see), so the hit is made heavier until ffmpeg complains."""
    for every in (20, 10, 6, 4, 3, 2):  # one byte in `every` changed
        ffmpeg("-i", clean, "-c", "copy", "-bsf:v", rf"noise=amount=if(eq(n\,{packet})\,{every}\,0)", hit)
        decoded = subprocess.run([FFMPEG, "-v", "error", "-nostdin", "-i", str(hit),
                                  "-f", "null", "-"], capture_output=True, text=True)
        if decoded.stderr.strip():
            return hit
    raise AssertionError(f"ffmpeg decodes every damaged copy of {clean} without complaint")


def test_damage_the_decoder_patches_over_is_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Bit rot in the middle of a delivered file: ffmpeg conceals it and delivers every frame, so nothing fails,
    # but the frames from there show smears. The reader says so, once per file, from about where it began.
    clean = make_clip(tmp_path / "clean.mp4", "-g", "25", size="160x120", seconds=4)
    hit = damaged_copy(clean, tmp_path / "hit.mp4", packet=60)
    with caplog.at_level("WARNING", logger="dvp"):
        intact = list(VideoReader(clean))
        assert not caplog.records
        damaged = list(VideoReader(hit))
        list(VideoReader(hit))
    assert len(damaged) == len(intact) == 100
    first_bad = next(i for i, (a, b) in enumerate(zip(intact, damaged)) if np.abs(a.astype(int) - b).mean() > 0.5)
    (warning,) = [r.getMessage() for r in caplog.records]
    found = re.search(r"hit\.mp4: damaged data at or shortly after frame (\d+) \(.*patched over", warning)
    assert found and int(found[1]) <= first_bad, warning


def test_a_damaged_picture_in_a_sequence_is_named(tmp_path: Path) -> None:
    # A frame file cut short in a delivered sequence: ffmpeg decodes the top of it, or repeats the frame before,
    # without failing. The reader refuses the sequence, naming the file, whatever rate it is read at.
    import cv2

    folder = tmp_path / "plate"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(30):
        cv2.imwrite(str(folder / f"shot.{1001 + i:04d}.png"), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    (folder / "sequence.json").write_text('{"fps": 24, "pattern": "shot.%04d.png"}')
    assert len(list(VideoReader(folder))) == 30
    bad = folder / "shot.1017.png"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    for fps in (None, 12):
        with pytest.raises(MediaError, match=r"shot\.1017\.png: frame 16 of the image sequence .*plate is damaged"):
            list(VideoReader(folder, fps=fps))
    assert no_child_processes()
    bad.write_bytes(b"")  # an empty file: ffmpeg would end the sequence there without a word
    from base import probe as probing

    probing._KNOWN.clear()  # probe remembers a folder until it or its sequence.json changes; here a frame did
    with pytest.raises(MediaError, match=r"shot\.1017\.png: frame 16 of the image sequence .*empty file"):
        probe(folder)


# --- writing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "suffix", "pix_fmt"), [("h264", ".mp4", "yuv420p"), ("prores", ".mov", "yuv422p10le")]
)
def test_round_trip_keeps_the_pixels(tmp_path: Path, codec: Codec, suffix: str, pix_fmt: str) -> None:
    frames = list(read_frames(make_clip(tmp_path / "src.mp4", "-crf", "0", size="128x96", seconds=0.4)))
    out = tmp_path / f"out{suffix}"
    with VideoWriter(out, fps=25, width=128, height=96, codec=codec) as writer:
        for frame in frames:
            writer.write(frame)
    info = probe(out)
    assert (info.codec, info.pix_fmt, info.fps, info.frame_count) == (codec, pix_fmt, 25, len(frames))
    if codec == "prores":
        report = ffmpeg_report("-i", out)
        assert "prores (HQ) (apch" in report, "ProRes 422 HQ"
    for original, copy in zip(frames, read_frames(out), strict=True):
        assert psnr(original, copy) > 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out" + suffix, "src.mp4"]


@pytest.mark.parametrize(("codec", "suffix", "crf"), [("h264", ".mp4", 0), ("prores", ".mov", 18)])
def test_writing_and_reading_back_shifts_no_colour(tmp_path: Path, codec: Codec, suffix: str, crf: int) -> None:
    # Each generation of editing an output again must not drift: with ffmpeg's default conversions an 8-bit frame
    # came back 1.1-1.7 levels darker from lossless H.264 and from ProRes. (Colours kept off the gamut's edges,
    # where subsampled chroma clips and shifts the mean whatever the rounding.)
    frames = list(read_frames(make_clip(tmp_path / "src.mp4", "-crf", "0", "-vf", "eq=saturation=0.5",
                                        size="128x96", seconds=0.2)))
    out = tmp_path / f"out{suffix}"
    with VideoWriter(out, fps=25, width=128, height=96, codec=codec, crf=crf) as writer:
        for frame in frames:
            writer.write(frame)
    back = np.stack(list(read_frames(out))).astype(np.float64)
    shift = (np.stack(frames) - back).reshape(-1, 3).mean(0)
    assert np.abs(shift).max() < 0.4, f"mean colour shift per channel {shift}"


def test_odd_sizes_are_padded_to_even(tmp_path: Path) -> None:
    frame = np.full((33, 63, 3), 200, np.uint8)
    with VideoWriter(tmp_path / "odd.mp4", fps=25, width=63, height=33) as writer:
        writer.write(frame)
    (shown,) = read_frames(tmp_path / "odd.mp4")
    assert shown.shape == (34, 64, 3)
    assert psnr(frame, shown[:33, :63]) > 30


@pytest.mark.parametrize(
    ("codec", "suffix", "audio_codec"), [("h264", ".mp4", "aac"), ("prores", ".mov", "pcm_s16le")]
)
def test_audio_and_timecode_are_muxed(tmp_path: Path, clip: Path, codec: Codec, suffix: str, audio_codec: str) -> None:
    out = tmp_path / f"dub{suffix}"
    with VideoWriter(out, 25, 64, 48, codec=codec, audio=clip, timecode="10:00:00:00") as writer:
        for frame in read_frames(clip, max_frames=10):
            writer.write(frame)
    info = probe(out)
    assert [(a.codec, a.sample_rate) for a in info.audio] == [(audio_codec, 16000)]
    assert info.timecode == "10:00:00:00"
    assert info.frame_count == 10
    # The 2 s of audio are cut to the 0.4 s of video.
    report = ffmpeg_report("-i", out)
    assert re.search(r"Duration: 00:00:00\.4\d", report)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize(("sound", "pcm"), [("pcm_s24le", "pcm_s24le"), ("flac", "pcm_s24le"),
                                           ("pcm_s16le", "pcm_s16le")])
def test_deep_sound_keeps_its_depth_in_prores_and_sequences(tmp_path: Path, clip: Path, sound: str, pcm: str) -> None:
    # A dub delivered as 24-bit audio comes out 24-bit in a ProRes MOV or beside a PNG sequence, sample for sample.
    wav = tmp_path / ("dub.flac" if sound == "flac" else "dub.wav")
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=1:sample_rate=48000,volume=0.3", "-c:a", sound,
           *(["-sample_fmt", "s32"] if sound == "flac" else []), wav)
    frames = list(read_frames(clip, max_frames=10))
    with VideoWriter(tmp_path / "dub.mov", 25, 64, 48, codec="prores", audio=wav) as writer, \
            ImageSequenceWriter(tmp_path / "dub", 64, 48, 25, audio=wav) as sequence:
        for frame in frames:
            writer.write(frame)
            sequence.write(frame)

    def samples(path: Path) -> np.ndarray:
        raw = subprocess.run([FFMPEG, "-v", "error", "-i", path, "-map", "0:a:0", "-f",
                              "s32le", "-"], capture_output=True, check=True).stdout
        return np.frombuffer(raw, "<i4")

    original = samples(wav)[:int(0.4 * 48000)]
    for made in (tmp_path / "dub.mov", tmp_path / "dub" / "audio.wav"):
        assert [a.codec for a in probe_audio(made)] == [pcm]
        assert np.array_equal(samples(made), original)


def test_every_audio_stream_is_carried(tmp_path: Path, clip: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A broadcast file's mix as two mono tracks (24-bit) and a 16-bit stereo guide: a MOV keeps all three, each at
    # its depth, and an MP4 all three as AAC; a PNG sequence's audio.wav can hold one, and the job says so.
    from pipeline.soundtrack import choose_audio

    tracks = tmp_path / "tracks.mov"
    tones = [("-f", "lavfi", "-i", f"sine=f={f}:d=1:sample_rate=48000") for f in (300, 500)]
    ffmpeg(*tones[0], *tones[1], "-f", "lavfi", "-i", "sine=f=700:d=1:sample_rate=48000,aformat=channel_layouts=stereo",
           "-map", "0", "-map", "1", "-map", "2", "-c:a:0", "pcm_s24le", "-c:a:1", "pcm_s24le", "-c:a:2", "pcm_s16le",
           tracks)
    for codec, suffix, expected in (("prores", ".mov", ["pcm_s24le", "pcm_s24le", "pcm_s16le"]),
                                    ("h264", ".mp4", ["aac"] * 3)):
        with VideoWriter(tmp_path / f"out{suffix}", 25, 64, 48, codec=codec, audio=tracks) as writer:
            for frame in read_frames(clip, max_frames=10):
                writer.write(frame)
        made = probe(tmp_path / f"out{suffix}").audio
        assert [a.codec for a in made] == expected and [a.channels for a in made] == [1, 1, 2]
    with caplog.at_level("WARNING", logger="dvp"):
        assert choose_audio(str(tracks), None, clip, 0.4, "mov") == tracks
        assert not caplog.records
        choose_audio(str(tracks), None, clip, 0.4, "png")
    assert "3 audio streams; a PNG sequence's audio.wav carries the first" in caplog.text


def test_png_sequence_keeps_its_audio_and_timecode_beside_the_frames(tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "shot"
    frames = list(read_frames(clip, max_frames=10))
    with ImageSequenceWriter(out, 64, 48, fps="30000/1001", audio=clip, timecode="10:00:00;00") as writer:
        for frame in frames:
            writer.write(frame)
    names = ["audio.wav", *(f"frame_{i:06d}.png" for i in range(10)), "sequence.json"]
    assert sorted(p.name for p in out.iterdir()) == names
    sidecar = json.loads((out / "sequence.json").read_text())
    assert sidecar == {"frames": 10, "fps": "30000/1001", "width": 64, "height": 48, "bit_depth": 8,
                       "pattern": "frame_%06d.png", "sar": "1:1", "field_order": "progressive",
                       "colour_primaries": "bt709", "colour_transfer": "bt709",
                       "timecode": "10:00:00;00", "audio": "audio.wav"}
    assert [(a.codec, a.sample_rate) for a in probe_audio(out / "audio.wav")] == [("pcm_s16le", 16000)]
    report = ffmpeg_report("-i", out / "audio.wav")
    assert re.search(r"Duration: 00:00:00\.33", report), "the 2 s of sound are cut to 10 frames at 29.97 fps"
    assert [p.name for p in tmp_path.iterdir()] == ["shot"]
    assert probe(out).fps == Fraction(30000, 1001)  # read back as a video, as `--verify` tracks it
    for original, copy in zip(frames, read_frames(out), strict=True):
        assert np.array_equal(original, copy), "the sequence is lossless"
    silent = make_clip(tmp_path / "silent.mp4")
    with pytest.raises(MediaError, match="has no audio stream"):
        ImageSequenceWriter(tmp_path / "other", 64, 48, audio=silent)
    with pytest.raises(ValueError, match="HH:MM:SS:FF"):
        ImageSequenceWriter(tmp_path / "other", 64, 48, timecode="ten")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot", "silent.mp4"]


def test_exception_inside_with_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), VideoWriter(target, 25, 64, 48) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    assert no_child_processes()


def kill_ffmpeg() -> None:
    for child in psutil.Process().children():
        child.kill()
        child.wait()


@pytest.mark.parametrize(("crf", "crash"), [(-100, None), (18, kill_ffmpeg)], ids=["refused", "crashed"])
def test_failed_write_keeps_the_previous_file(tmp_path: Path, crf: int, crash: Callable[[], None] | None) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous")
    with pytest.raises(MediaError, match=r"out\.mp4: ffmpeg"), VideoWriter(target, 25, 64, 48, crf=crf) as writer:
        for i in range(30):
            if i == 10 and crash:
                crash()
            writer.write(np.zeros((48, 64, 3), np.uint8))
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    assert no_child_processes()


def test_writer_rejects_no_frames_and_wrong_frames(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no frames"), VideoWriter(tmp_path / "empty.mp4", 25, 64, 48):
        pass
    with pytest.raises(ValueError, match=r"uint8 \(48, 64, 3\)"), VideoWriter(tmp_path / "f.mp4", 25, 64, 48) as writer:
        writer.write(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\.mov"):
        VideoWriter(tmp_path / "x.mp4", 25, 64, 48, codec="prores")
    assert list(tmp_path.iterdir()) == []


def test_a_signal_while_ffmpeg_starts_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cancel that lands while a writer's ffmpeg is being started (here: right after the child is spawned, before
    # Popen returns) must still let the clean-up stop that ffmpeg; before, it ran on unknown to the clean-up and
    # wrote its temporary file after it (a fresh-clone CI run caught a preview's left so).
    import signal

    from base import ffmpeg_process

    class Cancelled(BaseException):
        pass

    def cancel(signum, frame):
        raise Cancelled

    real_popen = subprocess.Popen

    def popen_then_signal(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        signal.raise_signal(signal.SIGTERM)  # its handler runs here, inside the call that starts ffmpeg
        return process

    monkeypatch.setattr(ffmpeg_process.subprocess, "Popen", popen_then_signal)
    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        with pytest.raises(Cancelled):
            VideoWriter(tmp_path / "out.mp4", 25, 64, 48)
        assert signal.getsignal(signal.SIGTERM) is cancel
        ffmpeg_process.abandon_unfinished()
        time.sleep(0.5)  # time for an ffmpeg left running to create its file
        assert no_child_processes()
        assert list(tmp_path.iterdir()) == []
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in psutil.Process().children(recursive=True):
            child.kill()


# --- bad input -----------------------------------------------------------


def _first_half(tmp_path: Path, name: str, *out_args: str) -> Path:
    """The first half of the bytes of a 1 s clip called `name`."""
    whole = make_clip(tmp_path / f"whole{Path(name).suffix}", *out_args, seconds=1)
    cut = tmp_path / name
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    return cut


def truncated(tmp_path: Path) -> Path:
    """Half of an MP4 whose index (moov) comes last, as most cameras write it."""
    return _first_half(tmp_path, "truncated.mp4")


def audio_only(tmp_path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=d=0.5", tmp_path / "speech.m4a")
    return tmp_path / "speech.m4a"


def no_frames(tmp_path: Path) -> Path:
    """A Y4M stream header with no frame after it."""
    path = tmp_path / "empty.y4m"
    path.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
    return path


def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n")
    return path


def cut_after_its_index(tmp_path: Path) -> Path:
    """Half of an MP4 whose index comes first (web exports): it opens, and lists frames it no longer holds."""
    return _first_half(tmp_path, "cut.mp4", "-movflags", "+faststart")


def cut_matroska(tmp_path: Path) -> Path:
    return _first_half(tmp_path, "cut.mkv")


def zero_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "zero.mp4"
    path.touch()
    return path


def directory(tmp_path: Path) -> Path:
    path = tmp_path / "folder.mp4"
    path.mkdir()
    return path


def missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.mp4"


BAD_INPUTS = [
    (missing, "no such file"),
    (directory, "is a folder without sequence.json"),
    (text_file, "not a media file"),
    (truncated, "truncated"),
    (cut_after_its_index, r"cut short .* only its first \d+ frames"),
    (cut_matroska, r"cut short .* only its first \d+ frames"),
    (audio_only, "no video stream"),
    (zero_bytes, r"empty \(0 bytes\)"),
    (no_frames, "no frames"),
]


@pytest.mark.parametrize(("make", "problem"), BAD_INPUTS, ids=[make.__name__ for make, _ in BAD_INPUTS])
def test_bad_input_raises_media_error(tmp_path: Path, make: Callable[[Path], Path], problem: str) -> None:
    path = make(tmp_path)
    before = set(tmp_path.iterdir())
    with pytest.raises(MediaError, match=f"^{re.escape(str(path))}: .*{problem}"):
        probe(path)
    with pytest.raises(MediaError, match=problem):
        VideoReader(path)
    if make not in (audio_only, cut_after_its_index, cut_matroska):  # their sound can still be read
        with pytest.raises(MediaError, match=f"^{re.escape(str(path))}: "):
            VideoWriter(tmp_path / "out.mp4", 25, 64, 48, audio=path)
    assert set(tmp_path.iterdir()) == before


def test_audio_for_the_writer_must_have_sound(tmp_path: Path) -> None:
    silent = make_clip(tmp_path / "silent.mp4", seconds=0.2)
    assert probe_audio(silent) == ()
    with pytest.raises(MediaError, match=r"silent\.mp4: has no audio stream"):
        VideoWriter(tmp_path / "out.mp4", 25, 64, 48, audio=silent)
    assert [p.name for p in tmp_path.iterdir()] == ["silent.mp4"]


# --- real footage --------------------------------------------------------


def test_footage_non_square_pixels(footage: Path) -> None:
    info = probe(footage / "lp_d9.mp4")
    assert (info.width, info.height, info.sar) == (512, 480, Fraction(15, 16))
    # 512 coded pixels of 15/16 width show as 480 square ones: the picture is square.
    assert (info.display_width, info.display_height) == (480, 480)
    assert (info.fps, info.frame_count, info.variable_frame_rate) == (30, 587, False)
    assert [a.codec for a in info.audio] == ["aac"]


def test_footage_with_speech(footage: Path) -> None:
    info = probe(footage / "hdtf_aoc.mp4")
    assert (info.codec, info.fps, info.frame_count, info.duration) == ("mpeg4", 25, 200, 8.0)
    assert info.audio == (AudioStream(index=1, codec="aac", sample_rate=16000, channels=2, bits=32),)


def test_footage_streams_every_frame_at_display_size(footage: Path) -> None:
    # The README says 588 frames; the file holds 587 (19.57 s of video, 19.6 s of audio).
    with VideoReader(footage / "lp_d9.mp4") as reader:
        count = 0
        for frame in reader:
            assert frame.shape == (480, 480, 3)
            count += 1
    assert count == reader.frame_count == 587


# --- colour description --------------------------------------------------------


@pytest.mark.parametrize(("summary", "expected"), [
    ("tv, bt709, progressive", ("bt709", "bt709", "bt709", "tv")),
    ("tv, bt2020nc/bt2020/arib-std-b67, top first", ("bt2020nc", "bt2020", "arib-std-b67", "tv")),
    ("pc, bt470bg/unknown/unknown", ("bt470bg", None, None, "pc")),
    ("progressive", (None, None, None, None)),
    ("pc, gbr/unknown/unknown, progressive", ("gbr", None, None, "pc")),
])
def test_colour_descriptions_as_ffmpeg_gives_them(summary: str, expected: tuple) -> None:
    from base.colour import Colour

    assert Colour.parse(summary) == Colour(*expected)


def _patches(path: Path, size: str, matrix: str, tags: str) -> tuple[Path, list[tuple[int, int, int]]]:
    """Six flat colours side by side, converted to YUV with `matrix` and tagged with `tags` (setparams options,
    or "unknown" for none at all), losslessly."""
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 200, 60), (128, 128, 128), (250, 120, 180)]
    width, height = map(int, size.split("x"))
    rgb = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(colours):
        rgb[:, i * width // 6:(i + 1) * width // 6] = colour
    raw = path.with_suffix(".rgb")
    raw.write_bytes(rgb.tobytes())
    tag = "colorspace=unknown:color_primaries=unknown:color_trc=unknown" if tags == "unknown" else tags
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-i", raw, "-frames:v", "2", "-vf",
           f"scale=out_color_matrix={matrix}:out_range=tv:flags=accurate_rnd+full_chroma_int,format=yuv444p,"
           f"setparams={tag}", "-c:v", "libx264", "-qp", "0", path)
    return path, colours


@pytest.mark.parametrize(("size", "matrix"), [("1920x1080", "bt709"), ("720x576", "bt601")])
def test_untagged_footage_is_read_with_the_matrix_players_assume_for_its_size(tmp_path: Path, size: str,
                                                                              matrix: str) -> None:
    # A file that names no matrix: players take BT.709 for HD and BT.601 for SD (ffmpeg alone, BT.601 for all:
    # an HD file's greens came out 28 levels off).
    path, colours = _patches(tmp_path / "untagged.mp4", size, matrix, "unknown")
    assert probe(path).colour.matrix is None
    frame = next(iter(VideoReader(path)))
    width = frame.shape[1]
    for i, colour in enumerate(colours):
        assert np.abs(frame[frame.shape[0] // 2, i * width // 6 + width // 12].astype(int) - colour).max() <= 1


def test_outputs_are_tagged_with_the_colour_description_they_are_written_in(tmp_path: Path) -> None:
    from base.colour import BT709, Colour

    ramp = np.linspace(20, 235, 64)
    frames = [np.stack(np.broadcast_arrays(ramp[None, :], ramp[::-1, None][:48], 128 + 0 * ramp), -1)
              .astype(np.uint8)] * 2
    hlg = Colour("bt2020nc", "bt2020", "arib-std-b67", "tv")
    for colour, codec, suffix in ((BT709, "h264", ".mp4"), (hlg, "prores", ".mov"), (hlg, "h264", ".mp4")):
        path = tmp_path / f"{colour.matrix}{suffix}"
        with VideoWriter(path, 25, 64, 48, codec=codec, colour=colour, crf=0) as writer:
            for frame in frames:
                writer.write(frame)
        assert probe(path).colour == colour
        assert psnr(frames[0], next(iter(VideoReader(path)))) > 30


@pytest.mark.parametrize(("tags", "written"), [
    (("smpte170m", "smpte170m", "smpte170m"), ("smpte170m", "smpte170m", "bt709")),  # NTSC
    (("bt470bg", "bt470bg", "bt470bg"), ("smpte170m", "bt470bg", "bt709")),  # PAL: BT.601's matrix
    (("bt2020nc", "bt2020", "bt2020-10"), ("bt2020nc", "bt2020", "bt709")),  # BT.2020 SDR
    (("smpte240m", "film", "log100"), ("bt709", None, None)),  # nothing ProRes has a code for
])
def test_prores_outputs_say_only_what_prores_can(tmp_path: Path, tags: tuple, written: tuple) -> None:
    # FFmpeg's ProRes encoder writes a value its format has no code for as 0: a matrix that reads back as RGB, a
    # transfer "reserved" that ffmpeg's scaler then refuses. Such outputs could not be read again, by dvp or others.
    from base.colour import Colour

    path = tmp_path / "out.mov"
    with VideoWriter(path, 25, 64, 48, codec="prores", colour=Colour(*tags, "tv")) as writer:
        for frame in _woven_frames(count=2, size=(64, 48)):
            writer.write(frame)
    assert probe(path).colour == Colour(*written, "tv")
    plain = subprocess.run([FFMPEG, "-v", "error", "-i", path, "-pix_fmt", "rgb24", "-f",
                            "null", "-"], capture_output=True, text=True)
    assert plain.returncode == 0 and not plain.stderr, plain.stderr


# --- interlaced footage ------------------------------------------------------


def _woven_frames(count: int = 12, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    """Frames of a square moving right 6 pixels a field, the two fields of each frame woven: its edges comb."""
    height, width = size[1], size[0]
    frames = []
    for i in range(count):
        fields = []
        for field in range(2):
            picture = np.full((height, width, 3), (40, 90, 160), np.uint8)
            x = 10 + 6 * (2 * i + field)
            picture[16:48, x:x + 24] = (230, 200, 60)
            fields.append(picture)
        woven = fields[0].copy()
        woven[1::2] = fields[1][1::2]
        frames.append(woven)
    return frames


def _combing(frame: np.ndarray) -> float:
    """How much each line differs from the mean of the lines around it (0 for pictures without combs)."""
    rows = frame.astype(float)
    return float(np.abs(rows[1:-1] - (rows[:-2] + rows[2:]) / 2).mean())


@pytest.mark.parametrize(("codec", "suffix", "order", "db"),
                         [("h264", ".mp4", "tff", 29), ("prores", ".mov", "bff", 34)])
def test_interlaced_frames_are_written_as_such_and_read_blended_or_woven(tmp_path: Path, codec: Codec, suffix: str,
                                                                        order: str, db: float) -> None:
    from base.reading import blend_fields

    def write(path: Path, field_order: str) -> Path:
        with VideoWriter(path, 25, 96, 64, codec=codec, field_order=field_order, crf=0) as writer:
            for frame in frames:
                writer.write(frame)
        return path

    frames = _woven_frames()
    path = write(tmp_path / f"woven{suffix}", order)
    info = probe(path)
    assert (info.field_order, info.interlaced) == (order, True)
    woven, blended = list(VideoReader(path, woven=True)), list(VideoReader(path))
    # Sharp saturated edges: 4:2:0 chroma costs H.264 (lossless here) what 4:2:2 costs ProRes less of.
    assert all(psnr(a, b) > db for a, b in zip(frames, woven, strict=True))
    assert all(psnr(blend_fields(a), b) > db + 3 for a, b in zip(frames, blended, strict=True))
    assert np.mean([_combing(f) for f in blended]) < 0.2 * np.mean([_combing(f) for f in woven])
    if codec == "h264":  # written as progressive, each 4:2:0 chroma sample would mix the two fields' colours
        mixed = list(VideoReader(write(tmp_path / f"progressive{suffix}", "progressive")))
        assert psnr(frames[3], mixed[3]) < psnr(frames[3], woven[3]) - 5
    assert probe(make_clip(tmp_path / "plain.mp4")).field_order == "progressive"


@pytest.mark.parametrize(("rotation", "upright"), [(0, "tff"), (180, "bff"), (-90, "progressive")])
def test_turning_an_interlaced_picture_upright_moves_its_fields(tmp_path: Path, rotation: int, upright: str) -> None:
    # Half a turn puts the top field at the bottom; a quarter turn makes the fields columns, which no interlaced
    # output holds, so the output is progressive (the work blends the fields along the columns).
    from base.plates import Plates

    woven = tmp_path / "woven.mp4"
    with VideoWriter(woven, 25, 96, 64, field_order="tff") as writer:
        for frame in _woven_frames(count=3):
            writer.write(frame)
    turned = tmp_path / "turned.mp4"
    ffmpeg("-display_rotation", str(rotation), "-i", woven, "-c", "copy", turned)
    info = probe(turned)
    assert (info.field_order, info.upright_field_order) == ("tff", upright)
    assert Plates.of(info, "mov").field_order == upright


def test_an_odd_frame_size_is_padded_and_said_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from base.writing import open_output

    with caplog.at_level("WARNING", logger="dvp"):
        for name, fmt in (("odd.mp4", "mp4"), ("odd", "png")):
            with open_output(tmp_path / name, fmt, 25, 63, 47) as writer:
                writer.write(np.zeros((47, 63, 3), np.uint8))
    assert probe(tmp_path / "odd.mp4").width == 64 and probe(tmp_path / "odd").width == 63
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "H.264 needs even frame sizes, so the 63x47 frames are written as 64x48" in warning


def test_an_interlaced_sequence_says_so_beside_its_frames(tmp_path: Path) -> None:
    frames = _woven_frames(count=3)
    with ImageSequenceWriter(tmp_path / "seq", 96, 64, 25, field_order="tff") as writer:
        for frame in frames:
            writer.write(frame)
    assert json.loads((tmp_path / "seq" / "sequence.json").read_text())["field_order"] == "tff"
    assert probe(tmp_path / "seq").field_order == "tff"
    assert all(np.array_equal(a, b) for a, b in zip(frames, VideoReader(tmp_path / "seq", woven=True), strict=True))
    (tmp_path / "seq" / "sequence.json").write_text('{"fps": 25, "pattern": "frame_%06d.png", "field_order": "odd"}')
    with pytest.raises(MediaError, match="field_order.*tff"):
        probe(tmp_path / "seq")


def test_a_change_to_an_interlaced_plate_keeps_both_fields_elsewhere_and_brings_back_no_combs() -> None:
    # The work sees the fields blended; what it changes is written over the blended picture (no combs of the
    # shot's own motion come back inside what it painted), and every other pixel keeps both fields as shot.
    from base.plates import apply_change, to_8bit
    from base.reading import blend_fields

    plate = _woven_frames(count=1)[0]
    work = blend_fields(plate)
    result = work.copy()
    result[8:56, 20:60] = np.clip(result[8:56, 20:60].astype(int) + 20, 0, 255)
    out = apply_change(result, work, plate, field_axis=0)
    inside = np.zeros(plate.shape[:2], bool)
    inside[8:56, 20:60] = True
    assert np.array_equal(out[~inside], plate[~inside])
    assert np.array_equal(out[inside], result[inside])
    assert _combing(out[8:56, 20:60]) < 0.2 * _combing(plate[8:56, 20:60])
    deep = plate.astype(np.uint16) * 257
    out16 = apply_change(result, work, deep, field_axis=0)
    assert np.array_equal(out16[~inside], deep[~inside]) and np.array_equal(to_8bit(out16), out)


# --- bit depth -------------------------------------------------------------


@pytest.mark.parametrize(("pix_fmt", "bits"), [
    ("yuv420p", 8), ("nv12", 8), ("rgb24", 8), ("bgr0", 8), ("gbrp", 8), ("yuvj422p", 8), ("rgba", 8),
    ("yuv420p10le", 10), ("yuv422p10le", 10), ("p010le", 10), ("y210le", 10), ("gbrp10le", 10), ("x2rgb10le", 10),
    ("yuva444p12le", 12), ("gbrp12le", 12), ("xv36le", 12), ("rgb48be", 16), ("rgba64le", 16), ("gray16le", 16),
    ("gbrpf32le", 16), ("gbrapf16le", 16),
])
def test_bits_per_component_from_the_pixel_format(pix_fmt: str, bits: int) -> None:
    from base.probe import pix_fmt_bits

    assert pix_fmt_bits(pix_fmt) == bits


def test_a_deep_change_keeps_every_untouched_pixel_at_full_depth() -> None:
    from base.plates import apply_change, to_8bit

    assert to_8bit(np.array([[[0, 128, 129]], [[65535, 32767, 257]]], np.uint16)).tolist() == \
        [[[0, 0, 1]], [[255, 127, 1]]]
    rng = np.random.default_rng(0)
    deep = rng.integers(0, 65536, (40, 50, 3)).astype(np.uint16)
    plate = to_8bit(deep)
    assert apply_change(plate, plate, deep) is deep
    result = plate.copy()
    result[10:20, 5:15] = np.clip(result[10:20, 5:15].astype(int) + 3, 0, 255)  # a changed patch
    out = apply_change(result, plate, deep)
    assert out.dtype == np.uint16
    outside = np.ones((40, 50), bool)
    outside[10:20, 5:15] = False
    assert np.array_equal(out[outside], deep[outside])
    assert np.array_equal(to_8bit(out), result), "at 8 bits the output is what the pipeline made"


def test_ten_bit_footage_reads_and_writes_at_sixteen_bits(tmp_path: Path) -> None:
    """A smooth 10-bit ramp: read deep it has about 4 times the levels of the 8-bit read, and written back to ProRes
    from 16-bit frames it keeps them (within a 10-bit step); a 16-bit PNG sequence keeps them exactly."""
    src = tmp_path / "ramp.mov"
    ffmpeg("-f", "lavfi", "-i", "nullsrc=s=256x64:d=0.2:r=25,format=yuv444p16le,geq=lum='16384+X*64':cb=32768:cr=32768",
           "-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le", src)  # a 10-bit code per column
    assert probe(src).bits_per_component == 10
    shallow = next(iter(VideoReader(src)))
    deep = next(iter(VideoReader(src, deep=True)))
    assert deep.dtype == np.uint16 and deep.shape == shallow.shape
    assert len(np.unique(deep[..., 1])) > 3 * len(np.unique(shallow[..., 1]))
    frames = list(VideoReader(src, deep=True))
    out = tmp_path / "out.mov"
    with VideoWriter(out, 25, 256, 64, codec="prores", deep=True) as writer:
        for frame in frames:
            writer.write(frame)
    back = next(iter(VideoReader(out, deep=True)))
    assert np.abs(back.astype(int) - deep).max() <= 2 * 64, "within two 10-bit steps"
    assert len(np.unique(back[..., 1])) > 3 * len(np.unique(shallow[..., 1]))
    with ImageSequenceWriter(tmp_path / "seq", 256, 64, 25, deep=True) as writer:
        for frame in frames:
            writer.write(frame)
    import cv2

    png = cv2.imread(str(tmp_path / "seq" / "frame_000000.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and np.array_equal(png[..., ::-1], deep)
    assert json.loads((tmp_path / "seq" / "sequence.json").read_text())["bit_depth"] == 16
    with pytest.raises(ValueError, match="uint16"), VideoWriter(tmp_path / "x.mov", 25, 256, 64, codec="prores",
                                                                deep=True) as writer:
        writer.write(shallow)


# --- image sequences as input ------------------------------------------------


def test_a_sequence_written_by_dvp_reads_back_as_a_video(tmp_path: Path, clip: Path) -> None:
    from base.probe import audio_file

    frames = list(read_frames(clip, max_frames=12))
    with ImageSequenceWriter(tmp_path / "seq", 64, 48, fps="30000/1001", audio=clip, timecode="10:00:00;00") as w:
        for frame in frames:
            w.write(frame)
    info = probe(tmp_path / "seq")
    assert (info.width, info.height, info.fps, info.frame_count) == (64, 48, Fraction(30000, 1001), 12)
    assert info.timecode == "10:00:00;00" and [a.codec for a in info.audio] == ["pcm_s16le"]
    assert audio_file(tmp_path / "seq") == tmp_path / "seq" / "audio.wav"
    assert all(np.array_equal(a, b) for a, b in zip(frames, read_frames(tmp_path / "seq"), strict=True))


def test_a_hand_made_sixteen_bit_tiff_sequence_starting_at_1001(tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "plate"
    folder.mkdir()
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 65536, (32, 48, 3)).astype(np.uint16) for _ in range(5)]
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"shot.{1001 + i:04d}.tif"), frame[..., ::-1])
    (folder / "shot.0990.tif").write_bytes(b"")  # before the start: not part of the shot
    (folder / "sequence.json").write_text('{"fps": 24, "pattern": "shot.%04d.tif", "start": 1001}')
    info = probe(folder)
    assert (info.frame_count, info.fps, info.bits_per_component, info.audio) == (5, 24, 16, ())
    assert all(np.array_equal(a, b) for a, b in zip(frames, VideoReader(folder, deep=True), strict=True))
    (folder / "shot.1003.tif").unlink()
    with pytest.raises(MediaError, match=r"shot\.1003\.tif\) is missing"):
        probe(folder)
    (folder / "sequence.json").unlink()
    with pytest.raises(MediaError, match="without sequence.json.*pattern"):
        probe(folder)
    (folder / "sequence.json").write_text('{"fps": 24, "pattern": "shot.tif"}')
    with pytest.raises(MediaError, match="printf counter"):
        probe(folder)
    (folder / "sequence.json").write_text('{"pattern": "shot.%04d.tif"}')
    with pytest.raises(MediaError, match="needs at least"):
        probe(folder)


def test_scene_linear_frames_are_refused_with_what_to_do(tmp_path: Path) -> None:
    """EXR holds scene-linear light; read as it decodes it would come out dark and clipped, so it is refused."""
    folder = tmp_path / "exr"
    folder.mkdir()
    ffmpeg("-f", "lavfi", "-i", "nullsrc=s=64x16:d=0.08:r=25,format=gbrpf32le,geq=r='X/63':g='X/63':b='X/63'",
           folder / "plate.%04d.exr")
    (folder / "sequence.json").write_text('{"fps": 25, "pattern": "plate.%04d.exr"}')
    with pytest.raises(MediaError, match="plate.0001.exr: its pictures are scene-linear light.*16-bit TIFF"):
        probe(folder)


def test_probe_remembers_a_file_until_it_changes(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", seconds=0.4)
    first = probe(clip)
    assert probe(clip) is first, "asked again, the file is not read again"
    make_clip(tmp_path / "a.mp4", seconds=0.8)
    assert probe(clip).frame_count == 20 != first.frame_count
