"""One waveform preparation for training-time feature extraction and for serving: decode, check, phone, trim, floor.

The order is fixed, and both paths share it, so a clip that was trained on is never rejected when served:

1. decode and resample to ``sr`` (a path; an array is taken as already at ``sr``);
2. reject a clip shorter than ``min_seconds`` (before trimming: the length of the recording, not of its speech);
3. reject a clip whose loudest sample is below ``silence_peak_dbfs`` (nothing to describe);
4. hear the clip through the telephone chain of ``phone_codec`` (``audio.corruption.telephone``; None: as
   recorded). A model that always hears a phone hears a phone call almost as it heard its training clips, since
   a second pass through the chain changes little (notebook 07's phone-band members);
5. trim leading and trailing audio quieter than ``trim_db`` below the clip's peak (None: keep it all);
6. add a seeded white noise floor ``noise_floor_db`` below the trimmed clip's mean power (None: none). The same
   floor under a clean and a noisy recording of one utterance masks the faint part of the noise, so features of
   the two differ less (notebook 07's span pool); it is deterministic, so a clip always gives the same features.

Cropping or padding to a model's window comes after, and belongs to the feature or model that needs it.
"""

from pathlib import Path

import librosa
import numpy as np

from ser_utils.audio.corruption import telephone
from ser_utils.audio.loading import MIN_DURATION_S, AudioError, load_audio, require_duration

__all__ = ["TRIM_DB", "SILENCE_PEAK_DBFS", "NOISE_FLOOR_SEED", "prepare_waveform"]

TRIM_DB = 30.0  # edge silence this many dB below the peak is trimmed (log-mel and YAMNet features)
SILENCE_PEAK_DBFS = -70.0  # a clip whose loudest sample is quieter than this holds nothing to describe
NOISE_FLOOR_SEED = 0  # every clip's floor (and phone line noise) is the start of one fixed Gaussian sequence


def prepare_waveform(
    source: Path | str | np.ndarray,
    *,
    sr: int,
    trim_db: float | None,
    noise_floor_db: float | None = None,
    phone_codec: str | None = None,
    min_seconds: float = MIN_DURATION_S,
    silence_peak_dbfs: float = SILENCE_PEAK_DBFS,
) -> np.ndarray:
    """A usable mono float32 (samples,) waveform in [-1, 1] at ``sr`` Hz from a file or a (samples,) array.

    Steps in this order: decode (paths), too short (under ``min_seconds`` s, untrimmed), silent (peak under
    ``silence_peak_dbfs`` dBFS), through the phone chain of ``phone_codec`` ("gsm" or "ulaw"; None: none), trim
    edge silence ``trim_db`` dB below the peak (None: no trim), add white noise
    ``noise_floor_db`` dB below the trimmed clip's mean power (None: none; the result may then exceed [-1, 1]).
    Raises AudioError naming the source and the reason: ``error.kind`` is "undecodable" (unreadable or too
    short) or "silent"; ``error.reason`` is the one-line text failure tables record.
    """
    if isinstance(source, np.ndarray):
        name = "waveform"
        waveform = np.asarray(source, dtype=np.float32)
        if waveform.ndim != 1 or not np.isfinite(waveform).all():
            raise AudioError(name, f"must be a finite (samples,) array, got shape {waveform.shape}")
        require_duration(waveform, sr=sr, min_seconds=min_seconds, source=name)
    else:
        name = str(source)
        waveform = load_audio(source, sr=sr, min_seconds=min_seconds)
    peak = float(np.max(np.abs(waveform)))
    if peak < 10 ** (silence_peak_dbfs / 20):
        level = "digital silence" if peak == 0 else f"peak {20 * np.log10(peak):.1f} dBFS"
        raise AudioError(name, f"{level}, below {silence_peak_dbfs:.0f} dBFS; nothing to describe", kind="silent")
    if phone_codec is not None:
        waveform = telephone(waveform, sr=sr, severity=phone_codec, seed=NOISE_FLOOR_SEED)
    if trim_db is not None:
        waveform, _ = librosa.effects.trim(waveform, top_db=trim_db)
    if noise_floor_db is not None:
        power = float(np.mean(np.square(waveform, dtype=np.float64)))
        floor = np.random.default_rng(NOISE_FLOOR_SEED).standard_normal(len(waveform))
        waveform = (waveform + floor * np.sqrt(power * 10 ** (-noise_floor_db / 10))).astype(np.float32)
    return waveform
