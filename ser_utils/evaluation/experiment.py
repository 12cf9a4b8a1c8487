"""The evaluation loop every model family uses: speaker folds, a labelled leaky comparison, a final model.

A model family plugs in as a training function with this contract::

    train_fn(x_train, y_train, x_val, y_val, *, n_classes: int, work_dir: Path, seed: int) -> model

``x_*`` are model inputs indexed along axis 0 ((n, d) features, (n, frames, n_mels) spectrograms …),
``y_*`` integer class indices (n,); the validation part is for early stopping and model selection only.
The returned model is a ``keras.Model`` (softmax over ``n_classes``) or a fitted scikit-learn estimator
with ``predict_proba``; Keras families write ``training_history.csv`` into ``work_dir`` (see
``training.fit_model``). ``functools.partial`` binds a family's own knobs (variant, epochs …).
"""

import contextlib
import io
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ser_utils.data.taxonomy import EMOTIONS
from ser_utils.evaluation import protocol
from ser_utils.evaluation.metrics import METRICS
from ser_utils.evaluation.results import (
    NO_ADAPTATION,
    metrics_summary,
    predictions_table,
    record_results,
    write_predictions,
)
from ser_utils.io.provenance import write_table
from ser_utils.models.persistence import FOLDS_DIR, predict_probabilities, save_model
from ser_utils.models.training import HISTORY_FILE, limit_threads, parallel_trainings

__all__ = [
    "LEAKY_PROTOCOL",
    "Evaluation",
    "ModelRun",
    "class_list",
    "class_indices",
    "protocol_name",
    "folds_for",
    "cross_validate",
    "leaky_evaluation",
    "record_evaluation",
    "train_deployable",
    "deployment_split",
    "evaluate_and_deploy",
    "saved_folds",
    "evaluate_leaky",
    "split_data",
    "train_side_by_side",
]

LEAKY_PROTOCOL = "random-leaky"  # same speakers in train and test: shown only beside the honest numbers

TrainFn = Callable[..., object]


@dataclass(frozen=True)
class Evaluation:
    """One model's predictions under one protocol: per-clip ``predictions`` of the test speakers
    (results.predictions_table rows of every fold), Keras ``histories`` (fold, epoch, loss …; empty for
    scikit-learn), seconds spent, and ``val_predictions`` of each fold's validation speakers (empty when a
    protocol has none). Scikit-learn baselines refit on their validation rows, so theirs are in-sample.
    ``adaptation`` (``results.check_adaptation``): what the model saw of a test speaker before predicting."""

    model: str
    protocol: str
    predictions: pd.DataFrame
    histories: pd.DataFrame
    fit_seconds: float
    val_predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    adaptation: str = NO_ADAPTATION


@dataclass(frozen=True)
class ModelRun:
    """One model family on one feature view after ``evaluate_and_deploy`` (or ``evaluate_leaky``): its
    ``evaluation``, the ``scores`` rows it added to ``results.csv`` and, when deployed, the saved ``model``
    and its folder ``model_dir`` (None otherwise)."""

    features: str
    evaluation: Evaluation
    scores: pd.DataFrame
    model: object | None = None
    model_dir: Path | None = None

    @property
    def summary(self) -> dict:
        """One display row: model, features, protocol, pooled WA / UAR / macro-F1, seconds, model folder."""
        pooled = self.scores.set_index(self.scores["fold"].astype(str)).loc["pooled"]
        return {
            "model": self.evaluation.model,
            "features": self.features,
            "protocol": self.evaluation.protocol,
            **{metric: round(float(pooled[metric]), 4) for metric in METRICS},
            "fit_seconds": round(self.evaluation.fit_seconds, 1),
            "model_dir": str(self.model_dir) if self.model_dir else "",
        }


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


def protocol_name(folds: list[protocol.Fold]) -> str:
    """The honest protocol's name in results tables, e.g. ``speaker-6fold``."""
    return f"speaker-{len(folds)}fold"


