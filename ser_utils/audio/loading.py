"""Decode any audio file libsndfile reads into mono float32 at one sample rate."""

import os
from collections.abc import Iterable
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

__all__ = [
    "AUDIO_SUFFIXES",
    "SAMPLE_RATE",
    "MIN_DURATION_S",
    "AudioError",
    "load_audio",
    "require_duration",
    "probe_audio",
    "fix_length",
    "expand_audio_paths",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".aifc")  # what folders are searched for
SAMPLE_RATE = 16_000  # Hz: every analysis rate of the project, and the rate YAMNet was trained on
MIN_DURATION_S = 0.05  # shorter than one 50 ms frame holds no usable speech


class AudioError(ValueError):
    """A file (or waveform) that cannot be used as audio; the message names it and the problem.

    ``kind`` sorts the problem for failure tables: "undecodable" (cannot be read, or too short) or
    "silent" (decodes, but holds nothing to describe); ``reason`` is ``"<kind>: <problem>"``.
    """

    def __init__(self, path: Path | str, problem: str, *, kind: str = "undecodable"):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem
        self.kind = kind

    @property
    def reason(self) -> str:
        """One line for a failure table, e.g. ``silent: digital silence, below -70 dBFS; nothing to describe``."""
        return f"{self.kind}: {self.problem}"


def load_audio(
    path: Path | str,
    *,
    sr: int = SAMPLE_RATE,
    duration: float | None = None,
    min_seconds: float = MIN_DURATION_S,
) -> np.ndarray:
    """Read ``path`` as a mono float32 waveform of shape (samples,) in [-1, 1] at ``sr`` Hz.

    Any container and codec libsndfile reads (WAV, AIFF/AIFF-C whatever the file is named, FLAC,
    OGG, MP3), any rate, bit depth and channel count. Channels are averaged, the rate converted
    with soxr. ``duration`` (seconds) centre-crops or zero-pads to a fixed length. Silence is neither
    checked nor trimmed here: ``audio.prepare.prepare_waveform`` does that, for training and serving alike.
    Raises AudioError for missing, empty, truncated, non-audio, zero-channel, non-finite or
    too-short (under ``min_seconds``) input.
    """
    path = Path(path)
    data, native_sr = _read_checked(path)
    waveform = data.mean(axis=1)
    if native_sr != sr:
        waveform = librosa.resample(waveform, orig_sr=native_sr, target_sr=sr, res_type="soxr_hq")
    require_duration(waveform, sr=sr, min_seconds=min_seconds, source=path)
    if duration is not None:
        waveform = fix_length(waveform, n_samples=int(round(duration * sr)))
    return waveform.astype(np.float32, copy=False)


def require_duration(waveform: np.ndarray, *, sr: int, min_seconds: float, source: Path | str) -> None:
    """Raise AudioError ("is too short") when ``waveform`` (samples, ...) at ``sr`` Hz lasts under ``min_seconds``."""
    if waveform.shape[0] < min_seconds * sr:
        seconds = waveform.shape[0] / sr
        raise AudioError(source, f"is too short ({seconds:.3f} s; at least {min_seconds} s needed)")


def probe_audio(path: Path | str) -> dict:
    """Decode ``path`` completely and return its sample_rate, channels and duration (seconds).

    Raises AudioError exactly where ``load_audio`` would, so a file that probes cleanly loads.
    """
    data, native_sr = _read_checked(Path(path))
    require_duration(data, sr=native_sr, min_seconds=MIN_DURATION_S, source=path)
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
    """Files as given, and folders replaced by every entry under them named like audio (recursively, sorted).

    Nothing a user named or a folder holds under an audio name is dropped: a path that does not exist, a
    broken symbolic link and a sub-folder named ``x.wav`` are kept, so the caller reports each as a row's error.
    """
    expanded = []
    for path in map(Path, paths):
        if path.is_dir():
            expanded.extend(sorted(entry for entry in path.rglob("*") if entry.suffix.lower() in AUDIO_SUFFIXES))
        else:
            expanded.append(path)
    return expanded


def _read_checked(path: Path) -> tuple[np.ndarray, int]:
    """Read all channels as (samples, channels) float32 or raise AudioError naming the problem."""
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    if path.is_symlink() and not path.exists():
        raise AudioError(path, f"is a broken symbolic link (its target {os.readlink(path)} does not exist)")
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
