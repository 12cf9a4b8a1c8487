"""Tests for ser_utils.evaluation.calibration with known answers on synthetic probabilities."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.calibration import (
    OBJECTIVES,
    apply_temperature,
    calibrate_cross_fitted,
    calibrate_per_fold,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_table,
)

CLASSES = ("neutral", "happy", "sad", "angry")


def calibrated_sample(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (n, 4) and labels drawn FROM them: perfectly calibrated by construction."""
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.full(len(CLASSES), 0.5), size=n)
    labels = (rng.random(n)[:, None] > probabilities.cumsum(axis=1)).sum(axis=1)
    return probabilities, np.minimum(labels, len(CLASSES) - 1)


def over_confident(probabilities: np.ndarray) -> np.ndarray:
    cubed = probabilities**3
    return cubed / cubed.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_calibrated_probabilities_have_near_zero_ece_and_temperature_one(objective):
    probabilities, labels = calibrated_sample(40_000, seed=0)
    assert expected_calibration_error(probabilities, labels, n_bins=15) < 0.015
    assert fit_temperature(probabilities, labels, objective=objective) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_cubed_probabilities_give_temperature_three_and_lower_ece_after_scaling(objective):
    # Both are proper scoring rules, so both recover the temperature that undoes the cubing.
    probabilities, labels = calibrated_sample(40_000, seed=1)
    sharp = over_confident(probabilities)
    temperature = fit_temperature(sharp, labels, objective=objective)
    assert temperature == pytest.approx(3.0, rel=0.05)
    rescaled = apply_temperature(sharp, temperature)
    ece_before = expected_calibration_error(sharp, labels, n_bins=15)
    assert expected_calibration_error(rescaled, labels, n_bins=15) < ece_before / 3
    assert negative_log_likelihood(rescaled, labels) < negative_log_likelihood(sharp, labels)


def test_brier_temperature_resists_a_few_saturated_confident_errors():
    # 2 % of clips confidently wrong with their true class at probability 0 (a saturated softmax): the unbounded
    # NLL softens everything to pay for them; the bounded Brier score barely moves and keeps ECE low.
    probabilities, labels = calibrated_sample(20_000, seed=9)
    broken = probabilities.copy()
    broken[:400] = 0.0
    broken[np.arange(400), (labels[:400] + 1) % len(CLASSES)] = 1.0
    by_nll = fit_temperature(broken, labels, objective="nll")
    by_brier = fit_temperature(broken, labels, objective="brier")
    assert by_nll > 2.0 and by_brier == pytest.approx(1.0, abs=0.15)
    ece = {t: expected_calibration_error(apply_temperature(broken, t), labels, n_bins=15) for t in (by_nll, by_brier)}
    assert ece[by_brier] < ece[by_nll]
    with pytest.raises(ValueError, match="objective"):
        fit_temperature(broken, labels, objective="ece")


def test_apply_temperature_keeps_argmax_sums_to_one_and_one_is_identity():
    probabilities, _ = calibrated_sample(500, seed=2)
    for temperature in (0.3, 1.0, 4.0):
        scaled = apply_temperature(probabilities, temperature)
        assert np.allclose(scaled.sum(axis=1), 1.0)
        assert (scaled.argmax(axis=1) == probabilities.argmax(axis=1)).all()
    assert np.allclose(apply_temperature(probabilities, 1.0), probabilities)
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(probabilities, 0.0)


def test_reliability_table_and_nll_known_values():
    # Four clips at confidence 0.8 (3 right) and one at 0.4 (wrong): bin accuracy 0.75 vs confidence 0.8.
    probabilities = np.array([[0.8, 0.2]] * 4 + [[0.4, 0.6]])
    labels = np.array([0, 0, 0, 1, 0])
    table = reliability_table(probabilities, labels, n_bins=10)
    assert len(table) == 10 and table["count"].sum() == 5
    assert table.loc[7, "count"] == 4 and table.loc[7, "accuracy"] == pytest.approx(0.75)
    assert table.loc[5, "count"] == 1 and table.loc[5, "accuracy"] == 0  # the 0.6 column was picked
    assert np.isnan(table.loc[0, "accuracy"])
    ece = expected_calibration_error(probabilities, labels, n_bins=10)
    assert ece == pytest.approx((4 * 0.05 + 1 * 0.6) / 5)
    expected_nll = -(3 * np.log(0.8) + np.log(0.2) + np.log(0.4)) / 5
    assert negative_log_likelihood(probabilities, labels) == pytest.approx(expected_nll)


