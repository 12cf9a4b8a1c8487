"""Name the top AudioSet classes of audio files with YAMNet (mean score over each file's patches)."""

from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ser_utils.audio.loading import AUDIO_SUFFIXES, SAMPLE_RATE, AudioError, expand_audio_paths, load_audio
from ser_utils.yamnet.frontend import waveform_to_patches
from ser_utils.yamnet.network import yamnet_from_tflite
from ser_utils.yamnet.weights import load_class_names

__all__ = ["COLUMNS", "clip_scores", "classify_files"]

COLUMNS = ["path", "rank", "class_name", "score", "error"]


def clip_scores(waveform: np.ndarray, *, model: keras.Model) -> np.ndarray:
    """(521,) AudioSet scores of one (samples,) 16 kHz waveform: the mean over its patches.

    ``model`` is a YAMNet with its head (``yamnet_from_tflite()``).
    """
    patches = waveform_to_patches(waveform)
    scores = model(patches, training=False)["scores"]
    return keras.ops.convert_to_numpy(scores).mean(axis=0)


def classify_files(paths: Iterable[Path | str], *, top_k: int = 5, model_dir: Path | str | None = None) -> pd.DataFrame:
    """Top ``top_k`` AudioSet classes of every audio file in ``paths`` (files or folders).

    Any format and sample rate ``load_audio`` reads (resampled to 16 kHz). Returns a DataFrame with
    COLUMNS: ``top_k`` rows per readable file (rank 1 = highest mean score, error ""), and one row
    per unreadable file with its error message (rank 0, class_name "", score NaN), in input order.
    Raises ValueError when ``top_k`` is not in 1..521 or no path is given.
    """
    paths = expand_audio_paths(paths)
    if not paths:
        raise ValueError("no audio files given (folders are searched for " + ", ".join(AUDIO_SUFFIXES) + ")")
    class_names = load_class_names(model_dir=model_dir)
    if not 1 <= top_k <= len(class_names):
        raise ValueError(f"top_k must be between 1 and {len(class_names)}, got {top_k}")
    model = yamnet_from_tflite(model_dir=model_dir)
    rows = []
    for path in paths:
        try:
            scores = clip_scores(load_audio(path, sr=SAMPLE_RATE), model=model)
        except AudioError as error:
            rows.append({"path": str(path), "rank": 0, "class_name": "", "score": np.nan, "error": str(error)})
            continue
        for rank, index in enumerate(np.argsort(scores)[::-1][:top_k], start=1):
            rows.append(
                {
                    "path": str(path),
                    "rank": rank,
                    "class_name": class_names[index],
                    "score": float(scores[index]),
                    "error": "",
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
