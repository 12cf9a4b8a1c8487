"""Blend the voice-normalised ensemble with a speaker-adaptive model fed the same enrolment clips.

Posterior normalisation (``evaluation.posterior_normalisation``) corrects the ensemble's lean towards some emotions
for a voice; a speaker-adaptive model (``evaluation.adaptation``) centres its features on the voice's enrolment mean
before it classifies, which corrects where the voice sits in feature space. The two use the same k clips and fix
different errors, so their probabilities are averaged: ``(1 - weight) · normalised + weight · adaptive``. The weight
comes from ``BLEND_WEIGHTS`` (0 keeps the normalised ensemble alone) and is chosen for each fold on the other folds'
speakers only.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ser_utils.evaluation.fusion import ALL_FOLDS
from ser_utils.evaluation.metrics import score

__all__ = ["BLEND_WEIGHTS", "blend_probabilities", "cross_fitted_blend"]

BLEND_WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))  # the adaptive model's share, tried on other folds


def blend_probabilities(normalised: np.ndarray, adaptive: np.ndarray, *, weight: float) -> np.ndarray:
    """(n, n_classes) ``(1 - weight) · normalised + weight · adaptive``, both (n, n_classes) probabilities."""
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must lie in [0, 1], got {weight}")
    normalised, adaptive = np.asarray(normalised, float), np.asarray(adaptive, float)
    if normalised.shape != adaptive.shape:
        raise ValueError(f"probabilities of different shapes: {normalised.shape} and {adaptive.shape}")
    return (1 - weight) * normalised + weight * adaptive


def cross_fitted_blend(
    normalised: pd.DataFrame, adaptive: pd.DataFrame, *, classes, weights: Sequence[float] = BLEND_WEIGHTS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``normalised`` blended with ``adaptive`` (predictions tables of the same scored clips and folds: path, fold,
    y_true, prob_<class>), no fold choosing its own weight.

    For each fold: the entry of ``weights`` with the best pooled UAR on the other folds' clips (ties: the smaller
    weight), applied to that fold's clips; the row ``ALL_FOLDS`` chooses on every fold (a deployable model's
    weight). Returns (blended table in ``normalised``'s row order, y_pred and confidence recomputed; choices: one row
    per fold with weight and other_folds_uar).
    """
    columns = [f"prob_{name}" for name in classes]
    aligned = adaptive.drop_duplicates("path").set_index("path").reindex(normalised["path"])
    if len(adaptive) != len(normalised) or aligned["fold"].isna().any():
        raise ValueError("the two predictions tables score different clips; enrol both with the same draw")
    if not np.array_equal(aligned["fold"].to_numpy(), normalised["fold"].to_numpy()):
        raise ValueError("the two predictions tables were scored on different folds")
    tried = sorted(set(float(weight) for weight in weights))
    blends = [
        blend_probabilities(normalised[columns].to_numpy(), aligned[columns].to_numpy(), weight=weight)
        for weight in tried
    ]
    labels, folds = normalised["y_true"].to_numpy(), normalised["fold"].to_numpy()
    predicted = [np.asarray(classes)[blend.argmax(axis=1)] for blend in blends]
    chosen, choices = np.zeros_like(blends[0]), []
    for fold in [*sorted(set(folds)), ALL_FOLDS]:
        others = folds != fold
        uars = [score(labels[others], labels_of[others], labels=classes)["uar"] for labels_of in predicted]
        best = int(np.argmax(uars))  # the first maximum: the smallest weight among ties
        choices.append({"fold": fold, "weight": tried[best], "other_folds_uar": uars[best]})
        chosen[~others] = blends[best][~others]
    table = normalised.copy()
    table[columns] = chosen
    table["y_pred"] = np.asarray(classes)[chosen.argmax(axis=1)]
    table["confidence"] = chosen.max(axis=1)
    return table, pd.DataFrame(choices)