def folds_for(
    manifest: pd.DataFrame, *, outputs_dir: Path, corpora: str, n_folds: int, n_val_speakers: int, info: dict
) -> tuple[list[protocol.Fold], Path]:
    """The saved protocol ``<outputs_dir>/folds_<corpora>.json`` if it covers exactly this manifest's speakers
    with ``n_folds`` folds, else new ``protocol.speaker_folds`` saved there with ``info``
    (``provenance.run_info``) in ``folds_<corpora>.meta.json``. Returns (folds, path)."""
    path = Path(outputs_dir) / f"folds_{corpora}.json"
    if path.is_file():
        folds = protocol.load_folds(path)
        speakers = {s for fold in folds for s in (*fold.train_speakers, *fold.val_speakers, *fold.test_speakers)}
        if speakers == set(manifest["speaker"]) and len(folds) == n_folds:
            return folds, path
    folds = protocol.speaker_folds(manifest, n_folds=n_folds, n_val_speakers=n_val_speakers)
    return folds, protocol.save_folds(folds, path, info=info)


def saved_folds(
    outputs_dir: Path, manifest: pd.DataFrame, *, corpora: tuple[str, ...] | None
) -> tuple[pd.DataFrame, str, list[protocol.Fold]]:
    """(the ``manifest`` rows of the folds' speakers, corpora label, folds) of the speaker folds notebooks 03-05
    saved in ``outputs_dir``: those of ``corpora`` when given, else of every corpus in ``manifest`` when that file
    exists, else the only folds file there (a quick profile's clip sample may cover fewer corpora than the data).
    Raises FileNotFoundError, naming the files found, when none fits."""
    label = "-".join(sorted(corpora or manifest["corpus"].unique()))
    path = Path(outputs_dir) / f"folds_{label}.json"
    saved = sorted(file for file in Path(outputs_dir).glob("folds_*.json") if not file.name.endswith(".meta.json"))
    if not path.is_file() and not corpora and len(saved) == 1:
        path, label = saved[0], saved[0].stem.removeprefix("folds_")
    if not path.is_file():
        found = ", ".join(file.name for file in saved) or "none"
        raise FileNotFoundError(f"no {path.name} in {outputs_dir} (found: {found}); run notebook 03 or set CORPORA")
    folds = protocol.load_folds(path)
    speakers = {s for fold in folds for s in (*fold.train_speakers, *fold.val_speakers, *fold.test_speakers)}
    return manifest[manifest["speaker"].isin(speakers)].reset_index(drop=True), label, folds


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
    seed: int,
    adaptation: str = NO_ADAPTATION,
    n_jobs: int = 1,
    deploy: bool = False,
) -> tuple[Evaluation, tuple[object, dict] | None]:
    """Train on each fold's training speakers (validation speakers for early stopping / selection only),
    predict its unseen test speakers, and save each fold's model to ``<work_dir>/folds/<fold>/``. With
    ``n_jobs`` > 1 the folds train side by side in worker processes (``train_side_by_side``).

    ``inputs`` (n, ...) and ``manifest`` rows are aligned. ``card`` (``artifacts.model_card``) is copied into
    each fold's folder with that fold's speakers as its protocol. Keras seeds are reset to ``seed`` per fold.
    ``adaptation`` labels the predictions: ``transductive`` when ``inputs`` were normalised with every clip
    of each speaker (``normalization.standardize_per_speaker``), else ``none``. With ``deploy`` the deployable
    model (``train_deployable``'s: every speaker, the first fold's validation speakers held out) trains in the same
    batch as the folds, first, as the longest, into ``work_dir``. Returns (evaluation, (deployable model, protocol
    section of its card) or None).
    """
    _check_aligned(inputs, manifest)
    labels = class_indices(manifest, classes)
    tables, val_tables, histories, seconds = [], [], [], 0.0
    splits = [protocol.split_indices(manifest, fold, seed=seed) for fold in folds]
    fold_dirs = [Path(work_dir) / FOLDS_DIR / fold.name for fold in folds]
    datasets, work_dirs = [split_data(inputs, labels, parts) for parts in splits], list(fold_dirs)
    if deploy:
        deploy_parts, deploy_section = deployment_split(manifest, folds, seed=seed)
        datasets.insert(0, split_data(inputs, labels, deploy_parts))
        work_dirs.insert(0, Path(work_dir))
    trained = train_side_by_side(
        train_fn,
        datasets,
        work_dirs=work_dirs,
        n_classes=len(classes),
        seed=seed,
        n_jobs=n_jobs,
    )
    deployed = (trained.pop(0)[0], deploy_section) if deploy else None
    for fold, parts, fold_dir, (model, elapsed) in zip(folds, splits, fold_dirs, trained, strict=True):
        seconds += elapsed
        for split, collected in (("test", tables), ("val", val_tables)):
            probabilities = predict_probabilities(model, inputs[parts[split]], n_classes=len(classes))
            rows = manifest.iloc[parts[split]]
            collected.append(
                predictions_table(
                    rows, fold=fold.name, probabilities=probabilities, classes=classes, adaptation=adaptation
                )
            )
        histories.append(_history(fold_dir, fold.name))
        fold_card = {
            **card,
            "name": f"{name} ({fold.name})",
            "protocol": {"name": protocol_name(folds), **asdict(fold)},
        }
        save_model(model, model_dir=fold_dir, card=fold_card)
    evaluation = Evaluation(
        model=name,
        protocol=protocol_name(folds),
        predictions=pd.concat(tables, ignore_index=True),
        histories=pd.concat(histories, ignore_index=True),
        fit_seconds=seconds,
        val_predictions=pd.concat(val_tables, ignore_index=True),
        adaptation=adaptation,
    )
    return evaluation, deployed


