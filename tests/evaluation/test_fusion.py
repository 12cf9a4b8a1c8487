"""Tests for ser_utils.evaluation.fusion: log-linear pools fitted on other folds, clip by clip on the same folds."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.fusion import ALL_FOLDS, cross_fitted_ensemble, fit_pool_weights, log_linear_pool
from ser_utils.evaluation.results import predictions_table


def _predictions(probabilities, *, paths, folds):
    rows = pd.DataFrame({"path": paths, "corpus": "demo", "speaker": "s", "emotion": "a"})
    return pd.concat(
        [
            predictions_table(rows.iloc[[i]], fold=fold, probabilities=probabilities[[i]], classes=["a", "b"])
            for i, fold in enumerate(folds)
        ],
        ignore_index=True,
    )


def test_ensemble_refuses_other_folds_or_clips():
    first = _predictions(np.array([[0.9, 0.1], [0.4, 0.6]]), paths=["x", "y"], folds=["f1", "f2"])
    with pytest.raises(ValueError, match="different folds"):
        cross_fitted_ensemble({"a": first, "b": first.assign(fold="f1")}, classes=["a", "b"], l2=0.0)
    with pytest.raises(ValueError, match="different clips"):
        cross_fitted_ensemble({"a": first, "b": first.assign(path=["x", "z"])}, classes=["a", "b"], l2=0.0)


def test_log_linear_pool_multiplies_the_weighted_members():
    first = np.array([[0.8, 0.2], [0.5, 0.5]])
    second = np.array([[0.5, 0.5], [0.25, 0.75]])
    both = np.stack([first, second])
    np.testing.assert_allclose(log_linear_pool(both, [1.0, 0.0]), first)  # weight 0: the member has no say
    np.testing.assert_allclose(log_linear_pool(both, [1.0, 1.0]), [[0.8, 0.2], [0.25, 0.75]])  # 0.4:0.1, 0.125:0.375
    np.testing.assert_allclose(log_linear_pool(both, [2.0, 0.0])[0], [0.64 / 0.68, 0.04 / 0.68])  # a sharper pool
    np.testing.assert_allclose(log_linear_pool(both, [0.0, 0.0]), 0.5)  # no weight: uniform
    assert np.isnan(log_linear_pool(np.stack([first, [[np.nan, np.nan], [0.5, 0.5]]]), [1.0, 1.0])[0]).all()
    with pytest.raises(ValueError, match="one weight >= 0 per member"):
        log_linear_pool(both, [1.0, -1.0])


def test_fitted_weights_recover_a_calibrated_member_and_ignore_a_useless_one():
    rng = np.random.default_rng(0)
    calibrated = rng.dirichlet(np.ones(3), size=20_000)  # each clip's true class is drawn from these probabilities
    labels = (calibrated.cumsum(axis=1) > rng.random((20_000, 1))).argmax(axis=1)
    uniform = np.full_like(calibrated, 1 / 3)
    weights = fit_pool_weights(np.stack([calibrated, uniform]), labels, l2=1e-3)
    assert weights[0] == pytest.approx(1.0, abs=0.05) and weights[1] == pytest.approx(0.0, abs=1e-6)
    flat = calibrated**0.5 / (calibrated**0.5).sum(axis=1, keepdims=True)
    flattened = fit_pool_weights(flat[None], labels, l2=0)
    assert flattened[0] == pytest.approx(2.0, abs=0.1)  # a member too unsure is sharpened back


def test_cross_fitted_ensemble_never_lets_a_fold_choose_its_own_weights():
    # member "a" is right on fold f1 only, member "b" on f2 and f3 only; every fold has one clip of each class
    paths = [f"clip{i}" for i in range(6)]
    folds = ["f1", "f1", "f2", "f2", "f3", "f3"]
    truth = np.array([[1.0, 0.0], [0.0, 1.0]] * 3)
    wrong = truth[:, ::-1]
    right_on = {"a": ["f1"], "b": ["f2", "f3"]}
    tables = {}
    for name, good_folds in right_on.items():
        probabilities = np.where(np.isin(folds, good_folds)[:, None], truth, wrong) * 0.8 + 0.1
        table = _predictions(probabilities, paths=paths, folds=folds)
        tables[name] = table.assign(y_true=["a", "b"] * 3)
    fused, weights = cross_fitted_ensemble(tables, classes=["a", "b"], l2=1e-3)
    by_fold = weights.set_index("fold")
    assert by_fold.loc["f1", "a"] == 0.0 and by_fold.loc["f1", "b"] > 1  # fitted on f2 and f3, where only b is right
    assert list(fused.loc[fused["fold"] == "f1", "y_pred"]) == ["b", "a"]  # ... so f1 is scored with b: all wrong
    assert list(by_fold.index) == ["f1", "f2", "f3", ALL_FOLDS] and list(by_fold.columns) == ["a", "b"]
    np.testing.assert_allclose(fused[["prob_a", "prob_b"]].sum(axis=1), 1.0)
