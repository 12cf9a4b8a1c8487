"""Notebook 06's tables over every model at once: read each model's out-of-fold predictions, then per-class
scores, calibration before / after temperature scaling, fairness by group, errors by arousal / valence and
scores by recording condition, one row (or block of rows) per model.

A model is keyed ``(model, features, adaptation)`` as in ``bootstrap.comparison_with_intervals``; its label in
tables and charts is ``"model · features"``.
"""

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.evaluation import calibration, error_analysis, fairness
from ser_utils.evaluation.metrics import confusion_table, per_class_report
from ser_utils.evaluation.results import read_predictions
from ser_utils.models.persistence import deployable_models, update_card

__all__ = [
    "ADAPTATION_BY_FEATURES",
    "adaptation_of",
    "label_of",
    "read_model_predictions",
    "on_common_clips",
    "per_class_table",
    "top_confusions",
    "calibration_table",
    "fairness_tables",
    "dimension_errors",
    "condition_scores",
    "deployable_keys",
    "calibrate_deployable_models",
]

# A model's adaptation to the test speaker: "none" (no clip of that speaker seen before predicting) unless its
# features say otherwise. Speaker-normalised features z-score with all of the speaker's test clips.
ADAPTATION_BY_FEATURES = {"speaker-normalised": "transductive"}


def adaptation_of(features: str) -> str:
    """``"transductive"`` for features normalised with the test speaker's own clips, else ``"none"``."""
    return ADAPTATION_BY_FEATURES.get(features, "none")


def label_of(key: tuple[str, str, str]) -> str:
    """``"model · features"`` of a (model, features, adaptation) key."""
    return f"{key[0]} · {key[1]}"


def read_model_predictions(outputs_dir, comparison: pd.DataFrame, *, protocol: str, split: str) -> dict:
    """{(model, features, adaptation): predictions} of every (model, features) row of ``comparison``
    (``comparison.model_comparison``) under ``protocol``; ``split`` "test" or "val" (models without
    validation predictions are left out of "val"). Rows adapted with enrolment clips (``enrol-<k>``, and
    ``transductive`` rows of views that are not transductive themselves) are left out: they score other clips."""
    found = {}
    columns = [column for column in ("model", "features", "adaptation") if column in comparison]
    for row in comparison[columns].drop_duplicates().itertuples(index=False):
        recorded = getattr(row, "adaptation", "none")
        if recorded not in ("none", adaptation_of(row.features)):
            continue  # enrolment rows score fewer clips (enrolment left out): compared in notebook 03's curve
        key = (row.model, row.features, adaptation_of(row.features) if recorded == "none" else recorded)
        try:
            found[key] = read_predictions(
                outputs_dir,
                model=row.model,
                protocol=protocol,
                features=row.features,
                split=split,
                adaptation=recorded,
            )
        except FileNotFoundError:
            if split == "test":
                raise
    return found


def on_common_clips(predictions_by_model: dict) -> tuple[dict, list]:
    """(the models scored on the clip set most models share (ties: the larger set), [(key, n clips) of the others]).

    Intervals and paired differences need every model on the same clips; a model recorded by an earlier run with
    other settings (fewer clips, another sample) is set aside and listed rather than stopping the comparison.
    """
    clip_sets = {key: frozenset(table["path"]) for key, table in predictions_by_model.items()}
    if not clip_sets:
        return {}, []
    counts = Counter(clip_sets.values())
    common = max(counts, key=lambda clips: (counts[clips], len(clips)))  # ties: the larger clip set
    kept = {key: table for key, table in predictions_by_model.items() if clip_sets[key] == common}
    others = [(key, len(clips)) for key, clips in clip_sets.items() if clips != common]
    return kept, others


def per_class_table(predictions_by_model: dict, *, classes) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (rows) for every model: model, features, adaptation first."""
    return pd.concat(
        [
            per_class_report(table["y_true"], table["y_pred"], labels=classes).assign(
                model=key[0], features=key[1], adaptation=key[2]
            )
            for key, table in predictions_by_model.items()
        ],
        ignore_index=True,
    )[["model", "features", "adaptation", "emotion", "precision", "recall", "f1", "support"]]


def top_confusions(predictions_by_model: dict, keys: list, *, classes) -> dict[str, pd.DataFrame]:
    """Row-normalised confusion matrices (recall on the diagonal) of the models ``keys``, by label."""
    return {
        label_of(key): confusion_table(
            predictions_by_model[key]["y_true"], predictions_by_model[key]["y_pred"], labels=classes, normalize=True
        )
        for key in keys
    }


def calibration_table(test_by_model: dict, val_by_model: dict, *, classes, n_bins: int, objective: str, in_sample: set):
    """Calibration of every model, before and after per-fold temperature scaling (``objective``: "brier" or
    "nll"); no test clip of a fold informs that fold's temperature.

    Each fold's temperature is cross-fitted on the other folds' held-out predictions
    (``calibration.calibrate_cross_fitted``: about twenty unseen speakers). Models with out-of-sample validation
    predictions (not in ``in_sample``, the scikit-learn baselines that refit on their validation rows) also get
    the estimate from each fold's own validation speakers (``calibration.calibrate_per_fold``: two speakers),
    NaN otherwise. Returns (table: model, features, adaptation, fitted_on, objective, temperature_median, n,
    ece_before, ece_after, nll_before, nll_after, ece_after_val_speakers, nll_after_val_speakers;
    {label: (reliability before, reliability after)}).
    """
    rows, reliability = [], {}
    for key, test in test_by_model.items():
        calibrated, temperatures = calibration.calibrate_cross_fitted(test, classes=classes, objective=objective)
        summary = calibration.calibration_summary(test, calibrated, classes=classes, n_bins=n_bins)
        val_speakers = {"ece_after": np.nan, "nll_after": np.nan}
        if key[0] not in in_sample and key in val_by_model:
            by_val, _ = calibration.calibrate_per_fold(test, val_by_model[key], classes=classes, objective=objective)
            val_speakers = calibration.calibration_summary(test, by_val, classes=classes, n_bins=n_bins)
        rows.append(
            {
                "model": key[0],
                "features": key[1],
                "adaptation": key[2],
                "fitted_on": "other folds' held-out speakers",
                "objective": objective,
                "temperature_median": float(temperatures["temperature"].median()),
                **summary,
                "ece_after_val_speakers": val_speakers["ece_after"],
                "nll_after_val_speakers": val_speakers["nll_after"],
            }
        )
        reliability[label_of(key)] = tuple(
            calibration.reliability_table(*calibration.prediction_arrays(table, classes=classes), n_bins=n_bins)
            for table in (test, calibrated)
        )
    return pd.DataFrame(rows), reliability


def fairness_tables(predictions_by_model: dict, *, groups: pd.Series, labels) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(UAR per group and its difference to the whole set, per-class recall gaps) of every model; each row
    names model, features and adaptation. ``groups``: clip path → group (e.g. gender)."""
    by_group, gaps = [], []
    for key, table in predictions_by_model.items():
        extra = {"features": key[1], "adaptation": key[2]}
        by_group.append(fairness.fairness_by_group(table, groups=groups, labels=labels, model=key[0]).assign(**extra))
        gaps.append(fairness.class_recall_gaps(table, groups=groups, labels=labels, model=key[0]).assign(**extra))
    return pd.concat(by_group, ignore_index=True), pd.concat(gaps, ignore_index=True)


