"""Corrupt a waveform the way real recording chains do: noise, babble, rooms, codecs, telephones, level, tilt.

Every condition is a deterministic function ``function(waveform, *, sr, severity, seed, talkers) -> waveform``
of a mono float32 (samples,) waveform in [-1, 1] at ``sr`` Hz; the same ``seed`` gives the same output. The
output keeps the input's length (``small_change`` "zeros" adds 100-1000 samples, as ser-tests does) and is
limited to [-1, 1] as a file would be. ``CONDITIONS`` registers each condition's name, its severities (the
issue's sweep), the unit of ``severity`` and whether it needs ``talkers`` (babble). ``corrupt`` applies one.

Libraries: pyroomacoustics simulates the rooms (image source method), libsndfile (soundfile) encodes and
decodes MP3, Opus, GSM 6.10 and mu-law, scipy filters. audiomentations is not used: its 0.43 release pins
``soxr<1`` (it would downgrade librosa's resampler in this environment) and draws its randomness from global
state, while every function here takes its seed.

Noise levels are signal-to-noise ratios over the whole waveform (mean power of the clip, pauses included).
"""

import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import librosa
import numpy as np
import pyroomacoustics as pra
import soundfile as sf
from scipy import signal

__all__ = [
    "TELEPHONE_CODECS",
    "Condition",
    "CONDITIONS",
    "SMALL_CHANGES",
    "corrupt",
    "mix_at_snr",
    "snr_db",
    "white_noise",
    "pink_noise",
    "make_babble",
    "babble_noise",
    "room_impulse_response",
    "schroeder_rt60",
    "reverberate",
    "mp3",
    "opus",
    "telephone",
    "gain",
    "spectral_tilt",
    "small_change",
]

