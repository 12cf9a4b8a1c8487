"""Tests for ser_utils.models.persistence: card updates and finding a run's deployable models."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ser_utils.models.persistence import (
    deployable_models,
    fold_model_families,
    load_model,
    model_card,
    read_card,
    save_model,
    update_card,
)

MANIFEST = pd.DataFrame(
    {"path": ["/x/a.wav", "/x/b.wav"], "corpus": "demo", "speaker": ["s1", "s2"], "emotion": ["sad", "angry"]}
)


def _saved(folder, *, name, features=None):
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
    card = model_card(
        name=name,
        classes=["sad", "angry"],
        sample_rate=16000,
        input_spec={"kind": "features"},
        manifest=MANIFEST,
        data_label="test",
        training={"features": features} if features else None,
    )
    return save_model(model, model_dir=folder, card=card)


def test_update_card_adds_a_section_and_keeps_the_model(tmp_path):
    folder = _saved(tmp_path / "m", name="m")
    card = update_card(folder, calibration={"temperature": 1.7})
    assert card["calibration"]["temperature"] == 1.7 and read_card(folder)["calibration"]["temperature"] == 1.7
    model, loaded = load_model(folder)
    assert loaded["name"] == "m" and model.predict([[1.0]])[0] == 1
    with pytest.raises(ValueError, match="holds no model_card.json"):
        update_card(tmp_path / "absent", calibration={"temperature": 1.0})


def test_deployable_models_lists_run_folders_but_not_fold_models(tmp_path):
    _saved(tmp_path / "svm__view", name="svm", features="view")
    _saved(tmp_path / "cnn", name="cnn")
    _saved(tmp_path / "cnn" / "folds" / "fold1", name="cnn (fold1)")
    table = deployable_models(tmp_path)
    assert table[["name", "features"]].values.tolist() == [["cnn", ""], ["svm", "view"]]
    assert table["model_dir"].tolist() == [tmp_path / "cnn", tmp_path / "svm__view"]
    assert fold_model_families(tmp_path) == {"cnn": "sklearn"}
