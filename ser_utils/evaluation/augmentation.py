"""Multi-condition training: retrain a saved model family with corrupted copies of its training clips only.

``augmented_clips`` gives a seeded ``fraction`` of a manifest's clips one corrupted version each, a condition
and severity drawn (seeded by the clip's file name) from a ``recipe``; babble for a speaker's copies is mixed
from the *other* speakers of its own test group, who train in every fold the speaker trains in, so no fold ever
hears its test speakers. ``augment_and_deploy`` then runs the experiment loop's contract: per fold, train on
the clean and augmented clips of the training and validation speakers, predict the clean clips of the test
speakers, save the fold model (``<work_dir>/folds/<fold>/``, the reference family's card with the recipe
added), record the predictions in ``results.csv``, and save a deployable model trained on every speaker the
same way (``input_spec``: the card's inputs when they differ from the reference's).

Notebook 07's span pool (``SPAN_POOL``) retrains families this way (``family_trainer``: each saved family's recipe)
on features of the speech span only, over a noise floor: the clip's edges trimmed ``trim_db`` below its peak, so the
quiet edges that noise fills stop counting, then seeded white noise added ``noise_floor_db`` below the span's power
(``audio.prepare``), so a recording's own faint noise changes the input little, some members hearing the clip
through a phone chain first, so a phone call changes their input little (``span_features`` labels the view); it then
pools them log-linearly (``fusion.cross_fitted_ensemble``).
"""

import re
import time
import zlib
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.audio.corruption import TELEPHONE_CODECS
from ser_utils.evaluation import experiment, protocol
from ser_utils.evaluation.results import metrics_summary, predictions_table
from ser_utils.evaluation.robustness import babble_talkers, corrupted_paths
from ser_utils.models.baselines import BASELINES, train_baseline
from ser_utils.models.cnn_lstm import settings_from_card, train_cnn_lstm
from ser_utils.models.dense_mlp import train_mlp
from ser_utils.models.persistence import FOLDS_DIR, predict_probabilities, read_card, save_model

__all__ = [
    "DEFAULT_RECIPE",
    "SPAN_POOL",
    "SPAN_POOL_FEATURES",
    "SPAN_VIEW",
    "span_features",
    "family_trainer",
    "augmented_clips",
    "augment_and_deploy",
]

# (condition, severities drawn from): noise and rooms at levels between the evaluated ones, the phone chain
DEFAULT_RECIPE = (
    ("white_noise", (25.0, 15.0, 7.5)),
    ("pink_noise", (15.0, 7.5)),
    ("babble", (25.0, 15.0, 7.5)),
    ("reverb", (0.4, 0.8)),
    ("telephone", tuple(TELEPHONE_CODECS)),
    ("mp3", (24.0,)),
)
# notebook 07's span pool: multi-condition models that read only the speech span, pooled (its results.csv key)
SPAN_POOL, SPAN_POOL_FEATURES = "span_pool", "speech-spans"
SPAN_VIEW = re.compile(
    r"(?P<view>.+)-trim(?P<trim>\d+(?:\.\d+)?)(?:-floor(?P<floor>\d+(?:\.\d+)?))?"
    rf"(?:-(?P<phone>{'|'.join(TELEPHONE_CODECS)}))?"
)
AUGMENT_SEED_OFFSET = 1  # augmented copies never reuse the seeds of the evaluated corruptions
AUGMENT_STREAM = 0  # the random stream of the per-clip draws (condition, severity, kept or not)


def span_features(features: str, trim_db: float, floor_db: float | None = None, phone_codec: str | None = None) -> str:
    """The label of ``features`` taken over the speech span, edges ``trim_db`` dB below the peak trimmed; with
    ``floor_db``, a white noise floor that many dB below the span's power added; with ``phone_codec``, the clip
    heard through that phone chain first: "<features>-trim<dB>[-floor<dB>][-<codec>]" (``SPAN_VIEW`` parses it)."""
    label = f"{features}-trim{trim_db:g}" + ("" if floor_db is None else f"-floor{floor_db:g}")
    return label + ("" if phone_codec is None else f"-{phone_codec}")


