"""The handcrafted feature vector of one clip: statistics of one shared STFT plus prosody and voice quality.

The first 195 values are the seeds' set (means over time of MFCC-40, chroma-12, mel-128, spectral
contrast-7, tonnetz-6, zero-crossing rate and roll-off) computed with librosa's defaults
(``n_fft=2048``, ``hop_length=512``, Hann window, centred frames), so they match the seeds' per-feature
calls at the same sample rate. The difference is speed: the waveform is transformed ONCE and every
spectral feature (mel, MFCC from that mel, chroma, contrast, roll-off, centroid, bandwidth, flatness,
RMS) is read off that one STFT. Where librosa's general routine repeats work (the chroma filter bank rebuilt
per clip, roll-off through a NaN mask, zero crossings counted again in every overlapping frame), the same
numbers come from a shorter computation here, checked value for value against librosa in the tests.
Deliberate departures from the seeds (``benchmarks/bench_features.py`` prints their effect on the shared
columns; notebook 02 shows the tonnetz one costs no accuracy):

* tonnetz is projected from the STFT chroma (``tonnetz_source="stft"``) instead of from a CQT chroma
  of the HPSS harmonic part (``"hpss_cqt"``, the seeds' way, which costs most of their run time);
* clips are analysed at the project's 16 kHz (the corpora's own rate here), not librosa's 22,050 Hz.

Then come MFCC standard deviations and delta standard deviations, spectral centroid / bandwidth /
flatness, RMS statistics, F0 statistics, jitter, shimmer and HNR from Praat (praat-parselmouth), and two
speaking-rate proxies (spectral onsets and voiced segments per second of speech). Praat analyses only
the speech span (first to last frame within ``speech_span_db`` of the loudest): the room tone around a
RAVDESS sentence holds no voice and would double Praat's work. A clip without voiced
frames gets 0 for its F0 statistics, jitter, shimmer and HNR (``UNVOICED_FILL``), with
``voiced_fraction`` 0 saying why.
"""

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
import parselmouth
from librosa.core.pitch import _parabolic_interpolation  # piptrack's interpolation, used as piptrack does
from parselmouth.praat import call

from ser_utils.audio.loading import SAMPLE_RATE

__all__ = [
    "DEFAULT_CONFIG",
    "TONNETZ_SOURCES",
    "N_SEED_COLUMNS",
    "UNVOICED_FILL",
    "HandcraftedConfig",
    "handcrafted_columns",
    "seed_columns",
    "handcrafted_features",
]

TONNETZ_SOURCES = ("stft", "hpss_cqt")
N_SEED_COLUMNS = 195
UNVOICED_FILL = 0.0
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
TONNETZ_AXES = ("fifth_x", "fifth_y", "minor_x", "minor_y", "major_x", "major_y")
MIN_PRAAT_S = 0.1  # Praat's pitch analysis needs a few periods of the 75 Hz floor
PIPTRACK_FMIN_HZ, PIPTRACK_FMAX_HZ, PIPTRACK_THRESHOLD = 150.0, 4000.0, 0.1  # librosa's tuning-estimate defaults
ZERO_CROSSING_THRESHOLD = 1e-10  # librosa's: smaller magnitudes count as zero (positive)
MIN_VOICED_RUN_FRAMES = 3  # a voiced segment (syllable-nucleus proxy) lasts at least 3 pitch frames
# Praat's standard voice-report settings (period floor/ceiling in s, max period factor, max amplitude factor).
PERIOD_FLOOR_S, PERIOD_CEILING_S, MAX_PERIOD_FACTOR, MAX_AMPLITUDE_FACTOR = 0.0001, 0.02, 1.3, 1.6


