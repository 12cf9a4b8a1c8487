"""Tests for ser_utils.audio.prepare: the one waveform preparation, its fixed order of checks and its reasons."""

import numpy as np
import pytest
import soundfile as sf

from ser_utils.audio.corruption import telephone
from ser_utils.audio.loading import SAMPLE_RATE, AudioError
from ser_utils.audio.prepare import NOISE_FLOOR_SEED, SILENCE_PEAK_DBFS, TRIM_DB, prepare_waveform

SR = SAMPLE_RATE


def tone(seconds: float, *, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * 440.0 * np.arange(int(round(seconds * SR))) / SR)).astype(np.float32)


def test_a_40_ms_tone_is_too_short_from_a_file_and_from_an_array(tmp_path):
    sf.write(tmp_path / "blip.wav", tone(0.04), SR)
    for source in (tmp_path / "blip.wav", tone(0.04)):
        with pytest.raises(AudioError, match="too short") as caught:
            prepare_waveform(source, sr=SR, trim_db=TRIM_DB)
        assert caught.value.kind == "undecodable" and caught.value.reason.startswith("undecodable: is too short")


def test_silence_is_rejected_with_its_level():
    with pytest.raises(AudioError) as caught:
        prepare_waveform(np.zeros(SR, np.float32), sr=SR, trim_db=TRIM_DB)
    assert caught.value.kind == "silent"
    assert caught.value.reason == f"silent: digital silence, below {SILENCE_PEAK_DBFS:.0f} dBFS; nothing to describe"
    with pytest.raises(AudioError, match=r"peak -80\.0 dBFS"):
        prepare_waveform(np.full(SR, 1e-4, np.float32), sr=SR, trim_db=None)


def test_duration_is_checked_before_trimming():
    # 1 s of digital silence, then 20 ms of tone: long enough as recorded, though its speech is shorter
    waveform = np.concatenate([np.zeros(SR, np.float32), tone(0.02)])
    prepared = prepare_waveform(waveform, sr=SR, trim_db=TRIM_DB)
    assert len(prepared) < len(waveform) // 2  # the leading silence is trimmed
    with pytest.raises(AudioError, match="too short"):
        prepare_waveform(waveform, sr=SR, trim_db=TRIM_DB, min_seconds=2.0)


def test_trim_removes_edge_silence_and_none_keeps_everything(tmp_path):
    waveform = np.concatenate([np.zeros(SR), tone(1.0), np.zeros(SR)]).astype(np.float32)
    sf.write(tmp_path / "padded.wav", waveform, SR)
    trimmed = prepare_waveform(tmp_path / "padded.wav", sr=SR, trim_db=40.0)
    assert 0.9 * SR < len(trimmed) < 1.2 * SR and trimmed.dtype == np.float32
    assert len(prepare_waveform(waveform, sr=SR, trim_db=None)) == 3 * SR


def test_files_are_resampled_and_bad_arrays_rejected(tmp_path):
    sf.write(tmp_path / "hi.wav", 0.5 * np.sin(np.arange(24_000) * 0.05), 48_000)  # 0.5 s at 48 kHz
    assert abs(len(prepare_waveform(tmp_path / "hi.wav", sr=SR, trim_db=None)) - SR // 2) <= 1
    with pytest.raises(AudioError, match="finite"):
        prepare_waveform(np.full(SR, np.nan, np.float32), sr=SR, trim_db=None)
    with pytest.raises(AudioError, match="no such file"):
        prepare_waveform(tmp_path / "missing.wav", sr=SR, trim_db=None)


def test_noise_floor_sits_its_level_below_the_trimmed_clip_and_repeats_exactly():
    waveform = np.concatenate([np.zeros(SR), tone(1.0), np.zeros(SR)]).astype(np.float32)
    trimmed = prepare_waveform(waveform, sr=SR, trim_db=40.0)
    floored = prepare_waveform(waveform, sr=SR, trim_db=40.0, noise_floor_db=20.0)
    noise = floored.astype(np.float64) - trimmed
    snr_db = 10 * np.log10(np.mean(trimmed.astype(np.float64) ** 2) / np.mean(noise**2))
    assert floored.dtype == np.float32 and len(floored) == len(trimmed)
    assert abs(snr_db - 20.0) < 0.1  # measured against the 1-s tone, not the 3-s padded clip
    assert np.array_equal(floored, prepare_waveform(waveform, sr=SR, trim_db=40.0, noise_floor_db=20.0))
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    low, high = spectrum[: len(spectrum) // 2].mean(), spectrum[len(spectrum) // 2 :].mean()
    assert 0.8 < low / high < 1.25  # white: as much power in the upper half of the band as in the lower


def test_the_phone_chain_comes_before_the_trim_and_leaves_nothing_above_4_khz():
    t = np.arange(2 * SR) / SR
    waveform = np.concatenate([np.zeros(SR), 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 6000 * t)])
    phoned = prepare_waveform(waveform.astype(np.float32), sr=SR, trim_db=None, phone_codec="gsm")
    assert len(phoned) == len(waveform) and phoned.dtype == np.float32
    spectrum, freqs = np.abs(np.fft.rfft(phoned)), np.fft.rfftfreq(len(phoned), 1 / SR)
    assert freqs[spectrum.argmax()] == 440 and spectrum[freqs > 4000].max() < 1e-3 * spectrum.max()
    assert np.array_equal(phoned, telephone(waveform.astype(np.float32), sr=SR, severity="gsm", seed=NOISE_FLOOR_SEED))
    trimmed = prepare_waveform(waveform.astype(np.float32), sr=SR, trim_db=30.0, phone_codec="gsm")
    assert 1.9 * SR < len(trimmed) < 2.1 * SR  # the leading second of silence is trimmed after the chain
    with pytest.raises(ValueError, match="codec"):
        prepare_waveform(waveform.astype(np.float32), sr=SR, trim_db=None, phone_codec="amr")
