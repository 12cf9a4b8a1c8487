"""Tests for ser_utils.evaluation.error_analysis and the taxonomy's arousal/valence levels, with known answers."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.data.taxonomy import AROUSAL, AROUSAL_LEVELS, EMOTIONS, VALENCE, VALENCE_LEVELS
from ser_utils.evaluation.error_analysis import confusions_by_dimension, scores_by_condition


def table(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": [f"c{i}.wav" for i in range(len(pairs))],
            "y_true": [t for t, _ in pairs],
            "y_pred": [p for _, p in pairs],
        }
    )


def test_every_emotion_has_one_arousal_and_one_valence_level():
    assert set(AROUSAL) == set(VALENCE) == set(EMOTIONS)
    assert set(AROUSAL.values()) <= set(AROUSAL_LEVELS) and set(VALENCE.values()) <= set(VALENCE_LEVELS)
    assert (AROUSAL["angry"], AROUSAL["sad"], VALENCE["happy"], VALENCE["sad"]) == (
        "high",
        "low",
        "positive",
        "negative",
    )


def test_arousal_confusions_known_counts():
    # angry→happy (high→high, within), sad→calm (low→low, within), sad→angry (low→high, crossing), two right.
    predictions = table([("angry", "happy"), ("sad", "calm"), ("sad", "angry"), ("angry", "angry"), ("calm", "calm")])
    summary, levels = confusions_by_dimension(predictions, dimension="arousal")
    assert (summary["n_errors"], summary["within_level"], summary["crossing_level"]) == (3, 2, 1)
    assert summary["share_within"] == pytest.approx(2 / 3)
    # Present: angry, happy (high), sad, calm (low); each emotion has 1 of 3 others on its level.
    assert summary["share_within_if_uniform"] == pytest.approx(1 / 3)
    assert levels.index.tolist() == levels.columns.tolist() == ["low", "high"]
    assert levels.to_numpy().tolist() == [[2, 1], [0, 2]]
    assert levels.to_numpy().sum() == len(predictions)


def test_valence_keeps_its_three_levels_and_no_errors_give_nan_shares():
    summary, levels = confusions_by_dimension(table([("happy", "sad"), ("neutral", "neutral")]), dimension="valence")
    assert (summary["within_level"], summary["crossing_level"]) == (0, 1)
    assert levels.index.tolist() == ["negative", "neutral", "positive"]
    perfect, _ = confusions_by_dimension(table([("happy", "happy")]), dimension="valence")
    assert perfect["n_errors"] == 0 and np.isnan(perfect["share_within"])
    with pytest.raises(ValueError, match="dimension"):
        confusions_by_dimension(table([("happy", "happy")]), dimension="dominance")


def test_scores_by_condition_skips_empty_values():
    predictions = table([("angry", "angry"), ("angry", "sad"), ("sad", "sad"), ("sad", "sad"), ("happy", "sad")])
    manifest = pd.DataFrame(
        {"path": predictions["path"], "intensity": ["strong", "strong", "normal", "normal", np.nan]}
    )
    scores = scores_by_condition(predictions, manifest, column="intensity", labels=EMOTIONS).set_index("value")
    assert scores.index.tolist() == ["normal", "strong"]
    assert scores.loc["normal", ["n", "wa", "uar"]].tolist() == [2, 1.0, 1.0]
    assert scores.loc["strong", ["n", "wa", "uar"]].tolist() == [2, 0.5, 0.5]
    assert (scores["condition"] == "intensity").all()
    with pytest.raises(ValueError, match="no column"):
        scores_by_condition(predictions, manifest, column="statement", labels=EMOTIONS)
    with pytest.raises(ValueError, match="no predicted clip"):
        scores_by_condition(predictions, manifest.assign(intensity=""), column="intensity", labels=EMOTIONS)
