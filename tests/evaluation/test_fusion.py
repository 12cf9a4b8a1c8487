"""Tests for ser_utils.evaluation.fusion: late fusion averages probabilities clip by clip on the same folds."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.fusion import fuse_predictions
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


def test_fusion_averages_probabilities_clip_by_clip():
    first = _predictions(np.array([[0.9, 0.1], [0.4, 0.6]]), paths=["x", "y"], folds=["f1", "f2"])
    second = _predictions(np.array([[0.1, 0.9], [0.0, 1.0]]), paths=["y", "x"], folds=["f2", "f1"])  # other order
    fused = fuse_predictions([first, second], classes=["a", "b"])
    np.testing.assert_allclose(fused[["prob_a", "prob_b"]].to_numpy(), [[0.45, 0.55], [0.25, 0.75]])
    assert list(fused["y_pred"]) == ["b", "b"] and list(fused["path"]) == ["x", "y"]
    np.testing.assert_allclose(fused["confidence"], [0.55, 0.75])


def test_fusion_refuses_other_folds_or_clips():
    first = _predictions(np.array([[0.9, 0.1], [0.4, 0.6]]), paths=["x", "y"], folds=["f1", "f2"])
    with pytest.raises(ValueError, match="different folds"):
        fuse_predictions([first, first.assign(fold="f1")], classes=["a", "b"])
    with pytest.raises(ValueError, match="different clips"):
        fuse_predictions([first, first.assign(path=["x", "z"])], classes=["a", "b"])
