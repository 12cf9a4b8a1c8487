"""Rebuild a predictor from a saved model folder alone and label audio files with emotions.

The card's ``input`` section says how audio becomes model input. Its ``kind`` names an entry of
``INPUT_KINDS``: ``"module:function"`` of a function

    function(paths: list[str], *, spec: dict, n_jobs: int) -> (inputs, reasons)

that turns audio files (any format and rate ``audio.load_audio`` reads) into ``inputs`` (n_ok, ...) for
the usable files, in order, and ``reasons`` (one str per path: "" when usable, else why not). ``spec`` is
the card's ``input`` dict. Every kind prepares audio with ``audio.prepare.prepare_waveform``, the
training-time preparation, so a clip the model was trained on is never refused here. Entries are imported
only when a model needs them; a new input kind adds one line here. The ``features`` kind covers every set
of ``features.extraction`` (handcrafted, egemaps, logmel, yamnet); build its spec with ``feature_input_spec``;
the ``waveform`` kind is the fine-tuned YAMNet's.
"""

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.audio.loading import expand_audio_paths
from ser_utils.evaluation.calibration import apply_temperature
from ser_utils.features.assembly import column_positions, select_columns
from ser_utils.models.persistence import load_model, predict_probabilities, read_card

__all__ = [
    "INPUT_KINDS",
    "Predictor",
    "input_function",
    "feature_input_spec",
    "feature_inputs",
    "load_predictor",
]

# Features are extracted in worker processes, never in this one: openSMILE aborts (malloc error) in a process
# that has loaded TensorFlow, which every predictor process has.
MIN_WORKERS = 2

INPUT_KINDS: dict[str, str] = {
    "features": "ser_utils.serving.predictor:feature_inputs",
    "waveform": "ser_utils.models.yamnet_finetune:waveform_inputs",
}


@dataclass(frozen=True)
class Predictor:
    """A loaded model with its card; ``predict_files`` labels audio files."""

    model: object
    card: dict

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    @property
    def temperature(self) -> float | None:
        """The card's calibration temperature (notebook 06 fits it), or None: probabilities as the model gives."""
        return self.card.get("calibration", {}).get("temperature")

    def predict_files(self, paths: Iterable[Path | str], *, n_jobs: int) -> pd.DataFrame:
        """One row per file (folders expanded to the audio files under them), in order: path, emotion,
        confidence, prob_<class> for every class, error ("" when fine; otherwise the reason, and NaN scores).
        Probabilities are calibrated with the card's temperature when it has one (the label never changes).

        ``n_jobs`` processes compute the inputs (worth it for many files). Raises ValueError when no
        file is given (a folder holding no audio gives none).
        """
        paths = [str(path) for path in expand_audio_paths(paths)]
        if not paths:
            raise ValueError("no audio files given (folders are searched for their audio files)")
        make_inputs = input_function(self.card["input"]["kind"])
        inputs, reasons = make_inputs(paths, spec=self.card["input"], n_jobs=n_jobs)
        probability_columns = [f"prob_{name}" for name in self.classes]
        table = pd.DataFrame(
            {
                "path": paths,
                "emotion": "",
                "confidence": np.nan,
                **{column: np.nan for column in probability_columns},
                "error": reasons,
            }
        )
        ok = table.index[table["error"].eq("")]
        if len(ok):
            probabilities = predict_probabilities(self.model, inputs, n_classes=len(self.classes))
            if self.temperature is not None:
                probabilities = apply_temperature(probabilities, self.temperature)
            table.loc[ok, probability_columns] = probabilities
            table.loc[ok, "confidence"] = probabilities.max(axis=1)
            table.loc[ok, "emotion"] = np.asarray(self.classes)[probabilities.argmax(axis=1)]
        return table


def input_function(kind: str) -> Callable[..., tuple[np.ndarray, list[str]]]:
    """The registered input function of ``kind`` (imported on first use)."""
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}; known: {sorted(INPUT_KINDS)} (register it in INPUT_KINDS)")
    module, function = INPUT_KINDS[kind].split(":")
    return getattr(importlib.import_module(module), function)


def feature_input_spec(feature_sets: list, *, columns: Iterable[str] | None = None) -> dict:
    """The card ``input`` section of a model fed ``feature_extraction.FeatureSet``s concatenated on their last
    axis, optionally reduced to ``columns`` (in that order): set names, configs, library versions, columns."""
    names = [column for features in feature_sets for column in features.columns]
    columns = names if columns is None else list(columns)
    column_positions(names, columns)  # raises ValueError naming unknown columns
    return {
        "kind": "features",
        "feature_sets": [features.name for features in feature_sets],
        "configs": {features.name: features.config["config"] for features in feature_sets},
        "libraries": {features.name: features.config["libraries"] for features in feature_sets},
        "columns": columns,
    }


def feature_inputs(paths: list[str], *, spec: dict, n_jobs: int) -> tuple[np.ndarray, list[str]]:
    """The ``features`` input kind: every set in ``spec`` extracted with its saved config (no cache; at least
    ``MIN_WORKERS`` processes), concatenated on the last axis and reduced to ``spec["columns"]``
    (``features.assembly.select_columns``). Returns (inputs (n_ok, ...), reasons).
    """
    from ser_utils.features.extraction import default_config, extract_features

    reasons, blocks, names = [""] * len(paths), [], []
    for name in spec["feature_sets"]:
        config = type(default_config(name))(**spec["configs"][name])
        features = extract_features(
            paths, feature_set=name, cache_dir=None, config=config, n_jobs=max(n_jobs, MIN_WORKERS), progress=False
        )
        failed = dict(zip(features.failures["path"], features.failures["reason"], strict=True))
        reasons = [reason or failed.get(path, "") for path, reason in zip(paths, reasons, strict=True)]
        blocks.append((features.values, [path not in failed for path in paths]))
        names += list(features.columns)
    usable = np.array([not reason for reason in reasons], dtype=bool)
    values = np.concatenate([block[usable[np.asarray(kept)]] for block, kept in blocks], axis=-1)
    try:
        inputs, _ = select_columns(values, names=names, columns=spec["columns"])
    except ValueError as error:
        raise ValueError(f"the model's feature sets changed since training: {error}; retrain the model") from None
    return inputs.astype(np.float32), reasons


def load_predictor(model_dir: Path | str) -> Predictor:
    """A ``Predictor`` from a folder written by ``artifacts.save_model`` (nothing else is needed)."""
    input_function(read_card(Path(model_dir))["input"]["kind"])  # imports the kind's module: its custom layers
    model, card = load_model(Path(model_dir))
    return Predictor(model=model, card=card)
