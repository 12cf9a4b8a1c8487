"""Tests for the per-clip extractors: handcrafted (known answers), eGeMAPS and log-mel (shapes, names)."""

import json
import subprocess
import sys
import warnings
from dataclasses import replace

import librosa
import numpy as np
import pytest

from ser_utils.audio.loading import load_audio
from ser_utils.features.egemaps import egemaps_columns, egemaps_features
from ser_utils.features.handcrafted import (
    N_SEED_COLUMNS,
    PITCH_CLASSES,
    HandcraftedConfig,
    handcrafted_columns,
    handcrafted_features,
    seed_columns,
)
from ser_utils.features.logmel import LogmelConfig, clip_samples, frames_coverage, logmel_columns, logmel_features

SR = 16_000
SECONDS = 1.5


def _sine(freq=440.0, amplitude=0.5):
    t = np.arange(int(SR * SECONDS)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _noise(scale=0.1):
    return (scale * np.random.default_rng(0).standard_normal(int(SR * SECONDS))).astype(np.float32)


@pytest.fixture(scope="module")
def sine_features():
    return dict(zip(handcrafted_columns(), handcrafted_features(_sine()), strict=True))


def test_column_names_are_stable_unique_and_start_with_the_seed_set():
    columns = handcrafted_columns()
    assert len(columns) == 295 and len(set(columns)) == len(columns)
    assert len(seed_columns()) == N_SEED_COLUMNS == 195
    assert columns[:2] == ("mfcc_mean_01", "mfcc_mean_02") and columns[40] == "chroma_mean_C"
    assert columns[N_SEED_COLUMNS - 2 : N_SEED_COLUMNS] == ("zcr_mean", "rolloff_mean")
    assert {
        "f0_mean_hz",
        "voiced_fraction",
        "jitter_local",
        "shimmer_local",
        "hnr_db",
        "onset_rate",
        "centroid_mean",
        "flatness_mean",
        "rms_mean",
        "mfcc_std_40",
        "mfcc_delta_std_40",
    } <= set(columns)
    assert len(handcrafted_columns(HandcraftedConfig(n_mfcc=13, n_mels=64))) == 295 - 3 * 27 - 64


def test_sine_pitch_and_centroid_are_near_440_hz(sine_features):
    assert sine_features["f0_mean_hz"] == pytest.approx(440, abs=2)
    assert sine_features["centroid_mean"] == pytest.approx(440, abs=15)
    assert sine_features["voiced_fraction"] > 0.9
    assert sine_features["jitter_local"] < 0.001 and sine_features["hnr_db"] > 20
    assert sine_features["flatness_mean"] < 0.01


def test_silence_has_zero_rms_and_finite_values():
    values = handcrafted_features(np.zeros(int(SR * SECONDS), dtype=np.float32))
    features = dict(zip(handcrafted_columns(), values, strict=True))
    assert np.isfinite(values).all()
    assert features["rms_mean"] == 0 and features["rms_max"] == 0
    assert features["voiced_fraction"] == 0 and features["f0_mean_hz"] == 0


def test_noise_is_flat_and_unvoiced():
    features = dict(zip(handcrafted_columns(), handcrafted_features(_noise()), strict=True))
    assert features["flatness_mean"] > 0.3
    assert features["voiced_fraction"] == 0


def test_tonnetz_variant_changes_only_the_tonnetz_columns():
    y = _sine(220.0) + _sine(330.0) + 0.01 * _noise()
    fast = handcrafted_features(y)
    seeds_way = handcrafted_features(y, config=HandcraftedConfig(tonnetz_source="hpss_cqt"))
    changed = {name for name, a, b in zip(handcrafted_columns(), fast, seeds_way, strict=True) if a != b}
    assert changed and all(name.startswith("tonnetz_") for name in changed)


def test_bad_settings_and_inputs_raise_value_error():
    with pytest.raises(ValueError, match="tonnetz_source"):
        HandcraftedConfig(tonnetz_source="cqt")
    with pytest.raises(ValueError, match="1-D"):
        handcrafted_features(np.zeros((2, 100), dtype=np.float32))


def test_seed_columns_match_separate_librosa_calls_on_real_clips(shared_data):
    paths = sorted((shared_data / "ravdess" / "Actor_01").glob("*.flac"))[:2]
    config = HandcraftedConfig()
    for path in paths:
        y = load_audio(path, sr=SR)
        ours = dict(zip(handcrafted_columns(), handcrafted_features(y), strict=True))
        mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=config.n_mfcc).mean(axis=1)
        chroma = librosa.feature.chroma_stft(y=y, sr=SR).mean(axis=1)
        contrast = librosa.feature.spectral_contrast(y=y, sr=SR).mean(axis=1)
        rolloff = librosa.feature.spectral_rolloff(y=y, sr=SR).mean()
        np.testing.assert_allclose([ours[f"mfcc_mean_{i:02d}"] for i in range(1, 41)], mfcc, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose([v for k, v in ours.items() if k.startswith("chroma_mean")], chroma, atol=1e-5)
        np.testing.assert_allclose([ours[f"contrast_mean_{i}"] for i in range(1, 8)], contrast, rtol=1e-4)
        assert ours["rolloff_mean"] == pytest.approx(rolloff, rel=1e-5)


@pytest.mark.parametrize("seconds", [0.06, 1.5])
def test_shortcut_columns_equal_librosa_exactly(seconds):
    # Zero-crossing rate, roll-off and chroma (with its tuning estimate) take shorter routes than librosa's
    # functions; they must give the same numbers, bit for bit, so cached and fresh values never differ.
    n = int(SR * seconds)
    y = (_sine(196.0)[:n] + 0.5 * _sine(311.0)[:n] + _noise(0.02)[:n]) * np.hanning(n).astype(np.float32)
    y[: n // 4] = 1e-11  # samples within librosa's zero threshold count as positive
    ours = dict(zip(handcrafted_columns(), handcrafted_features(y), strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # librosa's own "n_fft too large" for the short clip
        zcr = librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512).mean()
        rolloff = librosa.feature.spectral_rolloff(y=y, sr=SR).mean()
        chroma = librosa.feature.chroma_stft(y=y, sr=SR).mean(axis=1)
    assert ours["zcr_mean"] == np.float32(zcr) and ours["rolloff_mean"] == np.float32(rolloff)
    assert [ours[f"chroma_mean_{name}"] for name in PITCH_CLASSES] == list(chroma.astype(np.float32))


def test_short_clips_and_silence_raise_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        handcrafted_features(_noise()[:900])  # shorter than one 2048-sample frame
        handcrafted_features(np.zeros(int(SR * SECONDS), dtype=np.float32))  # no peaks to estimate tuning from
        handcrafted_features(_sine()[: int(SR * 0.3)], config=HandcraftedConfig(tonnetz_source="hpss_cqt"))


def test_egemaps_gives_88_named_finite_values():
    columns = egemaps_columns()
    values = egemaps_features(_sine(220.0) * np.hanning(int(SR * SECONDS)).astype(np.float32))
    assert len(columns) == 88 and values.shape == (88,) and values.dtype == np.float32
    assert np.isfinite(values).all()
    f0_semitones = dict(zip(columns, values, strict=True))["F0semitoneFrom27.5Hz_sma3nz_amean"]
    assert f0_semitones == pytest.approx(12 * np.log2(220 / 27.5), abs=0.3)  # 220 Hz is 36 st above 27.5 Hz


def test_logmel_has_a_fixed_shape_whatever_the_length():
    config = LogmelConfig()
    for seconds in (0.3, 2.0, 5.0):
        y = _noise()[: int(SR * seconds)] if seconds < SECONDS else np.resize(_noise(), int(SR * seconds))
        spectrogram = logmel_features(y, config=config)
        assert spectrogram.shape == (config.n_frames, config.n_mels) and spectrogram.dtype == np.float16
        assert np.isfinite(spectrogram).all()
    assert len(logmel_columns(config)) == config.n_mels
    assert clip_samples(config) == (config.n_frames - 1) * config.hop_length


def test_logmel_tone_lands_in_the_right_band():
    config = replace(LogmelConfig(), n_frames=20)
    spectrogram = logmel_features(_sine(1000.0), config=config).astype(np.float32)
    centres = librosa.mel_frequencies(n_mels=config.n_mels + 2, fmin=config.fmin, fmax=config.fmax)[1:-1]
    assert abs(centres[spectrogram.mean(axis=0).argmax()] - 1000) < 60


def test_frames_coverage_counts_clips_that_fit():
    config = LogmelConfig()
    limit = clip_samples(config) / config.sr
    assert frames_coverage(np.array([limit - 1, limit + 1, np.nan]), config=config) == 0.5


FRESH_OPENSMILE_CHECK = """
import json, sys
import numpy as np, opensmile
from ser_utils.audio.loading import load_audio
from ser_utils.features.egemaps import egemaps_features
smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals)
same = []
for path in sys.argv[1:]:
    y = load_audio(path, sr=16000)
    fresh = smile.process_signal(y, 16000).to_numpy(dtype=np.float32)[0]
    same.append(bool(np.array_equal(egemaps_features(y), fresh, equal_nan=True)))
print(json.dumps(same))
"""


def test_egemaps_engine_reused_across_clips_equals_a_fresh_opensmile_run(shared_data):
    # In a fresh interpreter: openSMILE aborts a process that has loaded TensorFlow, as other tests here do.
    paths = [str(path) for path in sorted((shared_data / "ravdess" / "Actor_01").glob("*.flac"))[:6]]
    done = subprocess.run([sys.executable, "-c", FRESH_OPENSMILE_CHECK, *paths], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True] * len(paths)
    assert np.isnan(egemaps_features(_sine()[:100])).all()  # too short for one frame: NaN, as openSMILE gives
