"""Tests for ser_utils.yamnet.audioset: per-emotion AudioSet class profiles and rankings (known answers)."""

import pandas as pd
import pytest

from ser_utils.yamnet.audioset import class_profile, top_classes_by_emotion

SCORES = pd.DataFrame({"Speech": [0.9, 0.8, 0.7], "Shout": [0.1, 0.6, 0.9], "Music": [0.0, 0.1, 0.0]})
EMOTIONS = ["sad", "angry", "angry"]


def test_top_classes_by_score_keep_the_emotion_order():
    table = top_classes_by_emotion(SCORES, EMOTIONS, top=2, order=["sad", "angry"])
    assert list(table["emotion"]) == ["sad", "sad", "angry", "angry"]
    assert list(table["audioset_class"]) == ["Speech", "Shout", "Speech", "Shout"]
    assert table["mean_score"].iloc[2] == pytest.approx(0.75)


def test_lift_is_the_emotion_mean_over_the_overall_mean_and_min_score_filters_noise():
    lifts = class_profile(SCORES, EMOTIONS, by="lift", order=["sad", "angry"])
    assert lifts.loc["angry", "Shout"] == pytest.approx(0.75 / (1.6 / 3))
    distinctive = top_classes_by_emotion(SCORES, EMOTIONS, top=1, by="lift", min_score=0.2)
    assert dict(zip(distinctive["emotion"], distinctive["audioset_class"], strict=True)) == {
        "angry": "Shout",
        "sad": "Speech",
    }
    with pytest.raises(ValueError, match="by must be"):
        class_profile(SCORES, EMOTIONS, by="volume")