TELEPHONE_SR = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_CODECS = {"gsm": "GSM610", "ulaw": "ULAW"}  # the phone chain's codecs: name -> libsndfile subtype
TELEPHONE_NOISE_SNR_DB = 40.0  # the faint pink noise ser-tests adds at the end of its phone chain
MP3_MAX_KBPS = 160.0  # MPEG-2 layer III at 16 kHz: libsndfile maps compression 0..1 linearly onto 160..0 kbit/s
OPUS_KBPS_RANGE = (7.0, 261.0)  # libsndfile's Opus bitrates at compression 1 and 0 (measured, 16 kHz)
ROOM_DIM_M = ((6.0, 5.0, 3.0), (4.5, 4.0, 2.7), (8.0, 6.0, 3.2))  # shoebox rooms drawn from by seed
SMALL_CHANGES = ("zeros", "clip", "gain", "highpass", "lowpass", "white", "tone")  # ser-tests' small changes


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Signal-to-noise ratio (dB) of ``noisy`` (samples,) against ``clean`` (samples,): noise = noisy - clean."""
    noise = np.asarray(noisy, dtype=np.float64) - clean
    return float(10 * np.log10(np.mean(np.square(clean, dtype=np.float64)) / np.mean(noise**2)))


def mix_at_snr(waveform: np.ndarray, noise: np.ndarray, *, snr_db: float) -> np.ndarray:
    """``waveform`` (samples,) plus ``noise`` (samples,) scaled to ``snr_db`` dB below its mean power;
    float32, not yet limited to [-1, 1]. Raises ValueError for silent inputs or mismatched lengths."""
    waveform, noise = np.asarray(waveform, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    if waveform.shape != noise.shape:
        raise ValueError(f"noise {noise.shape} must match the waveform {waveform.shape}")
    signal_power, noise_power = np.mean(waveform**2), np.mean(noise**2)
    if signal_power == 0 or noise_power == 0:
        raise ValueError("cannot set an SNR against digital silence (signal or noise power is zero)")
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return (waveform + scale * noise).astype(np.float32)


def white_noise(waveform, *, sr: int, severity: float, seed: int, talkers=None) -> np.ndarray:
    """Gaussian white noise at ``severity`` dB SNR."""
    noise = np.random.default_rng(seed).standard_normal(len(waveform))
    return _limit(mix_at_snr(waveform, noise, snr_db=severity))


def pink_noise(waveform, *, sr: int, severity: float, seed: int, talkers=None) -> np.ndarray:
    """Pink (1/f power) noise at ``severity`` dB SNR."""
    return _limit(mix_at_snr(waveform, _pink(len(waveform), seed=seed), snr_db=severity))


def make_babble(talkers: Sequence[np.ndarray], *, n_samples: int, seed: int) -> np.ndarray:
    """Babble (n_samples,): every talker's waveform (samples,) at equal power, looped from a random offset
    and summed. Pass 4-7 talkers (ser-tests' babble), none of them a speaker being evaluated."""
    if not talkers:
        raise ValueError("babble needs talkers: pass 4-7 waveforms of speakers outside the evaluated ones")
    rng = np.random.default_rng(seed)
    babble = np.zeros(n_samples)
    for talker in talkers:
        talker = np.asarray(talker, dtype=np.float64)
        power = np.mean(talker**2)
        if power == 0:
            raise ValueError("a babble talker is digitally silent; pass speech")
        looped = np.resize(np.roll(talker, -int(rng.integers(len(talker)))), n_samples)
        babble += looped / np.sqrt(power)
    return babble


def babble_noise(waveform, *, sr: int, severity: float, seed: int, talkers: Sequence[np.ndarray]) -> np.ndarray:
    """Babble of ``talkers`` (``make_babble``) at ``severity`` dB SNR."""
    return _limit(mix_at_snr(waveform, make_babble(talkers, n_samples=len(waveform), seed=seed), snr_db=severity))


def room_impulse_response(*, rt60: float, sr: int, seed: int) -> np.ndarray:
    """Impulse response (taps,) of a shoebox room with reverberation time ``rt60`` s (pyroomacoustics' image
    sources), starting at the direct sound, peak-normalised. ``seed`` picks one of three rooms and the source and
    microphone positions (three responses per ``rt60``, cached). The image method decays slower than Sabine's
    formula, so the absorption is set for a shorter time and corrected by measurement (``schroeder_rt60``)."""
    return _room_response(float(rt60), int(sr), int(seed) % len(ROOM_DIM_M)).copy()


def schroeder_rt60(rir: np.ndarray, *, sr: int, decay_db: tuple[float, float] = (-5.0, -25.0)) -> float:
    """Reverberation time (s) of an impulse response (taps,) by Schroeder backward integration: the time the
    energy decay curve takes to fall 60 dB, extrapolated from a line fitted between ``decay_db`` (T20)."""
    energy = np.cumsum(np.square(np.asarray(rir, dtype=np.float64))[::-1])[::-1]
    if energy[0] == 0:
        raise ValueError("the impulse response is all zeros")
    decay = 10 * np.log10(np.maximum(energy / energy[0], 1e-30))
    upper, lower = decay_db
    fitted = np.flatnonzero((decay <= upper) & (decay >= lower))
    if len(fitted) < 2:
        raise ValueError(f"the decay never spans {upper} to {lower} dB; pass a longer impulse response")
    slope, _ = np.polyfit(fitted / sr, decay[fitted], 1)
    return float(-60.0 / slope)


def reverberate(waveform, *, sr: int, severity: float, seed: int, talkers=None) -> np.ndarray:
    """The waveform played in a room of RT60 ``severity`` s (``room_impulse_response``), cut to its length and
    scaled to its peak."""
    waveform = np.asarray(waveform, dtype=np.float32)
    wet = signal.fftconvolve(waveform, room_impulse_response(rt60=severity, sr=sr, seed=seed))[: len(waveform)]
    return _limit(_match_peak(wet, waveform))


def mp3(waveform, *, sr: int, severity: float, seed: int = 0, talkers=None) -> np.ndarray:
    """An MP3 round trip at ``severity`` kbit/s (constant bitrate; libsndfile's LAME), cut to the input length
    (the encoder pads up to 1536 samples at the end)."""
    level = float(np.clip(1 - severity / MP3_MAX_KBPS * (16000 / sr), 0.0, 0.99))
    decoded = _codec_round_trip(waveform, sr=sr, format="MP3", subtype="MPEG_LAYER_III", compression_level=level)
    return _fit_length(decoded, len(waveform))


def opus(waveform, *, sr: int, severity: float, seed: int = 0, talkers=None) -> np.ndarray:
    """An Ogg-Opus round trip at about ``severity`` kbit/s (libsndfile's variable bitrate)."""
    low, high = OPUS_KBPS_RANGE
    level = float(np.clip((high - severity) / (high - low), 0.0, 1.0))
    decoded = _codec_round_trip(waveform, sr=sr, format="OGG", subtype="OPUS", compression_level=level)
    return _fit_length(decoded, len(waveform))


def telephone(waveform, *, sr: int, severity: str, seed: int, talkers=None) -> np.ndarray:
    """A narrow-band phone chain: down to 8 kHz, 300-3400 Hz band-pass, the ``severity`` codec ("gsm": GSM 6.10
    full rate, 13 kbit/s; "ulaw": G.711 mu-law, 64 kbit/s), back to ``sr`` and faint pink noise at 40 dB SNR."""
    if severity not in TELEPHONE_CODECS:
        raise ValueError(f"telephone codec must be one of {sorted(TELEPHONE_CODECS)}, got {severity!r}")
    narrow = librosa.resample(np.asarray(waveform, dtype=np.float32), orig_sr=sr, target_sr=TELEPHONE_SR)
    band = signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=TELEPHONE_SR, output="sos")
    narrow = _limit(signal.sosfilt(band, narrow))
    coded = _codec_round_trip(narrow, sr=TELEPHONE_SR, format="WAV", subtype=TELEPHONE_CODECS[severity])
    wide = _fit_length(librosa.resample(coded, orig_sr=TELEPHONE_SR, target_sr=sr), len(waveform))
    lowpass = signal.butter(8, 0.95 * TELEPHONE_SR / 2, btype="lowpass", fs=sr, output="sos")
    wide = signal.sosfiltfilt(lowpass, wide).astype(np.float32)  # removes the resampler's leakage above 4 kHz
    if not np.any(wide):
        return wide
    noise = signal.sosfiltfilt(lowpass, _pink(len(wide), seed=seed))  # the line noise is narrow-band too
    return _limit(mix_at_snr(wide, noise, snr_db=TELEPHONE_NOISE_SNR_DB))


