"""openSMILE eGeMAPS functionals of one clip: the 88-value extended Geneva Minimalistic Parameter Set.

eGeMAPS (Eyben et al. 2016) is the field's standard small, interpretable set: pitch, jitter, shimmer,
loudness, formants, spectral slope, alpha ratio, Hammarberg index, MFCC 1–4 and rate statistics,
computed by the ``opensmile`` package exactly as its reference implementation does.
"""

import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import opensmile
from joblib.externals.loky.backend.context import get_context as loky_context
from opensmile.core.config import config as smile_config

from ser_utils.audio.loading import SAMPLE_RATE

__all__ = ["DEFAULT_CONFIG", "EgemapsConfig", "egemaps_columns", "egemaps_features"]


@dataclass(frozen=True)
class EgemapsConfig:
    """Every setting that changes the eGeMAPS values; bump ``version`` when the code changes them."""

    sr: int = SAMPLE_RATE  # analysis sample rate, Hz
    trim_db: float | None = None  # None: the whole clip (openSMILE finds voiced segments itself)
    noise_floor_db: float | None = None  # white noise this many dB below the trimmed clip's power (None: none)
    phone_codec: str | None = None  # "gsm" / "ulaw": heard through that telephone chain first (None: as recorded)
    feature_set: str = "eGeMAPSv02"  # a member of opensmile.FeatureSet
    version: int = 1

    def __post_init__(self):
        if self.feature_set not in opensmile.FeatureSet.__members__:
            choices = ", ".join(opensmile.FeatureSet.__members__)
            raise ValueError(f"feature_set={self.feature_set!r} is not an openSMILE set ({choices})")


DEFAULT_CONFIG = EgemapsConfig()


def egemaps_columns(config: EgemapsConfig = DEFAULT_CONFIG) -> tuple[str, ...]:
    """openSMILE's names of the functionals, in order (88 for eGeMAPSv02)."""
    return tuple(_smile(config.feature_set).feature_names)


def egemaps_features(waveform: np.ndarray, *, config: EgemapsConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The functionals of a mono waveform (samples,) at ``config.sr`` Hz: float32 (n_columns,).

    openSMILE aborts the interpreter in a process that has loaded TensorFlow, so there the values are
    computed in a fresh process (slower; ``feature_extraction`` uses worker processes and avoids it).
    """
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"waveform must be a non-empty 1-D array, got shape {y.shape}")
    if "tensorflow" in sys.modules:
        with ProcessPoolExecutor(max_workers=1, mp_context=loky_context("loky")) as pool:
            return pool.submit(_functionals, y, config).result()
    return _functionals(y, config)


def _functionals(y: np.ndarray, config: EgemapsConfig) -> np.ndarray:
    return _engine(config.feature_set, config.sr, os.getpid()).functionals(y)


class _Engine:
    """One initialised openSMILE engine, reset between clips instead of rebuilt: parsing the configuration costs
    about 5 ms, an eighth of a 3-s clip's extraction. Its values equal ``opensmile.Smile.process_signal``'s (a test
    pins that); a lock keeps one clip in it at a time."""

    def __init__(self, feature_set: str, sr: int):
        smile = _smile(feature_set)
        options = smile._options()  # the sink and buffer settings Smile.process_signal uses
        options.update(
            source=os.path.join(smile.default_config_root, smile_config.EXTERNAL_INPUT_CONFIG), sampleRate=sr, nBits=16
        )
        self._n_columns = len(smile.feature_names)
        self._engine = smile._smile(options)
        self._lock = threading.Lock()

    def functionals(self, y: np.ndarray) -> np.ndarray:
        """(n_columns,) float32 functionals of a float (samples,) waveform; NaN when it holds too little audio."""
        rows = []
        pcm = (np.asarray(y, dtype=np.float32) * 32768).astype(np.int16)  # the 16-bit input openSMILE reads
        with self._lock:
            self._engine.external_sink_set_callback_ex(
                smile_config.EXTERNAL_OUTPUT_COMPONENT, lambda data, meta: rows.append(data.copy())
            )
            self._engine.external_audio_source_write_data(smile_config.EXTERNAL_SOURCE_COMPONENT, pcm.tobytes())
            self._engine.external_audio_source_set_eoi(smile_config.EXTERNAL_SOURCE_COMPONENT)
            self._engine.run()
            self._engine.reset()
        return rows[0].reshape(-1).astype(np.float32) if rows else np.full(self._n_columns, np.nan, np.float32)


@lru_cache(maxsize=8)
def _engine(feature_set: str, sr: int, pid: int) -> _Engine:
    """The engine of this process (``pid`` keys it: a forked worker builds its own)."""
    return _Engine(feature_set, sr)


@lru_cache(maxsize=4)
def _smile(feature_set: str) -> opensmile.Smile:
    """One openSMILE extractor per process and set (building it parses the config files)."""
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set], feature_level=opensmile.FeatureLevel.Functionals
    )
