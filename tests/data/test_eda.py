import numpy as np
import pandas as pd

from ser_utils.data import eda


def _manifest():
    return pd.DataFrame(
        {
            "path": [f"p{i}" for i in range(8)],
            "corpus": ["a"] * 4 + ["b"] * 4,
            "speaker": ["a1", "a1", "a2", "a2", "b1", "b1", "b1", "b1"],
            "gender": ["male"] * 4 + ["female"] * 4,
            "emotion": ["sad", "angry", "sad", "angry", "happy", "happy", "sad", ""],
            "duration": [1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0],
            "sample_rate": [16000] * 8,
            "channels": [1] * 7 + [2],
            "excluded_reason": [""] * 7 + ["boredom"],
        }
    )


def test_cramers_v_known_answers():
    same = pd.Series(list("aabbcc"))
    assert np.isclose(eda.cramers_v(same, same), 1.0)
    independent = pd.Series(list("aabb")), pd.Series(list("xyxy"))
    assert np.isclose(eda.cramers_v(*independent), 0.0)


def test_distributions_count_every_clip():
    manifest = _manifest()
    emotions = eda.emotion_distribution(manifest)
    assert emotions["total"].sum() == len(manifest)
    assert emotions["emotion"].tolist()[:3] == ["happy", "sad", "angry"]  # taxonomy order
    datasets = eda.dataset_distribution(manifest).set_index("corpus")
    assert datasets.loc["a", "speakers"] == 2 and datasets.loc["b", "stereo_clips"] == 1
    assert datasets.loc["b", "excluded_from_training"] == 1
    assert datasets.loc["b", "imbalance_ratio"] == 2.0


def test_confounds_flag_corpus_specific_emotions():
    table = eda.confound_table(_manifest()).set_index(["scope", "pair"])
    assert table.loc[("all", "corpus~emotion"), "cramers_v"] > 0.5
    assert np.isclose(table.loc[("a", "speaker~emotion"), "cramers_v"], 0.0)


def test_examples_one_per_emotion():
    examples = eda.example_clips(_manifest(), per_emotion=1, seed=0)
    assert examples["emotion"].tolist() == ["happy", "sad", "angry"]
