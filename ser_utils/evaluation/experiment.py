"""The evaluation loop every model family uses: speaker folds, a labelled leaky comparison, a final model.

A model family plugs in as a training function with this contract::

    train_fn(x_train, y_train, x_val, y_val, *, n_classes: int, work_dir: Path, seed: int) -> model

``x_*`` are model inputs indexed along axis 0 ((n, d) features, (n, frames, n_mels) spectrograms …),
``y_*`` integer class indices (n,); the validation part is for early stopping and model selection only.
The returned model is a ``keras.Model`` (softmax over ``n_classes``) or a fitted scikit-learn estimator
with ``predict_proba``; Keras families write ``training_history.csv`` into ``work_dir`` (see
``training.fit_model``). ``functools.partial`` binds a family's own knobs (variant, epochs …).
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ser_utils.data.taxonomy import EMOTIONS
from ser_utils.evaluation import protocol
from ser_utils.evaluation.results import predictions_table, record_results, write_predictions
from ser_utils.models.persistence import predict_probabilities, save_model
from ser_utils.models.training import HISTORY_FILE

__all__ = [
    "LEAKY_PROTOCOL",
    "ExperimentConfig",
    "Evaluation",
    "class_list",
    "class_indices",
    "align_inputs",
    "standardize_per_speaker",
    "protocol_name",
    "folds_for",
    "cross_validate",
    "leaky_evaluation",
    "record_evaluation",
    "train_deployable",
]

LEAKY_PROTOCOL = "random-leaky"  # same speakers in train and test: shown only beside the honest numbers
FOLDS_DIR = "folds"  # per-fold models live in <model dir>/folds/<fold>/

TrainFn = Callable[..., object]


@dataclass(frozen=True)
class ExperimentConfig:
    """The knobs of one model-comparison notebook run (filled from its parameters cell)."""

    data_dir: str | None
    corpora: tuple[str, ...] | None
    max_clips: int | None
    n_folds: int
    n_val_speakers: int
    epochs: int
    patience: int
    batch_size: int
    seed: int

    def __post_init__(self):
        if self.n_folds < 2 or min(self.epochs, self.patience, self.batch_size) < 1 or self.n_val_speakers < 0:
            raise ValueError(
                f"need n_folds >= 2, epochs, patience and batch_size >= 1, n_val_speakers >= 0; got {self}"
            )
        if self.max_clips is not None and self.max_clips < 2 * self.n_folds:
            raise ValueError(f"max_clips={self.max_clips} is too few for {self.n_folds} folds; raise it or pass None")


@dataclass(frozen=True)
class Evaluation:
    """One model's predictions under one protocol: per-clip ``predictions`` (results.predictions_table
    rows of every fold), Keras ``histories`` (fold, epoch, loss …; empty for scikit-learn), seconds spent."""

    model: str
    protocol: str
    predictions: pd.DataFrame
    histories: pd.DataFrame
    fit_seconds: float


def class_list(manifest: pd.DataFrame) -> list[str]:
    """The emotions present in ``manifest``, in the fixed taxonomy order: a model's class index order."""
    present = set(manifest["emotion"])
    unknown = present - set(EMOTIONS)
    if unknown:
        raise ValueError(f"emotions {sorted(unknown)} are not in the taxonomy; pass manifest.usable_rows(...)")
    return [emotion for emotion in EMOTIONS if emotion in present]


def class_indices(manifest: pd.DataFrame, classes) -> np.ndarray:
    """Integer labels (n,) of the manifest's emotions, indexing ``classes``."""
    lookup = {label: index for index, label in enumerate(classes)}
    missing = set(manifest["emotion"]) - set(lookup)
    if missing:
        raise ValueError(f"emotions {sorted(missing)} are not among the classes {list(classes)}")
    return manifest["emotion"].map(lookup).to_numpy(dtype=np.int64)


