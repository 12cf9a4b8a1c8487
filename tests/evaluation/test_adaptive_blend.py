"""Tests for ser_utils.evaluation.adaptive_blend: the normalised ensemble and a speaker-adaptive model averaged, the
weight of each fold chosen on the other folds."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.adaptive_blend import blend_probabilities, cross_fitted_blend
from ser_utils.evaluation.fusion import ALL_FOLDS
from ser_utils.evaluation.results import predictions_table

CLASSES = ["happy", "sad"]


def test_blend_is_the_weighted_mean_of_the_two_probabilities():
    normalised, adaptive = np.array([[0.8, 0.2]]), np.array([[0.4, 0.6]])
    np.testing.assert_allclose(blend_probabilities(normalised, adaptive, weight=0.0), normalised)
    np.testing.assert_allclose(blend_probabilities(normalised, adaptive, weight=1.0), adaptive)
    np.testing.assert_allclose(blend_probabilities(normalised, adaptive, weight=0.25), [[0.7, 0.3]])
    with pytest.raises(ValueError, match="weight"):
        blend_probabilities(normalised, adaptive, weight=1.5)
    with pytest.raises(ValueError, match="shapes"):
        blend_probabilities(normalised, adaptive[:, :1], weight=0.5)


def _table(true_probability_by_fold: dict[str, float]) -> pd.DataFrame:
    """Predictions of four clips per fold (two of each class) giving each clip's true class that probability."""
    tables = []
    for fold, p_true in true_probability_by_fold.items():
        emotion = np.array(CLASSES * 2)
        p_sad = np.where(emotion == "sad", p_true, 1 - p_true)
        rows = pd.DataFrame(
            {"path": [f"{fold}_{clip}.wav" for clip in range(4)], "corpus": "toy", "speaker": fold, "emotion": emotion}
        )
        probabilities = np.column_stack([1 - p_sad, p_sad])
        tables.append(predictions_table(rows, fold=fold, probabilities=probabilities, classes=CLASSES))
    return pd.concat(tables, ignore_index=True)


def test_each_fold_takes_the_weight_that_is_best_on_the_other_folds():
    """Known answer: the normalised model is right on folds 1-2 (0.6 on the true class) and wrong on fold 3 (0.4),
    the adaptive one wrong on folds 1-2 (0.45) and right on fold 3 (0.95). Weights in (0.19, 2/3) are right
    everywhere: folds 1, 2 and the deployable row take the smallest such grid weight, 0.2; fold 3, chosen on folds
    1-2 alone, where any weight below 2/3 is perfect, takes the smallest, 0 — had it seen its own clips it would
    have taken 0.2."""
    normalised = _table({"fold1": 0.6, "fold2": 0.6, "fold3": 0.4})
    adaptive = _table({"fold1": 0.45, "fold2": 0.45, "fold3": 0.95}).sample(frac=1.0, random_state=0)  # any order
    blended, choices = cross_fitted_blend(normalised, adaptive, classes=CLASSES)
    assert choices.set_index("fold")["weight"].to_dict() == {"fold1": 0.2, "fold2": 0.2, "fold3": 0.0, ALL_FOLDS: 0.2}
    assert list(blended["path"]) == list(normalised["path"])
    fold3 = blended["fold"].eq("fold3")
    np.testing.assert_allclose(
        blended.loc[fold3, ["prob_happy", "prob_sad"]], normalised.loc[fold3, ["prob_happy", "prob_sad"]]
    )
    expected = 0.8 * normalised.loc[~fold3, "prob_sad"] + 0.2 * np.where(
        normalised.loc[~fold3, "y_true"] == "sad", 0.45, 0.55
    )
    np.testing.assert_allclose(blended.loc[~fold3, "prob_sad"], expected)
    assert (blended.loc[~fold3, "y_pred"] == blended.loc[~fold3, "y_true"]).all()
    assert (blended.loc[fold3, "y_pred"] != blended.loc[fold3, "y_true"]).all()


def test_tables_of_different_clips_are_refused():
    normalised = _table({"fold1": 0.6, "fold2": 0.6})
    with pytest.raises(ValueError, match="different clips"):
        cross_fitted_blend(normalised, normalised.iloc[:-1], classes=CLASSES)
