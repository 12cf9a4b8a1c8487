"""Fixed-shape log-mel spectrograms of one clip, (n_frames, n_mels) float16, for the CNN-LSTM.

Settings and why (notebook 02, "Choose the log-mel length", recomputes the evidence on every run):

* 16 kHz, 64 mel bands from 50 Hz to 8 kHz (Nyquist): 64 channels for the Conv1D, the usual resolution
  for speech emotion; below 50 Hz there is only hum and handling noise.
* 25 ms Hann window (400 samples, FFT size 512), hop 20 ms (320 samples): the ~20 ms grid the model
  expects, short enough to follow syllables and pitch movements, 50 frames per second.
* Leading and trailing silence more than 30 dB below the clip's peak is trimmed first (``trim_db``).
  RAVDESS clips carry about a second of room tone around each sentence, which would otherwise take a
  third of the frames; at 30 dB the trim removes that room tone but keeps soft word onsets and endings.
* 150 frames (2.98 s) per clip: after trimming, the great majority of RAVDESS clips and practically all
  TESS clips are shorter than that (the notebook prints the share per corpus, ``frames_coverage``);
  longer clips are centre-cropped, shorter ones centred and zero-padded. A longer grid would mostly add
  padding, a shorter one would crop the typical RAVDESS sentence.
* Power in dB re full scale (``ref=1.0``), floored 80 dB below the clip's own maximum so padding and
  digital silence do not create extreme values; absolute loudness differences are kept.
* float16: 150 × 64 values take 19 kB per clip; dB values need no more than float16's ~0.03 dB
  resolution at their magnitude.
"""

from dataclasses import dataclass

import librosa
import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ser_utils.audio.loading import SAMPLE_RATE, AudioError, fix_length
from ser_utils.audio.prepare import TRIM_DB, prepare_waveform

__all__ = [
    "DEFAULT_CONFIG",
    "LogmelConfig",
    "logmel_columns",
    "logmel_features",
    "clip_samples",
    "trimmed_durations",
    "frames_coverage",
    "duration_summary",
]


@dataclass(frozen=True)
class LogmelConfig:
    """Every setting that changes the log-mel arrays; bump ``version`` when the code changes them."""

    sr: int = SAMPLE_RATE  # analysis sample rate, Hz
    trim_db: float | None = TRIM_DB  # trim edge silence this many dB below the peak (None: keep)
    noise_floor_db: float | None = None  # white noise this many dB below the trimmed clip's power (None: none)
    phone_codec: str | None = None  # "gsm" / "ulaw": heard through that telephone chain first (None: as recorded)
    n_fft: int = 512  # FFT size, samples
    win_length: int = 400  # analysis window, samples (25 ms)
    hop_length: int = 320  # hop, samples (20 ms)
    n_mels: int = 64
    fmin: float = 50.0  # Hz
    fmax: float = 8_000.0  # Hz
    n_frames: int = 150  # frames per clip: (n_frames - 1) * hop_length samples
    top_db: float = 80.0  # floor below the clip's maximum, dB
    version: int = 1

    def __post_init__(self):
        if self.n_frames < 2 or self.n_mels < 1:
            raise ValueError(f"need n_frames >= 2 and n_mels >= 1, got {self.n_frames}, {self.n_mels}")
        if not 0 <= self.fmin < self.fmax <= self.sr / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sr/2, got {self.fmin}, {self.fmax} at {self.sr} Hz")


DEFAULT_CONFIG = LogmelConfig()


def logmel_columns(config: LogmelConfig = DEFAULT_CONFIG) -> tuple[str, ...]:
    """Names of the mel bands, the last axis of ``logmel_features``: ``mel_00`` … ``mel_63``."""
    return tuple(f"mel_{band:02d}" for band in range(config.n_mels))


def clip_samples(config: LogmelConfig = DEFAULT_CONFIG) -> int:
    """Samples a clip is cropped or padded to so its centred STFT has exactly ``n_frames`` frames."""
    return (config.n_frames - 1) * config.hop_length


def logmel_features(waveform: np.ndarray, *, config: LogmelConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Log-mel spectrogram of a (trimmed) mono waveform (samples,) at ``config.sr`` Hz.

    Returns float16 of shape (n_frames, n_mels) in dB re full scale: time first, as Keras
    sequence layers expect. The waveform is centre-cropped or zero-padded to ``clip_samples``.
    """
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"waveform must be a non-empty 1-D array, got shape {y.shape}")
    y = fix_length(y, n_samples=clip_samples(config))
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=config.sr,
        n_fft=config.n_fft,
        win_length=config.win_length,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    log_mel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=config.top_db)
    return log_mel.T.astype(np.float16)


def trimmed_durations(paths: list[str], *, config: LogmelConfig = DEFAULT_CONFIG, n_jobs: int) -> np.ndarray:
    """Seconds each clip lasts after ``audio.prepare.prepare_waveform`` with ``config``'s trim, on ``n_jobs``
    threads; NaN where a clip is unusable (unreadable, too short, silent), as feature extraction drops it.

    Returns float64 of shape (len(paths),), the evidence for choosing ``n_frames``.
    """
    jobs = (delayed(_trimmed_duration)(path, config) for path in paths)
    return np.array(Parallel(n_jobs=n_jobs, prefer="threads")(jobs), dtype=np.float64)


def frames_coverage(durations: np.ndarray, *, config: LogmelConfig = DEFAULT_CONFIG) -> float:
    """Share of clips (ignoring NaN) whose trimmed audio fits in ``n_frames`` frames without cropping."""
    durations = np.asarray(durations, dtype=np.float64)
    durations = durations[np.isfinite(durations)]
    if durations.size == 0:
        return float("nan")
    return float(np.mean(durations <= clip_samples(config) / config.sr))


def duration_summary(durations: pd.DataFrame, *, config: LogmelConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    """Per corpus (``durations`` has columns corpus, duration in s): clips, median, 95th/99th percentile and
    maximum trimmed duration, and the share of clips that fit in ``config.n_frames`` without cropping."""
    rows = []
    for corpus, part in durations.groupby("corpus"):
        seconds = part["duration"].dropna().to_numpy()
        rows.append(
            {
                "corpus": corpus,
                "clips": len(seconds),
                "median_s": np.median(seconds),
                "p95_s": np.percentile(seconds, 95),
                "p99_s": np.percentile(seconds, 99),
                "max_s": seconds.max(),
                "fits_without_crop": frames_coverage(seconds, config=config),
            }
        )
    return pd.DataFrame(rows)


def _trimmed_duration(path: str, config: LogmelConfig) -> float:
    try:
        waveform = prepare_waveform(path, sr=config.sr, trim_db=config.trim_db)
    except AudioError:
        return float("nan")
    return waveform.shape[0] / config.sr