def predictions_table(probabilities: np.ndarray, labels: np.ndarray, *, fold: str) -> pd.DataFrame:
    classes = np.asarray(CLASSES)
    table = pd.DataFrame({"fold": fold, "y_true": classes[labels], "y_pred": classes[probabilities.argmax(axis=1)]})
    table["confidence"] = probabilities.max(axis=1)
    for index, name in enumerate(CLASSES):
        table[f"prob_{name}"] = probabilities[:, index]
    return table


def test_calibrate_per_fold_uses_each_folds_own_validation_temperature():
    # Fold 1 is over-confident (p³), fold 2 calibrated: their validation sets must give T≈3 and T≈1.
    parts = {fold: calibrated_sample(20_000, seed=seed) for fold, seed in (("fold1", 3), ("fold2", 4))}
    sharpen = {"fold1": over_confident, "fold2": lambda p: p}
    val = pd.concat([predictions_table(sharpen[f](p[:10_000]), y[:10_000], fold=f) for f, (p, y) in parts.items()])
    test = pd.concat([predictions_table(sharpen[f](p[10_000:]), y[10_000:], fold=f) for f, (p, y) in parts.items()])
    calibrated, temperatures = calibrate_per_fold(test, val, classes=CLASSES, objective="nll")
    by_fold = temperatures.set_index("fold")["temperature"]
    assert by_fold["fold1"] == pytest.approx(3.0, rel=0.1) and by_fold["fold2"] == pytest.approx(1.0, abs=0.1)
    assert (calibrated["y_pred"] == test["y_pred"]).all()
    probabilities = calibrated[[f"prob_{name}" for name in CLASSES]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.allclose(calibrated["confidence"], probabilities.max(axis=1))
    summary = calibration_summary(test, calibrated, classes=CLASSES, n_bins=15)
    assert summary["ece_after"] < summary["ece_before"] and summary["nll_after"] < summary["nll_before"]


def test_calibrate_per_fold_refuses_a_fold_without_validation_predictions():
    probabilities, labels = calibrated_sample(100, seed=5)
    test = predictions_table(probabilities, labels, fold="fold1")
    with pytest.raises(ValueError, match="no validation predictions"):
        calibrate_per_fold(test, test.assign(fold="fold2"), classes=CLASSES, objective="brier")


def test_cross_fitting_takes_each_folds_temperature_from_the_other_folds_only():
    # Fold 1 over-confident (p³), folds 2 and 3 calibrated: fold 1's temperature comes from folds 2-3 (T≈1),
    # theirs from a mix that includes fold 1 (T > 1); no fold's own clips are used.
    parts = {fold: calibrated_sample(8_000, seed=seed) for fold, seed in (("fold1", 6), ("fold2", 7), ("fold3", 8))}
    sharpen = {"fold1": over_confident, "fold2": lambda p: p, "fold3": lambda p: p}
    test = pd.concat([predictions_table(sharpen[f](p), y, fold=f) for f, (p, y) in parts.items()], ignore_index=True)
    calibrated, temperatures = calibrate_cross_fitted(test, classes=CLASSES, objective="brier")
    by_fold = temperatures.set_index("fold")
    assert by_fold.loc["fold1", "temperature"] == pytest.approx(1.0, abs=0.1)
    assert by_fold.loc["fold2", "temperature"] > 1.2 and by_fold.loc["fold1", "n_val"] == 16_000
    assert (calibrated["y_pred"] == test["y_pred"]).all()
    with pytest.raises(ValueError, match="two folds"):
        calibrate_cross_fitted(test[test["fold"] == "fold1"], classes=CLASSES, objective="brier")