def leaky_evaluation(
    train_fn: TrainFn,
    *,
    name: str,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    classes,
    work_dir: Path,
    seed: int,
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
    model, seconds = _train(
        train_fn, split_data(inputs, labels, parts), n_classes=len(classes), work_dir=run_dir, seed=seed
    )
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
    evaluation: Evaluation, *, outputs_dir: Path, corpora: str, features: str, classes, info: dict
) -> pd.DataFrame:
    """Write the predictions and training histories and merge the scores into ``results.csv``.

    Files: ``predictions/<protocol>__<model>__<features>.csv`` (and ``predictions/validation/…`` for the
    validation speakers), ``training_history/<protocol>__<model>__<features>.csv``
    (Keras only; one row per fold and epoch) and ``results.csv`` rows per fold, pooled, mean and std
    (``fit_seconds`` column), each with ``info`` (``provenance.run_info``) in a ``.meta.json``. Returns the
    score rows.
    """
    outputs_dir = Path(outputs_dir)
    stem = f"{evaluation.model}__{features}"
    for split, predictions in (("test", evaluation.predictions), ("val", evaluation.val_predictions)):
        if len(predictions):
            write_predictions(
                predictions,
                outputs_dir=outputs_dir,
                model=evaluation.model,
                protocol=evaluation.protocol,
                features=features,
                info=info,
                split=split,
                adaptation=evaluation.adaptation,
            )
    if len(evaluation.histories):
        name = f"{evaluation.protocol}__{stem}"
        write_table(evaluation.histories, name, outputs_dir=outputs_dir / "training_history", info=info)
    return record_results(
        evaluation.predictions,
        outputs_dir=outputs_dir,
        corpora=corpora,
        protocol=evaluation.protocol,
        model=evaluation.model,
        features=features,
        labels=classes,
        info=info,
        extra={"fit_seconds": round(evaluation.fit_seconds, 2)},
        adaptation=evaluation.adaptation,
    )