@dataclass(frozen=True)
class HandcraftedConfig:
    """Every setting that changes the handcrafted values; bump ``version`` when the code changes them."""

    sr: int = SAMPLE_RATE  # analysis sample rate, Hz
    trim_db: float | None = None  # None: analyse the whole clip, as the seeds did
    noise_floor_db: float | None = None  # white noise this many dB below the trimmed clip's power (None: none)
    phone_codec: str | None = None  # "gsm" / "ulaw": heard through that telephone chain first (None: as recorded)
    n_fft: int = 2048  # STFT size, samples (librosa's default, as in the seeds)
    hop_length: int = 512  # STFT hop, samples (librosa's default)
    n_mfcc: int = 40
    n_mels: int = 128
    n_contrast_bands: int = 6  # spectral contrast gives n_contrast_bands + 1 values
    f0_min_hz: float = 75.0  # Praat pitch floor
    f0_max_hz: float = 600.0  # Praat pitch ceiling (emotional speech goes well above 400 Hz)
    pitch_time_step_s: float = 0.01  # F0 track resolution, s
    hnr_time_step_s: float = 0.03  # Praat harmonicity step, s: its 60 ms windows (at 75 Hz) still overlap by half
    speech_span_db: float = 30.0  # frames within this many dB of the loudest count as speech
    tonnetz_source: str = "stft"  # "stft" (fast) or "hpss_cqt" (the seeds' way)
    version: int = 3

    def __post_init__(self):
        if self.tonnetz_source not in TONNETZ_SOURCES:
            choices = ", ".join(TONNETZ_SOURCES)
            raise ValueError(f"tonnetz_source={self.tonnetz_source!r}; use one of {choices}")
        if not 0 < self.f0_min_hz < self.f0_max_hz < self.sr / 2:
            raise ValueError(f"need 0 < f0_min_hz < f0_max_hz < sr/2, got {self.f0_min_hz}, {self.f0_max_hz}")


DEFAULT_CONFIG = HandcraftedConfig()


def handcrafted_columns(config: HandcraftedConfig = DEFAULT_CONFIG) -> tuple[str, ...]:
    """Names of the values ``handcrafted_features`` returns, in order; the first 195 are the seeds' set."""
    return tuple(name for _, names in _column_groups(config) for name in names)


def seed_columns(config: HandcraftedConfig = DEFAULT_CONFIG) -> tuple[str, ...]:
    """The seeds' 195 columns (means of MFCC, chroma, mel, contrast, tonnetz, ZCR, roll-off)."""
    return handcrafted_columns(config)[:N_SEED_COLUMNS]


