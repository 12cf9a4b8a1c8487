"""Tests for ser_utils.evaluation.enrolled_pool: each member freed of a voice's lean, then everything re-pooled."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.enrolled_pool import (
    cross_fitted_enrolled_pool,
    enrolled_pool_over_draws,
    enrolment_mask,
    enrolment_stress,
    normalise_by_voice,
    setting_for,
    voice_views,
)
from ser_utils.evaluation.fusion import ALL_FOLDS
from ser_utils.evaluation.metrics import score
from ser_utils.evaluation.protocol import enrolment_split

CLASSES = ["angry", "happy", "sad"]
COLUMNS = [f"prob_{name}" for name in CLASSES]


def _voices(*, seed: int = 0, lean: float = 4.0, clips_per_class: int = 4) -> dict[str, pd.DataFrame]:
    """Two members' predictions of 6 speakers (folds f1-f3, two each): every clip leans to its true class, and
    speaker s's clips are all pushed ``lean`` times towards class s % 3, the voice's lean."""
    rng = np.random.default_rng(seed)
    rows = [
        {"path": f"s{s}_{c}_{i}", "speaker": f"s{s}", "fold": f"f{s // 2 + 1}", "y_true": name, "lean": s % 3}
        for s in range(6)
        for c, name in enumerate(CLASSES)
        for i in range(clips_per_class)
    ]
    clips = pd.DataFrame(rows)
    truth = pd.Categorical(clips["y_true"], categories=CLASSES).codes
    members = {}
    for member in ("a", "b"):
        scores = np.exp(rng.normal(size=(len(clips), 3))) + 2.0 * np.eye(3)[truth]
        scores *= 1 + (lean - 1) * np.eye(3)[clips["lean"]]
        probabilities = scores / scores.sum(axis=1, keepdims=True)
        table = clips.drop(columns="lean").assign(**dict(zip(COLUMNS, probabilities.T, strict=True)))
        members[member] = table.assign(y_pred=np.asarray(CLASSES)[probabilities.argmax(axis=1)])
    return members


def test_normalise_by_voice_divides_by_the_enrolment_mean():
    probabilities = np.array([[0.6, 0.4], [0.2, 0.8]])
    enrolment = np.array([[0.7, 0.3], [0.9, 0.1]])  # mean (0.8, 0.2): this voice leans to the first class
    expected = np.array([[0.6 / 0.8, 0.4 / 0.2], [0.2 / 0.8, 0.8 / 0.2]])
    np.testing.assert_allclose(normalise_by_voice(probabilities, enrolment), expected / expected.sum(1, keepdims=True))
    batched = normalise_by_voice(np.stack([probabilities, probabilities]), np.stack([enrolment, enrolment[::-1]]))
    np.testing.assert_allclose(batched[0], batched[1])  # per member, the order of the enrolment clips is irrelevant
    with pytest.raises(ValueError, match="at least one clip"):
        normalise_by_voice(probabilities, np.empty((0, 2)))


def test_enrolment_mask_draws_as_the_adaptive_models_did():
    table = _voices()["a"]
    mask = enrolment_mask(table, n_clips=3, seed=7)
    enrol, _ = enrolment_split(table["speaker"].to_numpy(), n_clips=3, seed=7)
    assert set(np.flatnonzero(mask)) == set(enrol) and table[mask].groupby("speaker").size().eq(3).all()
    sad = enrolment_mask(table, n_clips=2, seed=7, enrol_emotion="sad")
    assert table.loc[sad, "y_true"].eq("sad").all() and sad.sum() == 12
    assert enrolment_mask(table, n_clips=None, seed=7).all()


def test_voice_views_normalise_each_speaker_by_its_own_clips_only():
    probabilities = np.array([[[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.5, 0.5]]])  # one member, four clips
    speakers = np.array(["x", "x", "y", "y"])
    views = voice_views(probabilities, speakers, enrolled=np.array([True, False, True, False]))
    np.testing.assert_allclose(views[0], probabilities[0])  # the raw view
    np.testing.assert_allclose(views[1, 1], [0.1, 0.9])  # x leans to class 0 (0.9): its neutral clip tips to 1
    np.testing.assert_allclose(views[1, 3], [0.8, 0.2])  # y leans to class 1 (0.8): its neutral clip tips to 0


def test_cross_fitted_enrolled_pool_removes_the_voices_lean_without_a_fold_fitting_itself():
    members = _voices()
    before = score(members["a"]["y_true"], members["a"]["y_pred"], labels=CLASSES)["uar"]
    adaptive_rows = members["b"].assign(**{column: 1 / 3 for column in COLUMNS})  # an adaptive model that knows nothing
    enrolled = enrolment_mask(members["a"], n_clips=4, seed=0)
    adaptive = {"flat": {"enrol-4": adaptive_rows[~enrolled], "transductive": adaptive_rows}}
    adapted, weights = cross_fitted_enrolled_pool(
        members, adaptive=adaptive, classes=CLASSES, enrol_sizes=[4, None], seed=0, l2=1e-3
    )
    four = adapted["enrol-4"]
    assert len(four) == len(members["a"]) - 6 * 4 and not four["path"].isin(members["a"]["path"][enrolled]).any()
    assert set(four["adaptation"]) == {"enrol-4"} and len(adapted["transductive"]) == len(members["a"])
    assert score(four["y_true"], four["y_pred"], labels=CLASSES)["uar"] > before + 0.15
    fitted = weights[weights["adaptation"].eq("enrol-4")].set_index("fold")
    assert list(fitted.index) == ["f1", "f2", "f3", ALL_FOLDS]
    assert [c for c in fitted.columns if ":" in c] == [
        "raw:a",
        "raw:b",
        "normalised:a",
        "normalised:b",
        "adaptive:flat",
    ]
    assert fitted[["normalised:a", "normalised:b"]].sum(axis=1).gt(fitted[["raw:a", "raw:b"]].sum(axis=1)).all()
    assert fitted["adaptive:flat"].eq(0).all(), "a uniform view changes nothing, so the L2 penalty zeroes it"
    scrambled = {
        name: table.assign(y_true=np.where(table["fold"].eq("f1"), "sad", table["y_true"]))
        for name, table in members.items()
    }
    _, refitted = cross_fitted_enrolled_pool(scrambled, adaptive={}, classes=CLASSES, enrol_sizes=[4], seed=0, l2=1e-3)
    _, plain = cross_fitted_enrolled_pool(members, adaptive={}, classes=CLASSES, enrol_sizes=[4], seed=0, l2=1e-3)
    pd.testing.assert_series_equal(refitted.iloc[0], plain.iloc[0])  # fold f1's weights never saw f1's labels


def test_draws_and_stress_test_report_what_the_enrolment_costs():
    members = _voices(clips_per_class=5)
    draws = enrolled_pool_over_draws(members, classes=CLASSES, enrol_sizes=[2, 4], seeds=[0, 1], l2=1e-3)
    assert draws[["seed", "n_clips"]].value_counts().eq(1).all() and len(draws) == 4
    assert draws["n"].tolist() == [90 - 12, 90 - 24] * 2 and draws["uar"].between(0, 1).all()
    unadapted = members["a"].assign(y_pred="angry")
    stress = enrolment_stress(members, unadapted=unadapted, classes=CLASSES, seed=0, l2=1e-3).set_index("enrolled_on")
    assert list(stress.index) == CLASSES and stress["n_clips"].eq(5).all() and stress["n"].eq(90 - 30).all()
    assert (
        stress.loc["angry", "labelled_as_it_unadapted"] == 1.0 and stress.loc["happy", "labelled_as_it_unadapted"] == 0
    )
    assert (stress["labelled_as_it"] < 1 / 3).all(), "a voice enrolled on one emotion is pushed away from it"


def test_setting_for_takes_the_largest_enrolment_size_not_above_the_clips():
    settings = {"1": 0.25, "4": 0.5, "16": 1.0}
    assert [setting_for(settings, k) for k in (1, 3, 4, 15, 16, 40)] == [0.25, 0.25, 0.5, 0.5, 1.0, 1.0]
    assert setting_for({"4": {"raw": [1.0]}}, 2) == {"raw": [1.0]}  # fewer clips than any k: the smallest k's
    with pytest.raises(ValueError, match="at least one enrolment clip"):
        setting_for(settings, 0)