def gain(waveform, *, sr: int, severity: float, seed: int = 0, talkers=None) -> np.ndarray:
    """The waveform ``severity`` dB louder (negative: quieter), clipped to [-1, 1]."""
    return _limit(np.asarray(waveform, dtype=np.float64) * 10 ** (severity / 20))


def spectral_tilt(waveform, *, sr: int, severity: float, seed: int = 0, talkers=None) -> np.ndarray:
    """The spectrum tilted by ``severity`` dB per octave around 1 kHz (positive: brighter; below 50 Hz held at the
    50 Hz gain), at the input's mean power."""
    waveform = np.asarray(waveform, dtype=np.float64)
    spectrum = np.fft.rfft(waveform)
    frequencies = np.maximum(np.fft.rfftfreq(len(waveform), d=1 / sr), 50.0)
    tilted = np.fft.irfft(spectrum * 10 ** (severity * np.log2(frequencies / 1000.0) / 20), n=len(waveform))
    tilted *= np.sqrt(np.mean(waveform**2) / max(np.mean(tilted**2), 1e-30))
    return _limit(tilted)


def small_change(waveform, *, sr: int, severity: str, seed: int, talkers=None) -> np.ndarray:
    """One of ser-tests' small changes, its size drawn by ``seed`` from that test's range: "zeros" (100-1000 zero
    samples prepended or appended: the only condition that changes the length), "clip" (0.1-0.3 % of samples
    clipped), "gain" (+-1-2 dB), "highpass" (1st order, 50-150 Hz), "lowpass" (6.5-7.5 kHz), "white" (white noise
    at 35-45 dB SNR), "tone" (a 5-7 kHz tone 40-50 dB below the signal)."""
    rng = np.random.default_rng(seed)
    waveform = np.asarray(waveform, dtype=np.float64)
    if severity == "zeros":
        zeros = np.zeros(int(rng.integers(100, 1001)))
        return _limit(np.concatenate([zeros, waveform] if rng.random() < 0.5 else [waveform, zeros]))
    if severity == "clip":
        threshold = np.quantile(np.abs(waveform), 1 - rng.uniform(0.001, 0.003))
        return _limit(np.clip(waveform, -threshold, threshold))
    if severity == "gain":
        return gain(waveform, sr=sr, severity=rng.choice([-1, 1]) * rng.uniform(1, 2))
    if severity in ("highpass", "lowpass"):
        cutoff, order = (rng.uniform(50, 150), 1) if severity == "highpass" else (rng.uniform(6500, 7500), 4)
        return _limit(signal.sosfilt(signal.butter(order, cutoff, btype=severity, fs=sr, output="sos"), waveform))
    if severity == "white":
        return white_noise(waveform, sr=sr, severity=rng.uniform(35, 45), seed=seed)
    if severity == "tone":
        tone = np.sin(2 * np.pi * rng.uniform(5000, 7000) * np.arange(len(waveform)) / sr)
        return _limit(mix_at_snr(waveform, tone, snr_db=rng.uniform(40, 50)))
    raise ValueError(f"small change must be one of {SMALL_CHANGES}, got {severity!r}")