def handcrafted_features(waveform: np.ndarray, *, config: HandcraftedConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The feature vector of a mono waveform (samples,) at ``config.sr`` Hz: float32 (n_columns,).

    Units: RMS in full-scale amplitude, frequencies in Hz, F0 range also in semitones, jitter and
    shimmer as fractions, HNR in dB, rates per second of speech (the span from the first to the last
    frame within ``speech_span_db`` of the loudest).
    """
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"waveform must be a non-empty 1-D array, got shape {y.shape}")
    sr, n_fft, hop = config.sr, config.n_fft, config.hop_length
    with _short_clip_warnings_silenced():
        magnitude = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
    power = magnitude**2
    mel = _mel_basis(sr, n_fft, config.n_mels) @ power  # what melspectrogram(S=power) computes
    mel_db = librosa.power_to_db(mel)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=config.n_mfcc)
    chroma = _chroma(power, sr=sr, n_fft=n_fft)
    contrast = librosa.feature.spectral_contrast(S=magnitude, sr=sr, n_bands=config.n_contrast_bands)
    rms = librosa.feature.rms(S=magnitude, frame_length=n_fft)[0]
    speech = _speech_samples(rms, hop_length=hop, n_fft=n_fft, span_db=config.speech_span_db, n_samples=y.size)
    span_s = (speech.stop - speech.start) / sr
    onsets = librosa.onset.onset_detect(
        onset_envelope=librosa.onset.onset_strength(S=mel_db, sr=sr), sr=sr, hop_length=hop
    )
    groups = {
        "mfcc_mean": mfcc.mean(axis=1),
        "chroma_mean": chroma.mean(axis=1),
        "mel_mean": mel.mean(axis=1),
        "contrast_mean": contrast.mean(axis=1),
        "tonnetz_mean": _tonnetz(y, chroma, config).mean(axis=1),
        "zcr_mean": [_zero_crossing_rate(y, frame_length=n_fft, hop_length=hop).mean()],
        "rolloff_mean": [_rolloff(magnitude, sr=sr, n_fft=n_fft).mean()],
        "mfcc_std": mfcc.std(axis=1),
        "mfcc_delta_std": _delta_std(mfcc),
        "spectral": _mean_std(
            *_centroid_bandwidth(magnitude, sr=sr, n_fft=n_fft), librosa.feature.spectral_flatness(S=magnitude)[0]
        ),
        "rms": _rms_statistics(rms, span_db=config.speech_span_db),
        "onset_rate": [len(onsets) / span_s if span_s > 0 else 0.0],
        "voice": _voice_features(y[speech], config),
    }
    layout = _column_groups(config)
    values = np.concatenate([np.asarray(groups[name], dtype=np.float64).ravel() for name, _ in layout])
    n_columns = sum(len(names) for _, names in layout)
    if values.size != n_columns:
        raise RuntimeError(f"computed {values.size} values for {n_columns} named columns; fix _column_groups")
    return values.astype(np.float32)


def _column_groups(config: HandcraftedConfig) -> list[tuple[str, list[str]]]:
    """(group, column names) in output order; ``handcrafted_features`` fills the groups in this order."""
    return [
        ("mfcc_mean", _numbered("mfcc_mean", config.n_mfcc)),
        ("chroma_mean", [f"chroma_mean_{pitch_class}" for pitch_class in PITCH_CLASSES]),
        ("mel_mean", _numbered("mel_mean", config.n_mels)),
        ("contrast_mean", _numbered("contrast_mean", config.n_contrast_bands + 1)),
        ("tonnetz_mean", [f"tonnetz_mean_{axis}" for axis in TONNETZ_AXES]),
        ("zcr_mean", ["zcr_mean"]),
        ("rolloff_mean", ["rolloff_mean"]),
        ("mfcc_std", _numbered("mfcc_std", config.n_mfcc)),
        ("mfcc_delta_std", _numbered("mfcc_delta_std", config.n_mfcc)),
        (
            "spectral",
            ["centroid_mean", "centroid_std", "bandwidth_mean", "bandwidth_std", "flatness_mean", "flatness_std"],
        ),
        ("rms", ["rms_mean", "rms_std", "rms_max", "rms_db_range"]),
        ("onset_rate", ["onset_rate"]),
        (
            "voice",
            [
                "f0_mean_hz",
                "f0_std_hz",
                "f0_range_hz",
                "f0_range_semitones",
                "voiced_fraction",
                "voiced_segment_rate",
                "jitter_local",
                "shimmer_local",
                "hnr_db",
            ],
        ),
    ]


def _numbered(prefix: str, count: int) -> list[str]:
    """``prefix_01`` … ``prefix_40``: zero-padded so the names sort in order."""
    return [f"{prefix}_{index:0{len(str(count))}d}" for index in range(1, count + 1)]


def _tonnetz(y: np.ndarray, chroma: np.ndarray, config: HandcraftedConfig) -> np.ndarray:
    if config.tonnetz_source == "stft":
        return librosa.feature.tonnetz(chroma=chroma, sr=config.sr)
    with _short_clip_warnings_silenced():  # the CQT's lowest, decimated octaves of a short clip
        return librosa.feature.tonnetz(y=librosa.effects.harmonic(y), sr=config.sr)


@contextmanager
def _short_clip_warnings_silenced():
    """Silence librosa's "n_fft=… is too large for input signal" for clips (or decimated CQT octaves) shorter
    than one FFT frame. Harmless here: frames are centred and zero-padded, so a short clip still gets its
    values, the same on every run; the warning only repeated itself for every short TESS clip."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large for input signal", category=UserWarning)
        yield


def _chroma(power: np.ndarray, *, sr: int, n_fft: int) -> np.ndarray:
    """``librosa.feature.chroma_stft(S=power, sr=sr)`` (12, frames), with the filter bank built once per tuning."""
    raw_chroma = np.einsum("cf,...ft->...ct", _chroma_basis(sr, n_fft, _tuning(power, sr=sr)), power, optimize=True)
    return librosa.util.normalize(raw_chroma, norm=np.inf, axis=-2)