def train_deployable(
    train_fn: TrainFn,
    *,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    folds: list[protocol.Fold],
    classes,
    work_dir: Path,
    seed: int,
) -> tuple[object, dict]:
    """Train one model on every speaker, holding out the first fold's validation speakers for early
    stopping / selection only (``deployment_split``). Returns (model, protocol section of its card)."""
    _check_aligned(inputs, manifest)
    parts, section = deployment_split(manifest, folds, seed=seed)
    data = split_data(inputs, class_indices(manifest, classes), parts)
    model, _ = _train(train_fn, data, n_classes=len(classes), work_dir=Path(work_dir), seed=seed)
    return model, section


def deployment_split(manifest: pd.DataFrame, folds: list[protocol.Fold], *, seed: int) -> tuple[dict, dict]:
    """(row indices {"train", "val", "test"} of a model trained on every speaker, the first fold's validation
    speakers held out for early stopping / selection only; the protocol section of its card, listing them)."""
    everyone = sorted(set(manifest["speaker"]))
    val_speakers = folds[0].val_speakers
    split = replace(
        folds[0],
        name="deploy",
        train_speakers=tuple(s for s in everyone if s not in val_speakers),
        test_speakers=(),
    )
    return protocol.split_indices(manifest, split, seed=seed), {
        "name": "deploy-all-speakers",
        "train_speakers": list(split.train_speakers),
        "val_speakers": list(val_speakers),
        "cross_validated_with": protocol_name(folds),
        "folds": [asdict(fold) for fold in folds],
    }


def evaluate_and_deploy(
    train_fn: TrainFn,
    *,
    name: str,
    features: str,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    folds: list[protocol.Fold],
    folds_file: str,
    classes,
    card: dict,
    work_dir: Path,
    outputs_dir: Path,
    corpora: str,
    seed: int,
    info: dict,
    deploy: bool = True,
    export: Callable[[object], object] | None = None,
    training_details: Callable[[object], dict] | None = None,
    deploy_card: dict | None = None,
    adaptation: str = NO_ADAPTATION,
    n_jobs: int = 1,
) -> ModelRun:
    """One model family's whole evaluation chain: cross-validate → record → deployable model → summary.

    ``cross_validate`` on ``folds`` (per-fold models and cards under ``<work_dir>/folds/``), then
    ``record_evaluation`` of the predictions under ``features`` (``outputs_dir``: predictions, histories,
    ``results.csv``). With ``deploy``, one model is trained on every speaker (``deployment_split``; side by side
    with the folds, so a free core takes it while the folds train) and saved to
    ``work_dir`` with ``card`` completed by the deployment protocol (naming ``folds_file``, the folds' file
    name) and the cross-validated ``metrics``. Optional steps for the deployable model only: ``export`` turns
    the trained model into the saved one (e.g. a trunk-activation model into a waveform model),
    ``training_details(model)`` adds entries read off it to the card's ``training`` section (e.g.
    ``baselines.chosen_params``), ``deploy_card`` replaces card sections (e.g. its ``input``).
    ``adaptation`` labels the rows and predictions and ``n_jobs`` trains folds side by side (``cross_validate``).
    """
    evaluation, deployed = cross_validate(
        train_fn,
        name=name,
        inputs=inputs,
        manifest=manifest,
        folds=folds,
        classes=classes,
        work_dir=work_dir,
        card=card,
        seed=seed,
        adaptation=adaptation,
        n_jobs=n_jobs,
        deploy=deploy,
    )
    scores = record_evaluation(
        evaluation, outputs_dir=outputs_dir, corpora=corpora, features=features, classes=classes, info=info
    )
    if not deploy:
        return ModelRun(features=features, evaluation=evaluation, scores=scores)
    model, split = deployed
    final_card = {
        **card,
        "protocol": {**split, "folds_file": folds_file},
        "metrics": metrics_summary(scores),
        "training": {**card.get("training", {}), **(training_details(model) if training_details else {})},
        **(deploy_card or {}),
    }
    model = export(model) if export else model
    model_dir = save_model(model, model_dir=Path(work_dir), card=final_card)
    return ModelRun(features=features, evaluation=evaluation, scores=scores, model=model, model_dir=model_dir)


