"""Tests for ser_utils.models.baselines: pipelines, validation-only model selection, training-only scaling."""

import numpy as np
import pytest
from sklearn.svm import SVC

from ser_utils.models.baselines import BASELINES, chosen_params, make_pipeline, select_on_validation, train_baseline

RNG = np.random.default_rng(0)
RUN = {"seed": 0, "n_jobs": 1}


def _blobs(n: int, *, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 3
    x = RNG.normal(size=(n, 5)) + 3.0 * np.eye(3, 5)[y] + shift
    return x, y


@pytest.mark.parametrize("kind", BASELINES)
def test_every_baseline_learns_separable_classes(kind, tmp_path):
    x_train, y_train = _blobs(60)
    x_val, y_val = _blobs(30)
    x_test, y_test = _blobs(30)
    model = train_baseline(x_train, y_train, x_val, y_val, kind=kind, n_classes=3, work_dir=tmp_path, **RUN)
    probabilities = model.predict_proba(x_test)
    assert probabilities.shape == (30, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities.argmax(axis=1) == y_test).mean() > 0.8


def test_selection_follows_the_validation_rows_only():
    x_train, y_train = _blobs(60)
    x_val, y_val = _blobs(30)
    grid = {"model__gamma": [1e3, "scale"]}  # gamma 1000 memorises the training rows and fails elsewhere
    params, scores = select_on_validation(make_pipeline("svm", **RUN), grid, x_train, y_train, x_val, y_val)
    assert params == {"model__gamma": "scale"}
    assert len(scores) == 2 and scores[0]["val_uar"] < scores[1]["val_uar"]
    params, _ = select_on_validation(make_pipeline("svm", **RUN), grid, x_train, y_train, x_train, y_train)
    assert params == {"model__gamma": 1e3}  # scored on its own training rows, memorising wins: selection uses val


def test_scaler_is_fitted_on_training_and_validation_rows_only(tmp_path):
    x_train, y_train = _blobs(60)
    x_val, y_val = _blobs(30)
    model = train_baseline(
        x_train, y_train, x_val, y_val, kind="logistic_regression", n_classes=3, work_dir=tmp_path, **RUN
    )
    seen = np.concatenate([x_train, x_val])
    assert np.allclose(model.named_steps["scale"].mean_, seen.mean(axis=0))
    assert set(chosen_params(model, kind="logistic_regression")) == {"model__C"}


def test_svm_is_refitted_with_probabilities(tmp_path):
    x, y = _blobs(45)
    model = train_baseline(x, y, x, y, kind="svm_seed", n_classes=3, work_dir=tmp_path, **RUN)
    assert isinstance(model.named_steps["model"], SVC) and model.named_steps["model"].probability


def test_unknown_kind_and_missing_validation_are_rejected():
    with pytest.raises(ValueError, match="unknown baseline"):
        make_pipeline("xgboost", **RUN)
    x, y = _blobs(30)
    with pytest.raises(ValueError, match="validation"):
        select_on_validation(make_pipeline("svm", **RUN), {"model__C": [1.0]}, x, y, x[:0], y[:0])