def _tuning(power: np.ndarray, *, sr: int) -> float:
    """``librosa.estimate_tuning(S=power, sr=sr, bins_per_octave=12)``, in fractions of a chroma bin.

    librosa's ``piptrack`` interpolates and peak-picks every bin, then keeps peaks between 150 and 4000 Hz;
    here only those bins (and one neighbour each side, which their local maxima and interpolation read) are
    processed, with librosa's own steps in librosa's order, so the peaks and the estimate are the same.
    """
    n_fft = 2 * (power.shape[0] - 1)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    band = np.flatnonzero((freqs >= PIPTRACK_FMIN_HZ) & (freqs < min(PIPTRACK_FMAX_HZ, sr / 2)))
    low, high = max(band[0] - 1, 0), min(band[-1] + 2, power.shape[0])
    spectrum = power[low:high]
    shift = _parabolic_interpolation(spectrum, axis=-2)
    dskew = 0.5 * np.gradient(spectrum, axis=-2) * shift
    peaks = librosa.util.localmax(spectrum * (spectrum > PIPTRACK_THRESHOLD * power.max(axis=0)), axis=-2)
    peaks[: band[0] - low] = False
    peaks[band[-1] + 1 - low :] = False
    bins, frames = np.nonzero(peaks)
    pitches = np.zeros_like(spectrum)
    magnitudes = np.zeros_like(spectrum)
    pitches[bins, frames] = (bins + low + shift[bins, frames]) * float(sr) / n_fft
    magnitudes[bins, frames] = spectrum[bins, frames] + dskew[bins, frames]
    found = pitches > 0
    threshold = np.median(magnitudes[found]) if found.any() else 0.0
    with warnings.catch_warnings():  # a clip without spectral peaks (silence) has no tuning to estimate: 0
        warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty", category=UserWarning)
        return float(librosa.pitch_tuning(pitches[(magnitudes >= threshold) & found], bins_per_octave=12))


@lru_cache(maxsize=256)
def _chroma_basis(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    """librosa's chroma filter bank (12, 1 + n_fft // 2); tunings come in steps of 0.01 bin, so few recur."""
    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)


def _rolloff(magnitude: np.ndarray, *, sr: int, n_fft: int, roll_percent: float = 0.85) -> np.ndarray:
    """``librosa.feature.spectral_rolloff(S=magnitude)`` per frame (Hz): the lowest frequency below which
    ``roll_percent`` of the frame's magnitude lies, found with argmax instead of a NaN-masked minimum."""
    total = np.cumsum(magnitude, axis=0)
    reached = total >= roll_percent * total[-1]
    return librosa.fft_frequencies(sr=sr, n_fft=n_fft)[reached.argmax(axis=0)]


def _zero_crossing_rate(y: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate(y, frame_length, hop_length)`` per frame: the signal is
    edge-padded by half a frame, samples within 1e-10 of zero count as positive, and each frame counts the
    sign changes between its consecutive samples. Counted once over the signal (a running sum), not once
    per overlapping frame."""
    padded = np.pad(y, frame_length // 2, mode="edge")
    negative = np.signbit(np.where(np.abs(padded) <= ZERO_CROSSING_THRESHOLD, 0, padded))
    crossings = np.concatenate([[0], np.cumsum(negative[1:] != negative[:-1])])
    starts = np.arange(1 + (padded.size - frame_length) // hop_length) * hop_length
    return (crossings[starts + frame_length - 1] - crossings[starts]) / frame_length


def _delta_std(mfcc: np.ndarray) -> np.ndarray:
    """Standard deviation over time of each coefficient's delta; zeros for clips under 3 frames."""
    n_frames = mfcc.shape[1]
    width = min(9, n_frames if n_frames % 2 else n_frames - 1)
    if width < 3:
        return np.zeros(mfcc.shape[0])
    return librosa.feature.delta(mfcc, width=width).std(axis=1)


def _mean_std(*tracks: np.ndarray) -> list[float]:
    return [statistic for track in tracks for statistic in (track.mean(), track.std())]


def _rms_statistics(rms: np.ndarray, *, span_db: float) -> list[float]:
    """Mean, std and max of frame RMS, and the 5–95th percentile range in dB over speech frames."""
    if rms.max() <= 0:
        return [0.0, 0.0, 0.0, 0.0]
    level_db = librosa.amplitude_to_db(rms, ref=np.max)
    speech_db = level_db[level_db > -span_db]
    low, high = np.percentile(speech_db, [5, 95])
    return [rms.mean(), rms.std(), rms.max(), high - low]


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's mel filter bank (n_mels, 1 + n_fft // 2), built once per process."""
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)