def dimension_errors(predictions_by_model: dict) -> pd.DataFrame:
    """For every model and dimension (arousal, valence): how many of its errors stay within the true emotion's
    level, beside the share expected by chance (``error_analysis.confusions_by_dimension``)."""
    rows = [
        {"model": label_of(key), **error_analysis.confusions_by_dimension(table, dimension=dimension)[0]}
        for key, table in predictions_by_model.items()
        for dimension in error_analysis.DIMENSIONS
    ]
    return pd.DataFrame(rows)


def condition_scores(predictions_by_model: dict, manifest: pd.DataFrame, *, columns, labels) -> pd.DataFrame:
    """WA / UAR / macro-F1 per value of each manifest column in ``columns`` (e.g. intensity, statement) that the
    predicted clips carry, for every model; columns no predicted clip has are skipped."""
    annotated = [
        column
        for column in columns
        if column in manifest and manifest[column].astype(str).str.strip().replace("nan", "").ne("").any()
    ]
    return pd.concat(
        [
            error_analysis.scores_by_condition(table, manifest, column=column, labels=labels).assign(
                model=label_of(key)
            )
            for key, table in predictions_by_model.items()
            for column in annotated
        ],
        ignore_index=True,
    )


def deployable_keys(artifacts_dir, keys) -> list[tuple[str, str, str]]:
    """The (model, features, adaptation) keys among ``keys`` whose recipe has a deployable model folder."""
    return list(deployable_folders(artifacts_dir, keys))


def deployable_folders(artifacts_dir, keys) -> dict[tuple[str, str, str], Path]:
    """{key: its deployable model folder} for the (model, features, adaptation) keys among ``keys`` that have one."""
    folders = deployable_models(artifacts_dir)
    found = {}
    for key in keys:
        matches = [
            Path(folder)
            for name, features, folder in folders[["name", "features", "model_dir"]].values
            if name == key[0] and features in ("", key[1])
        ]
        if matches:
            found[key] = matches[0]
    return found


def calibrate_deployable_models(
    artifacts_dir, test_by_model: dict, *, classes, n_bins: int, objective: str
) -> pd.DataFrame:
    """Store a temperature in the card of every deployable model (``persistence.deployable_models``) whose
    recipe has out-of-fold predictions here, so ``predict`` writes calibrated probabilities.

    The temperature is fitted on the recipe's pooled out-of-fold test predictions: every speaker of the run,
    each predicted by a fold model that never heard them. The deployable model was trained on all of these
    speakers, so this uses no clip it will be judged on (its honest scores are the cross-validated ones).
    Returns one row per calibrated folder: name, features, model_dir, temperature, ece_before, ece_after.
    """
    rows = []
    for folder in deployable_models(artifacts_dir).itertuples(index=False):
        matches = [key for key in test_by_model if key[0] == folder.name and folder.features in ("", key[1])]
        if len(matches) != 1:
            continue
        probabilities, truth = calibration.prediction_arrays(test_by_model[matches[0]], classes=classes)
        temperature = calibration.fit_temperature(probabilities, truth, objective=objective)
        scaled = calibration.apply_temperature(probabilities, temperature)
        ece_before, ece_after = (
            calibration.expected_calibration_error(values, truth, n_bins=n_bins) for values in (probabilities, scaled)
        )
        update_card(
            folder.model_dir,
            calibration={
                "temperature": temperature,
                "fitted_on": "pooled out-of-fold predictions of the cross-validation (every speaker unseen)",
                "objective": objective,
                "ece_before": ece_before,
                "ece_after": ece_after,
                "n_bins": n_bins,
            },
        )
        rows.append(
            {
                "name": folder.name,
                "features": matches[0][1],
                "model_dir": folder.model_dir,
                "temperature": temperature,
                "ece_before": ece_before,
                "ece_after": ece_after,
            }
        )
    return pd.DataFrame(rows, columns=["name", "features", "model_dir", "temperature", "ece_before", "ece_after"])
