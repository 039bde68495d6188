"""Sound for analysis (base.audio): any file's first audio stream as mono samples at one rate, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from base.audio import audio_blocks, read_audio
from base.errors import MediaError
from tests.clips import ffmpeg, make_clip


def test_a_48k_24bit_stereo_file_comes_out_mono_at_16k_with_its_tone(tmp_path):
    wav = tmp_path / "tone.wav"
    # 440 Hz on the left, silence on the right: the mix-down keeps the tone at half its level.
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=1.5:sample_rate=48000", "-f", "lavfi",
           "-i", "anullsrc=r=48000:cl=mono", "-filter_complex", "[0][1]amerge=inputs=2", "-t", "1.5",
           "-c:a", "pcm_s24le", wav)
    samples = read_audio(wav)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 24_000) <= 160
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 16_000 / len(samples) - 440) < 2
    blocks = list(audio_blocks(wav, rate=8_000, seconds=0.5))
    assert [len(b) for b in blocks[:2]] == [4_000, 4_000] and abs(sum(map(len, blocks)) - 12_000) <= 80


def test_files_without_sound_are_refused_by_name(tmp_path):
    silent = make_clip(tmp_path / "silent.mp4")
    with pytest.raises(MediaError, match="silent.mp4: has no audio stream"):
        read_audio(silent)
    text = tmp_path / "speech.wav"
    text.write_text("not a recording\n" * 50)
    with pytest.raises(MediaError, match="speech.wav: not a media file"):
        read_audio(text)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.wav: is empty"):
        read_audio(empty)


def test_a_video_with_sound_gives_its_soundtrack(tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", seconds=2, audio=True)
    samples = read_audio(clip)
    assert abs(len(samples) - 32_000) <= 1_100  # the AAC encoder's priming and padding
    assert 0.1 < np.abs(samples).max() < 0.2  # ffmpeg's sine source plays at 1/8 of full scale