def _centroid_bandwidth(magnitude: np.ndarray, *, sr: int, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame spectral centroid and bandwidth (Hz), as librosa's spectral_centroid / spectral_bandwidth
    compute them (magnitude-weighted mean and standard deviation of frequency), in one pass."""
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)[:, None]
    total = magnitude.sum(axis=0, keepdims=True)
    weights = np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0)
    centroid = (freqs * weights).sum(axis=0)
    bandwidth = np.sqrt((weights * (freqs - centroid) ** 2).sum(axis=0))
    return centroid, bandwidth


def _speech_samples(rms: np.ndarray, *, hop_length: int, n_fft: int, span_db: float, n_samples: int) -> slice:
    """The samples of the speech span: from the first to the last frame within ``span_db`` of the loudest,
    each frame's full window included (an empty slice for silence)."""
    if rms.max() <= 0:
        return slice(0, 0)
    loud = np.flatnonzero(librosa.amplitude_to_db(rms, ref=np.max) > -span_db)
    start = max(0, loud[0] * hop_length - n_fft // 2)
    return slice(start, min(n_samples, loud[-1] * hop_length + n_fft // 2))


def _voice_features(speech: np.ndarray, config: HandcraftedConfig) -> list[float]:
    """F0 mean/std/range (Hz, semitones), voiced fraction, voiced-segment rate, jitter, shimmer, HNR of the
    speech span (Praat analyses only the span: leading and trailing room tone hold no voice)."""
    span_s = speech.size / config.sr
    if span_s < MIN_PRAAT_S:
        return _unvoiced()
    sound = parselmouth.Sound(speech.astype(np.float64), sampling_frequency=config.sr)
    pitch = sound.to_pitch_ac(
        time_step=config.pitch_time_step_s, pitch_floor=config.f0_min_hz, pitch_ceiling=config.f0_max_hz
    )
    f0 = pitch.selected_array["frequency"]
    voiced = f0 > 0
    if not voiced.any():
        return _unvoiced()
    voiced_f0 = f0[voiced]
    low, high = np.percentile(voiced_f0, [5, 95])
    voiced_fraction = min(1.0, voiced.sum() * config.pitch_time_step_s / span_s)
    segment_rate = _count_runs(voiced, min_length=MIN_VOICED_RUN_FRAMES) / span_s
    points = call([sound, pitch], "To PointProcess (cc)")
    jitter = call(points, "Get jitter (local)", 0, 0, PERIOD_FLOOR_S, PERIOD_CEILING_S, MAX_PERIOD_FACTOR)
    shimmer = call(
        [sound, points],
        "Get shimmer (local)",
        0,
        0,
        PERIOD_FLOOR_S,
        PERIOD_CEILING_S,
        MAX_PERIOD_FACTOR,
        MAX_AMPLITUDE_FACTOR,
    )
    harmonicity = sound.to_harmonicity_ac(time_step=config.hnr_time_step_s, minimum_pitch=config.f0_min_hz)
    hnr = call(harmonicity, "Get mean", 0, 0)
    praat = [_defined(jitter), _defined(shimmer), _defined(hnr)]
    return [
        voiced_f0.mean(),
        voiced_f0.std(),
        high - low,
        12 * np.log2(high / low),
        voiced_fraction,
        segment_rate,
        *praat,
    ]


def _unvoiced() -> list[float]:
    """The voice group of a clip without voiced frames: fills for F0 and Praat values, zero fraction and rate."""
    return [UNVOICED_FILL] * 4 + [0.0, 0.0] + [UNVOICED_FILL] * 3


def _count_runs(mask: np.ndarray, *, min_length: int) -> int:
    """Number of runs of True at least ``min_length`` long."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(np.sum(stops - starts >= min_length))


def _defined(value: float) -> float:
    """Praat answers NaN ("--undefined--") when too few periods are found."""
    return UNVOICED_FILL if value is None or not np.isfinite(value) else float(value)
