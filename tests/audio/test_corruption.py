"""Known answers of the corruption conditions: SNRs, gains, bandwidths, codec lengths, RT60, determinism."""

import numpy as np
import pytest
from scipy import signal

from ser_utils.audio import corruption

SR = 16000


def _tone(seconds: float = 1.0, *, frequency: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def _speechlike(seconds: float = 1.0, *, seed: int = 0) -> np.ndarray:
    """Broadband, amplitude-modulated noise: energy at every frequency up to 8 kHz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(n) / SR)
    return (0.2 * envelope * rng.standard_normal(n)).clip(-1, 1).astype(np.float32)


def test_white_noise_at_10_db_measures_10_db():
    clean = _tone()
    noisy = corruption.corrupt(clean, sr=SR, condition="white_noise", severity=10.0, seed=1)
    assert corruption.snr_db(clean, noisy) == pytest.approx(10.0, abs=0.1)


@pytest.mark.parametrize("condition", ["pink_noise", "babble"])
def test_coloured_noise_and_babble_hit_their_snr(condition):
    clean = _tone()
    talkers = [_speechlike(0.7, seed=seed) for seed in range(5)]
    noisy = corruption.corrupt(clean, sr=SR, condition=condition, severity=20.0, seed=2, talkers=talkers)
    assert corruption.snr_db(clean, noisy) == pytest.approx(20.0, abs=0.1)


def test_six_db_gain_doubles_the_peak():
    clean = _tone(amplitude=0.25)
    louder = corruption.gain(clean, sr=SR, severity=6.0)
    assert np.max(np.abs(louder)) == pytest.approx(2 * np.max(np.abs(clean)), rel=0.01)


def test_twenty_db_gain_clips_to_full_scale():
    louder = corruption.gain(_tone(amplitude=0.5), sr=SR, severity=20.0)
    assert np.max(np.abs(louder)) == 1.0


@pytest.mark.parametrize("codec", ["gsm", "ulaw"])
def test_telephone_round_trip_leaves_no_energy_above_4_khz(codec):
    clean = _speechlike(2.0)
    phoned = corruption.telephone(clean, sr=SR, severity=codec, seed=0)
    frequencies, power = signal.welch(phoned, fs=SR, nperseg=1024)
    above = power[frequencies > 4000].sum() / power.sum()
    assert len(phoned) == len(clean)
    assert above < 1e-4  # below -40 dB of the total: no energy above 4 kHz
    assert power[(frequencies > 500) & (frequencies < 3000)].sum() / power.sum() > 0.5  # the voice band stays


@pytest.mark.parametrize(("condition", "severity", "frame"), [("mp3", 32.0, 1152), ("opus", 12.0, 960)])
def test_codec_round_trip_keeps_length_within_one_frame(condition, severity, frame):
    clean = _speechlike(1.3)
    decoded = corruption.corrupt(clean, sr=SR, condition=condition, severity=severity, seed=0)
    assert abs(len(decoded) - len(clean)) <= frame
    assert np.corrcoef(decoded[: len(clean)], clean[: len(decoded)])[0, 1] > 0.3  # still the same audio


def test_synthetic_room_rt60_measures_within_20_percent():
    rir = corruption.room_impulse_response(rt60=0.6, sr=SR, seed=0)
    assert corruption.schroeder_rt60(rir, sr=SR) == pytest.approx(0.6, rel=0.2)


def test_schroeder_integration_recovers_an_exponential_decay():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    rir = rng.standard_normal(SR) * 10 ** (-3 * t / 0.5)  # -60 dB of energy after 0.5 s
    assert corruption.schroeder_rt60(rir, sr=SR) == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("condition", sorted(corruption.CONDITIONS))
def test_every_condition_is_deterministic_in_its_seed(condition):
    clean = _speechlike(1.0)
    talkers = [_speechlike(0.5, seed=seed) for seed in range(1, 5)]
    severity = corruption.CONDITIONS[condition].severities[0]
    first, again = (
        corruption.corrupt(clean, sr=SR, condition=condition, severity=severity, seed=7, talkers=talkers)
        for _ in range(2)
    )
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and np.max(np.abs(first)) <= 1.0
    if condition in ("white_noise", "pink_noise", "babble"):
        other = corruption.corrupt(clean, sr=SR, condition=condition, severity=severity, seed=8, talkers=talkers)
        assert not np.array_equal(first, other)


def test_small_change_zeros_adds_100_to_1000_samples():
    clean = _tone()
    padded = corruption.small_change(clean, sr=SR, severity="zeros", seed=3)
    assert 100 <= len(padded) - len(clean) <= 1000


def test_babble_without_talkers_is_refused():
    with pytest.raises(ValueError, match="talkers"):
        corruption.corrupt(_tone(), sr=SR, condition="babble", severity=20.0, seed=0)


def test_unknown_condition_and_silent_signal_are_refused():
    with pytest.raises(ValueError, match="unknown condition"):
        corruption.corrupt(_tone(), sr=SR, condition="thunder", severity=1.0, seed=0)
    with pytest.raises(ValueError, match="silence"):
        corruption.white_noise(np.zeros(SR, dtype=np.float32), sr=SR, severity=10.0, seed=0)