@dataclass(frozen=True)
class Condition:
    """A registered corruption: its function, the severities of the sweep, their unit, whether it needs talkers."""

    name: str
    function: Callable[..., np.ndarray]
    severities: tuple
    unit: str
    needs_talkers: bool = False


CONDITIONS: dict[str, Condition] = {
    condition.name: condition
    for condition in (
        Condition("white_noise", white_noise, (30.0, 20.0, 10.0, 5.0, 0.0), "dB SNR"),
        Condition("pink_noise", pink_noise, (20.0, 10.0), "dB SNR"),
        Condition("babble", babble_noise, (20.0, 10.0), "dB SNR", needs_talkers=True),
        Condition("reverb", reverberate, (0.3, 0.6, 1.0), "s RT60"),
        Condition("mp3", mp3, (64.0, 32.0, 16.0), "kbit/s"),
        Condition("opus", opus, (12.0,), "kbit/s"),
        Condition("telephone", telephone, tuple(TELEPHONE_CODECS), "codec"),
        Condition("gain", gain, (-20.0, 20.0), "dB"),
        Condition("spectral_tilt", spectral_tilt, (-3.0, 3.0), "dB/octave"),
        Condition("small_change", small_change, SMALL_CHANGES, "change"),
    )
}


def corrupt(
    waveform: np.ndarray,
    *,
    sr: int,
    condition: str,
    severity,
    seed: int,
    talkers: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """``waveform`` (samples,) under ``condition`` (a ``CONDITIONS`` name) at ``severity``: float32 in [-1, 1]."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; registered: {sorted(CONDITIONS)}")
    entry = CONDITIONS[condition]
    if entry.needs_talkers and not talkers:
        raise ValueError(f"{condition} needs talkers: waveforms of 4-7 speakers who are not being evaluated")
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1 or not len(waveform):
        raise ValueError(f"pass a mono (samples,) waveform, got shape {waveform.shape}")
    return entry.function(waveform, sr=sr, severity=severity, seed=seed, talkers=talkers)


def _pink(n_samples: int, *, seed: int) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n_samples))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
    return np.fft.irfft(spectrum, n=n_samples)


@functools.lru_cache(maxsize=32)
def _room_response(rt60: float, sr: int, room: int) -> np.ndarray:
    if not 0.05 <= rt60 <= 3.0:
        raise ValueError(f"rt60 must be between 0.05 and 3 s, got {rt60}")
    rng = np.random.default_rng(room)
    dim = np.array(ROOM_DIM_M[room])
    source, microphone = (rng.uniform(0.2, 0.8, size=3) * dim for _ in range(2))
    target = 0.6 * rt60  # image sources decay slower than Sabine: start short, then correct once
    for _ in range(3):
        absorption, max_order = pra.inverse_sabine(target, dim)
        room = pra.ShoeBox(dim, fs=sr, materials=pra.Material(absorption), max_order=max_order)
        room.add_source(source)
        room.add_microphone(microphone)
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], dtype=np.float64)
        target *= rt60 / schroeder_rt60(rir, sr=sr)
    rir = rir[int(np.argmax(np.abs(rir))) :]
    return rir / np.max(np.abs(rir))


def _codec_round_trip(waveform, *, sr: int, format: str, subtype: str, compression_level: float | None = None):
    buffer = io.BytesIO()
    options = {} if compression_level is None else {"compression_level": compression_level}
    if format == "MP3":
        options["bitrate_mode"] = "CONSTANT"
    with sf.SoundFile(buffer, "w", samplerate=sr, channels=1, format=format, subtype=subtype, **options) as file:
        file.write(_limit(waveform))
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    return decoded


def _fit_length(waveform: np.ndarray, n_samples: int) -> np.ndarray:
    waveform = np.asarray(waveform, dtype=np.float32)[:n_samples]
    return np.pad(waveform, (0, n_samples - len(waveform)))


def _match_peak(waveform: np.ndarray, reference: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(waveform))
    return waveform * (np.max(np.abs(reference)) / peak) if peak > 0 else waveform


def _limit(waveform) -> np.ndarray:
    return np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0)
