"""Tests for ser_utils.evaluation.posterior_normalisation: a voice's bias removed from its posteriors."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.fusion import ALL_FOLDS
from ser_utils.evaluation.posterior_normalisation import (
    cross_fitted_normalisation,
    enrolled_predictions,
    normalisation_over_draws,
    normalise_posteriors,
    setting_for,
)
from ser_utils.evaluation.protocol import enrolment_split
from ser_utils.evaluation.results import predictions_table

CLASSES = ["happy", "sad"]


def _biased_predictions(n_speakers: int = 4, n_clips: int = 10) -> pd.DataFrame:
    """Out-of-fold predictions where every speaker's clips lean toward one class: half the speakers toward "sad",
    half toward "happy". Each clip's evidence for its own class is +-1 logit, the voice's bias 1.5 logits, so
    without adaptation a biased speaker's clips of the other class are all wrong."""
    tables = []
    for index in range(n_speakers):
        emotion = np.tile(CLASSES, n_clips // 2)
        bias = 1.5 if index % 2 else -1.5  # toward sad / happy
        logit_sad = np.where(emotion == "sad", 1.0, -1.0) + bias
        probabilities = np.column_stack([1 / (1 + np.exp(logit_sad)), 1 / (1 + np.exp(-logit_sad))])
        rows = pd.DataFrame(
            {
                "path": [f"s{index}_{clip}.wav" for clip in range(n_clips)],
                "corpus": "toy",
                "speaker": f"s{index}",
                "emotion": emotion,
            }
        )
        tables.append(
            predictions_table(rows, fold=f"fold{index // 2 + 1}", probabilities=probabilities, classes=CLASSES)
        )
    return pd.concat(tables, ignore_index=True)


def test_dividing_by_the_enrolment_mean_removes_a_constant_bias():
    probabilities = np.array([[0.8, 0.2], [0.6, 0.4]])
    enrolment = np.array([[0.7, 0.3], [0.7, 0.3]])  # the voice leans toward class 0
    adapted = normalise_posteriors(probabilities, enrolment, strength=1.0)
    expected = np.array([[0.8 / 0.7, 0.2 / 0.3], [0.6 / 0.7, 0.4 / 0.3]])
    np.testing.assert_allclose(adapted, expected / expected.sum(axis=1, keepdims=True))
    assert adapted[1].argmax() == 1  # the weaker "class 0" clip flips once the lean is removed
    np.testing.assert_allclose(normalise_posteriors(probabilities, enrolment, strength=0.0), probabilities)
    np.testing.assert_allclose(normalise_posteriors(probabilities, np.empty((0, 2)), strength=1.0), probabilities)
    with pytest.raises(ValueError, match="strength"):
        normalise_posteriors(probabilities, enrolment, strength=-1.0)


def test_enrolment_clips_are_the_adaptive_models_draw_and_are_never_scored():
    predictions = _biased_predictions()
    adapted = enrolled_predictions(predictions, classes=CLASSES, n_clips=4, strength=1.0, seed=3)
    enrol, scored = enrolment_split(predictions["speaker"].to_numpy(), n_clips=4, seed=3)
    assert set(adapted["path"]) == set(predictions["path"].iloc[scored])
    assert not set(adapted["path"]) & set(predictions["path"].iloc[enrol])
    assert set(adapted["adaptation"]) == {"enrol-4"}
    assert (adapted["y_pred"] == adapted["y_true"]).mean() > 0.9  # the bias is gone
    assert (predictions["y_pred"] == predictions["y_true"]).mean() == 0.5  # it was there


def test_enrolling_on_one_emotion_pushes_the_voice_away_from_it():
    predictions = _biased_predictions()
    skewed = enrolled_predictions(predictions, classes=CLASSES, n_clips=3, strength=1.0, seed=0, enrol_emotion="sad")
    assert skewed["y_pred"].eq("happy").mean() > 0.5  # more "happy" than the balanced truth


def test_each_fold_takes_the_strength_chosen_on_the_other_folds():
    predictions = _biased_predictions(n_speakers=6)
    adapted, choices = cross_fitted_normalisation(
        predictions, classes=CLASSES, enrol_sizes=[4, None], strengths=[0.0, 1.0], seed=0
    )
    assert set(adapted) == {"enrol-4", "transductive"}
    assert list(choices["fold"].unique()) == ["fold1", "fold2", "fold3", ALL_FOLDS]
    assert set(choices["strength"]) == {1.0}  # every fold's neighbours show the bias
    assert len(adapted["transductive"]) == len(predictions)
    assert (adapted["enrol-4"]["y_pred"] == adapted["enrol-4"]["y_true"]).mean() > 0.9


def test_a_fold_whose_neighbours_show_no_bias_keeps_its_outputs():
    predictions = _biased_predictions(n_speakers=6)
    unbiased_neighbours = predictions["fold"].ne("fold1")
    predictions.loc[unbiased_neighbours, "prob_sad"] = np.where(predictions["y_true"].eq("sad"), 0.9, 0.1)[
        unbiased_neighbours
    ]
    predictions["prob_happy"] = 1 - predictions["prob_sad"]
    _, choices = cross_fitted_normalisation(predictions, classes=CLASSES, enrol_sizes=[4], strengths=[0.0, 1.0], seed=0)
    assert choices.set_index("fold").loc["fold1", "strength"] == 0.0  # ties go to the weaker strength


def test_each_draw_repeats_the_cross_fitted_procedure_with_its_own_enrolment_clips():
    predictions = _biased_predictions(n_speakers=6)
    predictions.loc[predictions.index % 3 == 0, ["prob_happy", "prob_sad"]] = [0.5, 0.5]  # clips that follow the draw
    draws = normalisation_over_draws(
        predictions, classes=CLASSES, enrol_sizes=[2, 4], strengths=[0.0, 1.0], seeds=[0, 1]
    )
    assert list(zip(draws["seed"], draws["n_clips"], strict=True)) == [(0, 2), (0, 4), (1, 2), (1, 4)]
    assert (draws["n"] == len(predictions) - 6 * draws["n_clips"]).all(), "enrolment clips are left out"
    for row in draws.itertuples():
        adapted, _ = cross_fitted_normalisation(
            predictions, classes=CLASSES, enrol_sizes=[row.n_clips], strengths=[0.0, 1.0], seed=row.seed
        )
        table = adapted[f"enrol-{row.n_clips}"]
        assert row.uar == pytest.approx((table["y_pred"] == table["y_true"]).groupby(table["y_true"]).mean().mean())
    assert draws.groupby("n_clips")["wa"].nunique().max() == 2, "another draw scores other clips"
    with pytest.raises(ValueError, match="sizes"):
        normalisation_over_draws(predictions, classes=CLASSES, enrol_sizes=[None], seeds=[0])


def test_a_deployed_model_uses_the_strength_of_the_largest_enrolment_it_has():
    strengths = {"1": 0.25, "4": 0.5, "16": 1.0}
    assert [setting_for(strengths, k) for k in (1, 3, 4, 15, 16, 40)] == [0.25, 0.25, 0.5, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="at least one"):
        setting_for(strengths, 0)
