"""Decode any audio file libsndfile reads into mono float32 at one sample rate."""

from collections.abc import Iterable
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_SR",
    "AudioError",
    "load_audio",
    "probe_audio",
    "fix_length",
    "expand_audio_paths",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".aifc")  # what folders are searched for
DEFAULT_SR = 16_000
MIN_DURATION_S = 0.05  # shorter than one 50 ms frame holds no usable speech


class AudioError(ValueError):
    """A file that cannot be used as audio; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def load_audio(
    path: Path | str,
    *,
    sr: int = DEFAULT_SR,
    trim_db: float | None = None,
    duration: float | None = None,
    min_duration: float = MIN_DURATION_S,
) -> np.ndarray:
    """Read ``path`` as a mono float32 waveform of shape (samples,) in [-1, 1] at ``sr`` Hz.

    Any container and codec libsndfile reads (WAV, AIFF/AIFF-C whatever the file is named, FLAC,
    OGG, MP3), any rate, bit depth and channel count. Channels are averaged, the rate converted
    with soxr. ``trim_db`` trims leading/trailing silence quieter than that many dB below the
    peak; ``duration`` (seconds) centre-crops or zero-pads to a fixed length.
    Raises AudioError for missing, empty, truncated, non-audio, zero-channel, non-finite or
    too-short input.
    """
    path = Path(path)
    data, native_sr = _read_checked(path)
    waveform = data.mean(axis=1)
    if native_sr != sr:
        waveform = librosa.resample(waveform, orig_sr=native_sr, target_sr=sr, res_type="soxr_hq")
    if trim_db is not None:
        waveform, _ = librosa.effects.trim(waveform, top_db=trim_db)
    if waveform.shape[0] < min_duration * sr:
        seconds = waveform.shape[0] / sr
        raise AudioError(path, f"is too short ({seconds:.3f} s; at least {min_duration} s needed)")
    if duration is not None:
        waveform = fix_length(waveform, n_samples=int(round(duration * sr)))
    return waveform.astype(np.float32, copy=False)


def probe_audio(path: Path | str) -> dict:
    """Decode ``path`` completely and return its sample_rate, channels and duration (seconds).

    Raises AudioError exactly where ``load_audio`` would, so a file that probes cleanly loads.
    """
    data, native_sr = _read_checked(Path(path))
    if data.shape[0] < MIN_DURATION_S * native_sr:
        raise AudioError(path, f"is too short ({data.shape[0] / native_sr:.3f} s)")
    return {"sample_rate": native_sr, "channels": data.shape[1], "duration": data.shape[0] / native_sr}


def fix_length(waveform: np.ndarray, *, n_samples: int) -> np.ndarray:
    """Centre-crop or symmetrically zero-pad a (samples,) waveform to exactly ``n_samples``."""
    excess = waveform.shape[0] - n_samples
    if excess >= 0:
        start = excess // 2
        return waveform[start : start + n_samples]
    before = -excess // 2
    return np.pad(waveform, (before, -excess - before))


def expand_audio_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given, and folders replaced by the audio files under them (recursively, sorted).

    A path that does not exist is kept, so the caller reports it as that file's error.
    """
    expanded = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(file for file in path.rglob("*") if file.suffix.lower() in AUDIO_SUFFIXES)
            expanded.extend(file for file in found if file.is_file())
        else:
            expanded.append(path)
    return expanded


def _read_checked(path: Path) -> tuple[np.ndarray, int]:
    """Read all channels as (samples, channels) float32 or raise AudioError naming the problem."""
    if not path.is_file():
        raise AudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        data, native_sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        detail = "unrecognised format or corrupt data" if "not a regular file" in str(error) else str(error)
        raise AudioError(path, f"cannot be decoded as audio ({detail})") from None
    if data.shape[1] == 0:
        raise AudioError(path, "has zero channels")
    if data.shape[0] == 0:
        raise AudioError(path, "contains no samples (empty or truncated)")
    if not np.isfinite(data).all():
        raise AudioError(path, "contains NaN or infinite samples")
    return data, native_sr