def family_trainer(family: str, training: dict, *, n_seeds: int = 1):
    """The experiment loop's training function for the recipe of a saved ``family``, read from its card's
    ``training`` section: a baseline kind (``models.baselines.BASELINES``), "mlp_tuned" (notebook 03's dense MLP)
    or "cnn_lstm" (notebook 04's, ``n_seeds`` seeds averaged)."""
    if family in BASELINES:
        return partial(train_baseline, kind=family, n_jobs=1)
    if family == "mlp_tuned":
        config = training["config"]
        keys = ("epochs", "batch_size", "patience", "learning_rate")
        return partial(train_mlp, variant="tuned", **{key: config[key] for key in keys})
    if family == "cnn_lstm":
        settings = replace(settings_from_card(training), n_seeds=n_seeds)
        return partial(train_cnn_lstm, settings=settings, epochs=training["epochs"])
    raise ValueError(f"no recipe to retrain {family!r}; use one of {(*BASELINES, 'mlp_tuned', 'cnn_lstm')}")


def augmented_clips(
    manifest: pd.DataFrame,
    folds: list[protocol.Fold],
    *,
    recipe=DEFAULT_RECIPE,
    fraction: float,
    audio_dir: Path,
    sr: int,
    seed: int,
    n_jobs: int,
) -> pd.DataFrame:
    """One corrupted version of each of a seeded ``fraction`` (0, 1] of the clips of ``manifest`` whose speaker
    some fold tests: the manifest's columns with ``path`` the corrupted file, plus source_path, condition and
    severity (text)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction is the share of clips augmented, in (0, 1]; got {fraction}")
    group_of = {speaker: fold for fold in folds for speaker in fold.test_speakers}
    rows = manifest[manifest["speaker"].isin(group_of)].reset_index(drop=True)
    draws = []
    for index, path in enumerate(rows["path"]):
        rng = np.random.default_rng([seed, AUGMENT_STREAM, zlib.crc32(Path(path).name.encode())])
        condition, severities = recipe[int(rng.integers(len(recipe)))]
        severity = severities[int(rng.integers(len(severities)))]
        if rng.random() < fraction:  # drawn last: a smaller fraction keeps a subset of the same copies
            draws.append((index, condition, severity))
    plan = pd.DataFrame(draws, columns=["row", "condition", "severity"])
    plan["group"] = rows["speaker"].map(lambda speaker: group_of[speaker].name).to_numpy()[plan["row"]]
    plan["path"] = ""
    for (condition, severity, group), part in plan.groupby(["condition", "severity", "group"]):
        sources = rows.iloc[part["row"]]
        talkers, label = None, ""
        if condition == "babble":
            speakers = [s for s in group_of if group_of[s].name == group and s not in set(sources["speaker"])]
            others = speakers or [s for s in group_of if group_of[s].name != group]  # a one-speaker group
            talkers = babble_talkers(manifest, others, sr=sr, seed=seed)
            label = f"augment-{group}"
        plan.loc[part.index, "path"] = corrupted_paths(
            list(sources["path"]),
            condition=condition,
            severity=severity,
            audio_dir=audio_dir,
            sr=sr,
            seed=seed + AUGMENT_SEED_OFFSET,
            n_jobs=n_jobs,
            talkers=talkers,
            talkers_label=label,
        )
    augmented = rows.iloc[plan["row"]].reset_index(drop=True)
    return augmented.assign(
        source_path=augmented["path"],
        path=plan["path"].to_numpy(),
        condition=plan["condition"].to_numpy(),
        severity=plan["severity"].astype(str).to_numpy(),
    )


def augment_and_deploy(
    train_fn,
    *,
    name: str,
    features: str,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    augmented_inputs: np.ndarray,
    augmented: pd.DataFrame,
    folds: list[protocol.Fold],
    classes,
    reference_dir: Path,
    work_dir: Path,
    outputs_dir: Path,
    corpora: str,
    seed: int,
    info: dict,
    recipe=DEFAULT_RECIPE,
    input_spec: dict | None = None,
) -> experiment.ModelRun:
    """Cross-validate ``train_fn`` (the experiment loop's contract) on clean ``inputs`` (n, d) aligned with
    ``manifest`` plus ``augmented_inputs`` (m, d) aligned with ``augmented`` (``augmented_clips``), scoring the
    clean test clips; record them under ``features`` and deploy a model trained on every speaker the
    same way. Cards copy the reference model folder's (``reference_dir``) with this ``name``, the recipe and
    ``input_spec`` (``serving.predictor.feature_input_spec`` of ``inputs``; None: the reference's, same inputs)."""
    reference = read_card(reference_dir)
    if input_spec is not None:
        reference = {**reference, "input": input_spec}
    training = {
        **reference.get("training", {}),
        "features": features,
        "augmentation": {"recipe": [list(entry) for entry in recipe]},
    }
    labels = experiment.class_indices(manifest, classes)
    augmented_labels = experiment.class_indices(augmented, classes)
    tables, seconds = [], 0.0
    for fold in folds:
        clean, noisy = (
            protocol.split_indices(manifest, fold, seed=seed),
            protocol.split_indices(augmented, fold, seed=seed),
        )
        fold_dir = Path(work_dir) / FOLDS_DIR / fold.name
        model, elapsed = _fit(
            train_fn, (inputs, labels), (augmented_inputs, augmented_labels), clean, noisy, fold_dir, classes, seed
        )
        seconds += elapsed
        probabilities = predict_probabilities(model, inputs[clean["test"]], n_classes=len(classes))
        tables.append(
            predictions_table(
                manifest.iloc[clean["test"]], fold=fold.name, probabilities=probabilities, classes=classes
            )
        )
        fold_card = {
            **reference,
            "name": f"{name} ({fold.name})",
            "training": training,
            "protocol": {"name": experiment.protocol_name(folds), **asdict(fold)},
        }
        save_model(model, model_dir=fold_dir, card=fold_card)
    evaluation = experiment.Evaluation(
        model=name,
        protocol=experiment.protocol_name(folds),
        predictions=pd.concat(tables, ignore_index=True),
        histories=pd.DataFrame(),
        fit_seconds=seconds,
    )
    scores = experiment.record_evaluation(
        evaluation, outputs_dir=outputs_dir, corpora=corpora, features=features, classes=classes, info=info
    )
    everyone = pd.concat([manifest, augmented[manifest.columns]], ignore_index=True)
    model, split = experiment.train_deployable(
        train_fn,
        inputs=np.concatenate([inputs, augmented_inputs]),
        manifest=everyone,
        folds=folds,
        classes=classes,
        work_dir=Path(work_dir),
        seed=seed,
    )
    card = {
        **reference,
        "name": name,
        "training": training,
        "protocol": {**split, "folds_file": reference.get("protocol", {}).get("folds_file", "")},
        "metrics": metrics_summary(scores),
    }
    card.pop("calibration", None)  # the reference's temperature was fitted to another model
    model_dir = save_model(model, model_dir=Path(work_dir), card=card)
    return experiment.ModelRun(
        features=features, evaluation=evaluation, scores=scores, model=model, model_dir=model_dir
    )


def _fit(train_fn, clean_data, augmented_data, clean: dict, noisy: dict, work_dir: Path, classes, seed: int):
    """Train on the clean + augmented rows of the training speakers, selecting on those of the validation ones."""
    (inputs, labels), (augmented_inputs, augmented_labels) = clean_data, augmented_data
    start = time.perf_counter()
    model = train_fn(
        np.concatenate([inputs[clean["train"]], augmented_inputs[noisy["train"]]]),
        np.concatenate([labels[clean["train"]], augmented_labels[noisy["train"]]]),
        np.concatenate([inputs[clean["val"]], augmented_inputs[noisy["val"]]]),
        np.concatenate([labels[clean["val"]], augmented_labels[noisy["val"]]]),
        n_classes=len(classes),
        work_dir=work_dir,
        seed=seed,
    )
    return model, time.perf_counter() - start
