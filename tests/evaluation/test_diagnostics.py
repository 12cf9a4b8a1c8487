"""Tests for ser_utils.evaluation.diagnostics: adaptation labels, reading every model's predictions, and the
deployable models' calibration temperature written into their cards."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ser_utils.evaluation import diagnostics
from ser_utils.evaluation.results import write_predictions
from ser_utils.models.persistence import model_card, read_card, save_model

CLASSES = ["sad", "angry"]
INFO = {"git_commit": "test", "versions": {}}


def over_confident_predictions(n: int, *, seed: int) -> pd.DataFrame:
    """Clips whose true class is drawn from p, reported with p³ renormalised (over-confident), in two folds."""
    rng = np.random.default_rng(seed)
    p_angry = rng.uniform(0.05, 0.95, n)
    truth = np.where(rng.uniform(size=n) < p_angry, "angry", "sad")
    sharp = np.stack([(1 - p_angry) ** 3, p_angry**3], axis=1)
    sharp /= sharp.sum(axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "path": [f"c{i}.wav" for i in range(n)],
            "speaker": [f"s{i % 10}" for i in range(n)],
            "fold": np.where(np.arange(n) % 2, "fold1", "fold2"),
            "y_true": truth,
            "y_pred": np.asarray(CLASSES)[sharp.argmax(axis=1)],
            "confidence": sharp.max(axis=1),
            "prob_sad": sharp[:, 0],
            "prob_angry": sharp[:, 1],
        }
    )


def test_adaptation_follows_the_features():
    assert diagnostics.adaptation_of("speaker-normalised") == "transductive"
    assert diagnostics.adaptation_of("handcrafted+egemaps") == "none"
    assert diagnostics.label_of(("svm", "egemaps", "none")) == "svm · egemaps"


def test_read_model_predictions_keys_models_and_skips_missing_validation(tmp_path):
    table = over_confident_predictions(40, seed=0)
    write_predictions(table, outputs_dir=tmp_path, model="m", protocol="speaker-2fold", features="f", info=INFO)
    comparison = pd.DataFrame({"model": ["m"], "features": ["f"]})
    test = diagnostics.read_model_predictions(tmp_path, comparison, protocol="speaker-2fold", split="test")
    assert list(test) == [("m", "f", "none")] and len(test["m", "f", "none"]) == 40
    assert diagnostics.read_model_predictions(tmp_path, comparison, protocol="speaker-2fold", split="val") == {}
    with pytest.raises(FileNotFoundError):
        diagnostics.read_model_predictions(tmp_path, comparison, protocol="speaker-3fold", split="test")


def test_read_model_predictions_leaves_out_enrolment_rows_that_score_other_clips(tmp_path):
    table = over_confident_predictions(40, seed=0)
    for adaptation, rows in (("none", table), ("enrol-4", table.iloc[8:])):
        write_predictions(
            rows.assign(adaptation=adaptation),
            outputs_dir=tmp_path,
            model="m",
            protocol="speaker-2fold",
            features="speaker-adaptive",
            info=INFO,
            adaptation=adaptation,
        )
    comparison = pd.DataFrame(
        {"model": ["m", "m"], "features": ["speaker-adaptive"] * 2, "adaptation": ["none", "enrol-4"]}
    )
    test = diagnostics.read_model_predictions(tmp_path, comparison, protocol="speaker-2fold", split="test")
    assert list(test) == [("m", "speaker-adaptive", "none")] and len(test["m", "speaker-adaptive", "none"]) == 40


def test_deployable_model_gets_the_temperature_of_its_out_of_fold_predictions(tmp_path):
    manifest = pd.DataFrame({"path": ["a.wav"], "corpus": ["demo"], "speaker": ["s0"], "emotion": ["sad"]})
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
    card = model_card(
        name="m",
        classes=CLASSES,
        sample_rate=16000,
        input_spec={"kind": "features"},
        manifest=manifest,
        data_label="test",
        training={"features": "f"},
    )
    save_model(model, model_dir=tmp_path / "m__f", card=card)
    predictions = {("m", "f", "none"): over_confident_predictions(20_000, seed=1)}
    table = diagnostics.calibrate_deployable_models(
        tmp_path, predictions, classes=CLASSES, n_bins=15, objective="brier"
    )
    temperature = read_card(tmp_path / "m__f")["calibration"]["temperature"]
    assert temperature == pytest.approx(3.0, rel=0.1) and table["temperature"].iloc[0] == temperature
    assert table["ece_after"].iloc[0] < table["ece_before"].iloc[0]


def test_calibration_table_cross_fits_every_model_and_adds_validation_speakers_where_out_of_sample():
    test = over_confident_predictions(8_000, seed=2)
    val = over_confident_predictions(4_000, seed=3)
    test_by_model = {("keras", "f", "none"): test, ("sklearn", "f", "none"): test}
    val_by_model = {key: val for key in test_by_model}
    table, reliability = diagnostics.calibration_table(
        test_by_model, val_by_model, classes=CLASSES, n_bins=15, objective="brier", in_sample={"sklearn"}
    )
    rows = table.set_index("model")
    assert (rows["ece_after"] < rows["ece_before"]).all() and (rows["nll_after"] < rows["nll_before"]).all()
    assert rows.loc["keras", "temperature_median"] == pytest.approx(3.0, rel=0.15)
    assert rows.loc["keras", "ece_after_val_speakers"] < rows.loc["keras", "ece_before"]
    assert np.isnan(rows.loc["sklearn", "ece_after_val_speakers"])
    assert set(reliability) == {"keras · f", "sklearn · f"}


def test_models_on_other_clips_are_set_aside_not_compared():
    base = over_confident_predictions(40, seed=4)
    others = base.assign(path=[f"other{i}.wav" for i in range(40)])
    by_model = {("a", "f", "none"): base, ("b", "f", "none"): base.copy(), ("c", "f", "none"): others}
    kept, set_aside = diagnostics.on_common_clips(by_model)
    assert sorted(kept) == [("a", "f", "none"), ("b", "f", "none")]
    assert set_aside == [(("c", "f", "none"), 40)]
    larger = {("a", "f", "none"): base.head(10), ("b", "f", "none"): base}
    assert list(diagnostics.on_common_clips(larger)[0]) == [("b", "f", "none")]