def evaluate_leaky(
    train_fn: TrainFn,
    *,
    name: str,
    features: str,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    classes,
    work_dir: Path,
    outputs_dir: Path,
    corpora: str,
    seed: int,
    info: dict,
) -> ModelRun:
    """LEAKY: ``leaky_evaluation`` (one random clip split) recorded like an honest run, protocol
    ``random-leaky``; only for showing beside the honest numbers, so nothing is deployed."""
    evaluation = leaky_evaluation(
        train_fn, name=name, inputs=inputs, manifest=manifest, classes=classes, work_dir=work_dir, seed=seed
    )
    scores = record_evaluation(
        evaluation, outputs_dir=outputs_dir, corpora=corpora, features=features, classes=classes, info=info
    )
    return ModelRun(features=features, evaluation=evaluation, scores=scores)


def split_data(inputs: np.ndarray, labels: np.ndarray, parts: dict) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_val, y_val): the rows of ``parts``' train and val indices (``protocol.split_indices``)."""
    return inputs[parts["train"]], labels[parts["train"]], inputs[parts["val"]], labels[parts["val"]]


def train_side_by_side(
    train_fn: TrainFn,
    datasets: list[tuple[np.ndarray, ...]],
    *,
    work_dirs: list[Path],
    n_classes: int,
    seed: int,
    n_jobs: int,
) -> list[tuple[object, float]]:
    """(model, training seconds) for each (x_train, y_train, x_val, y_val) of ``datasets``, into its work dir.

    One after another here, or with ``n_jobs`` > 1 (``training.parallel_trainings``: CPUs only) in that many worker
    processes of joblib's active backend, the cores shared out as TensorFlow threads; what a worker prints is
    printed here when its training returns. Each training is seeded alike, so the models do not depend on
    ``n_jobs`` beyond floating-point rounding.
    """
    n_jobs = min(parallel_trainings(n_jobs), len(datasets))
    if n_jobs == 1:
        return [
            _train(train_fn, data, n_classes=n_classes, work_dir=work_dir, seed=seed)
            for data, work_dir in zip(datasets, work_dirs, strict=True)
        ]
    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    outcomes = Parallel(n_jobs=n_jobs)(
        delayed(_train_in_worker)(train_fn, data, n_classes=n_classes, work_dir=work_dir, seed=seed, threads=threads)
        for data, work_dir in zip(datasets, work_dirs, strict=True)
    )
    trained = []
    for model, seconds, printed in outcomes:
        print(printed, end="")
        trained.append((model, seconds))
    return trained


def _train_in_worker(train_fn: TrainFn, data: tuple, *, threads: int, **kwargs):
    """``_train`` in a worker process on ``threads`` TensorFlow threads: (model, seconds, what it printed).

    The worker's previous training (its model already sent back) is cleared from Keras first, so a worker that
    trains several folds does not keep every earlier graph."""
    limit_threads(threads)
    keras.backend.clear_session()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        model, seconds = _train(train_fn, data, **kwargs)
    return model, seconds, printed.getvalue()


def _train(train_fn: TrainFn, data: tuple, *, n_classes: int, work_dir: Path, seed: int):
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = train_fn(*data, n_classes=n_classes, work_dir=work_dir, seed=seed)
    return model, time.perf_counter() - start


def _history(run_dir: Path, fold: str) -> pd.DataFrame:
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_csv(path).assign(fold=fold)


def _check_aligned(inputs: np.ndarray, manifest: pd.DataFrame) -> None:
    if len(inputs) != len(manifest):
        raise ValueError(f"{len(inputs)} input rows but {len(manifest)} manifest rows; align them first")