def align_inputs(
    manifest: pd.DataFrame, feature_sets: list, *, columns: list[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """(rows, inputs, columns): the manifest rows that have every ``feature_extraction.FeatureSet`` in
    ``feature_sets``, in manifest order, and their values concatenated on the last axis, (n, d) for tabular
    sets, optionally reduced to ``columns`` (in that order)."""
    if not feature_sets:
        raise ValueError("pass at least one FeatureSet from feature_extraction.extract_features")
    have_all = set.intersection(*(set(features.paths) for features in feature_sets))
    rows = manifest[manifest["path"].isin(have_all)].reset_index(drop=True)
    inputs = np.concatenate([features.aligned(rows)[1] for features in feature_sets], axis=-1)
    names = [column for features in feature_sets for column in features.columns]
    if columns is None:
        return rows, inputs, names
    position = {name: index for index, name in enumerate(names)}
    unknown = [name for name in columns if name not in position]
    if unknown:
        raise ValueError(f"columns {unknown[:5]} are not in the feature sets {[f.name for f in feature_sets]}")
    return rows, inputs[..., [position[name] for name in columns]], list(columns)


def standardize_per_speaker(inputs: np.ndarray, speakers) -> np.ndarray:
    """Z-score every feature within each speaker: (n, d) inputs, (n,) speaker ids → (n, d).

    Speaker normalisation removes much of what identifies a voice (pitch level, timbre). It uses every clip
    of a speaker, test speakers included (their features, never their labels), so a model trained on it
    needs several clips of a new speaker before it can predict: a research variant, not a single-file
    predictor. The statistics assume each speaker's clips mix emotions as in the corpus.
    """
    inputs, speakers = np.asarray(inputs, dtype=np.float64), np.asarray(speakers)
    if inputs.ndim != 2 or len(inputs) != len(speakers):
        raise ValueError(f"need (n, d) inputs and n speaker ids; got {inputs.shape} and {speakers.shape}")
    standardized = np.empty_like(inputs)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        spread = inputs[rows].std(axis=0)
        standardized[rows] = (inputs[rows] - inputs[rows].mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return standardized.astype(np.float32)


def protocol_name(folds: list[protocol.Fold]) -> str:
    """The honest protocol's name in results tables, e.g. ``speaker-6fold``."""
    return f"speaker-{len(folds)}fold"


def folds_for(
    manifest: pd.DataFrame, *, outputs_dir: Path, corpora: str, n_folds: int, n_val_speakers: int = 2
) -> tuple[list[protocol.Fold], Path]:
    """The saved protocol ``<outputs_dir>/folds_<corpora>.json`` if it covers exactly this manifest's speakers
    with ``n_folds`` folds, else new ``protocol.speaker_folds`` saved there. Returns (folds, path)."""
    path = Path(outputs_dir) / f"folds_{corpora}.json"
    if path.is_file():
        folds = protocol.load_folds(path)
        speakers = {s for fold in folds for s in (*fold.train_speakers, *fold.val_speakers, *fold.test_speakers)}
        if speakers == set(manifest["speaker"]) and len(folds) == n_folds:
            return folds, path
    folds = protocol.speaker_folds(manifest, n_folds=n_folds, n_val_speakers=n_val_speakers)
    return folds, protocol.save_folds(folds, path)


def cross_validate(
    train_fn: TrainFn,
    *,
    name: str,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    folds: list[protocol.Fold],
    classes,
    work_dir: Path,
    card: dict,
    seed: int = 0,
) -> Evaluation:
    """Train on each fold's training speakers (validation speakers for early stopping / selection only),
    predict its unseen test speakers, and save each fold's model to ``<work_dir>/folds/<fold>/``.

    ``inputs`` (n, ...) and ``manifest`` rows are aligned. ``card`` (``artifacts.model_card``) is copied into
    each fold's folder with that fold's speakers as its protocol. Keras seeds are reset to ``seed`` per fold.
    """
    _check_aligned(inputs, manifest)
    labels = class_indices(manifest, classes)
    tables, histories, seconds = [], [], 0.0
    for fold in folds:
        parts = protocol.split_indices(manifest, fold, seed=seed)
        fold_dir = Path(work_dir) / FOLDS_DIR / fold.name
        model, elapsed = _train(train_fn, inputs, labels, parts, n_classes=len(classes), work_dir=fold_dir, seed=seed)
        seconds += elapsed
        probabilities = predict_probabilities(model, inputs[parts["test"]], n_classes=len(classes))
        tables.append(
            predictions_table(
                manifest.iloc[parts["test"]], fold=fold.name, probabilities=probabilities, classes=classes
            )
        )
        histories.append(_history(fold_dir, fold.name))
        fold_card = {
            **card,
            "name": f"{name} ({fold.name})",
            "protocol": {"name": protocol_name(folds), **asdict(fold)},
        }
        save_model(model, model_dir=fold_dir, card=fold_card)
    return Evaluation(
        model=name,
        protocol=protocol_name(folds),
        predictions=pd.concat(tables, ignore_index=True),
        histories=pd.concat(histories, ignore_index=True),
        fit_seconds=seconds,
    )


def leaky_evaluation(
    train_fn: TrainFn,
    *,
    name: str,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    classes,
    work_dir: Path,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> Evaluation:
    """LEAKY: one random clip split (the same speakers in train and test), as the seeds evaluated.

    Only for showing beside ``cross_validate``'s honest numbers; its protocol is ``random-leaky`` and its
    model is not kept (``work_dir`` receives only the training log).
    """
    _check_aligned(inputs, manifest)
    labels = class_indices(manifest, classes)
    parts = protocol.random_split_indices(len(manifest), test_fraction=test_fraction, seed=seed)
    run_dir = Path(work_dir) / LEAKY_PROTOCOL
    model, seconds = _train(train_fn, inputs, labels, parts, n_classes=len(classes), work_dir=run_dir, seed=seed)
    probabilities = predict_probabilities(model, inputs[parts["test"]], n_classes=len(classes))
    table = predictions_table(manifest.iloc[parts["test"]], fold="random", probabilities=probabilities, classes=classes)
    return Evaluation(
        model=name,
        protocol=LEAKY_PROTOCOL,
        predictions=table,
        histories=_history(run_dir, "random"),
        fit_seconds=seconds,
    )


def record_evaluation(
    evaluation: Evaluation, *, outputs_dir: Path, corpora: str, features: str, classes
) -> pd.DataFrame:
    """Write the predictions and training histories and merge the scores into ``results.csv``.

    Files: ``predictions/<protocol>__<model>__<features>.csv``, ``training_history/<protocol>__<model>__<features>.csv``
    (Keras only; one row per fold and epoch) and ``results.csv`` rows per fold, pooled, mean and std
    (``fit_seconds`` column). Returns the score rows.
    """
    outputs_dir = Path(outputs_dir)
    stem = f"{evaluation.model}__{features}"
    write_predictions(
        evaluation.predictions,
        outputs_dir=outputs_dir,
        model=evaluation.model,
        protocol=evaluation.protocol,
        features=features,
    )
    if len(evaluation.histories):
        path = outputs_dir / "training_history" / f"{evaluation.protocol}__{stem}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        evaluation.histories.to_csv(path, index=False)
    return record_results(
        evaluation.predictions,
        outputs_dir=outputs_dir,
        corpora=corpora,
        protocol=evaluation.protocol,
        model=evaluation.model,
        features=features,
        labels=classes,
        extra={"fit_seconds": round(evaluation.fit_seconds, 2)},
    )


def train_deployable(
    train_fn: TrainFn,
    *,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    folds: list[protocol.Fold],
    classes,
    work_dir: Path,
    seed: int = 0,
) -> tuple[object, dict]:
    """Train one model on every speaker, holding out the first fold's validation speakers for early
    stopping / selection only. Returns (model, protocol section of its card, listing the speakers)."""
    _check_aligned(inputs, manifest)
    labels = class_indices(manifest, classes)
    everyone = sorted(set(manifest["speaker"]))
    val_speakers = folds[0].val_speakers
    split = replace(
        folds[0],
        name="deploy",
        train_speakers=tuple(s for s in everyone if s not in val_speakers),
        test_speakers=(),
    )
    parts = protocol.split_indices(manifest, split, seed=seed)
    model, _ = _train(train_fn, inputs, labels, parts, n_classes=len(classes), work_dir=Path(work_dir), seed=seed)
    return model, {
        "name": "deploy-all-speakers",
        "train_speakers": list(split.train_speakers),
        "val_speakers": list(val_speakers),
        "cross_validated_with": protocol_name(folds),
        "folds": [asdict(fold) for fold in folds],
    }


def _train(train_fn: TrainFn, inputs, labels, parts: dict, *, n_classes: int, work_dir: Path, seed: int):
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = train_fn(
        inputs[parts["train"]],
        labels[parts["train"]],
        inputs[parts["val"]],
        labels[parts["val"]],
        n_classes=n_classes,
        work_dir=work_dir,
        seed=seed,
    )
    return model, time.perf_counter() - start


def _history(run_dir: Path, fold: str) -> pd.DataFrame:
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_csv(path).assign(fold=fold)


def _check_aligned(inputs: np.ndarray, manifest: pd.DataFrame) -> None:
    if len(inputs) != len(manifest):
        raise ValueError(f"{len(inputs)} input rows but {len(manifest)} manifest rows; align them first")
