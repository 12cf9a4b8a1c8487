"""Tests for ser_utils.serving.export and ``python -m ser_utils export``: a Keras model exported to TFLite (float32 and
dynamic-range int8) gives the Keras model's top-1 on >= 99 % of held-out inputs and serves through the predictor."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_utils.cli import main
from ser_utils.features.assembly import select_columns
from ser_utils.features.extraction import default_config, extract_features
from ser_utils.models.baselines import train_baseline
from ser_utils.models.dense_mlp import train_mlp
from ser_utils.models.persistence import model_card, save_model
from ser_utils.serving.export import export_tflite
from ser_utils.serving.predictor import feature_input_spec, load_predictor

REPO = Path(__file__).resolve().parents[2]
SR = 16_000
CLASSES = ["neutral", "happy", "sad"]
MLP = {"variant": "tuned", "epochs": 30, "batch_size": 16, "patience": 30, "learning_rate": 3e-3, "seed": 0}


def _tone(freq: float, *, seed: int) -> np.ndarray:
    t = np.arange(int(SR * 0.8)) / SR
    noise = 0.01 * np.random.default_rng(seed).normal(size=t.size)
    return (
        0.3 * np.sin(2 * np.pi * freq * (1 + 0.02 * np.sin(2 * np.pi * 5 * t)) * t) * np.hanning(t.size) + noise
    ).astype(np.float32)


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    """A dense MLP on handcrafted features of tones (class k near 150·2^k Hz), its features and query clips."""
    folder = tmp_path_factory.mktemp("export")
    rows = []
    for index in range(24):
        path = folder / f"clip{index:02d}.wav"
        sf.write(path, _tone(150 * 2 ** (index % 3) * (1 + 0.015 * index), seed=index), SR)
        rows.append({"path": str(path), "corpus": "demo", "speaker": f"{index % 4:02d}", "emotion": CLASSES[index % 3]})
    manifest = pd.DataFrame(rows)
    features = extract_features(manifest, feature_set="handcrafted", cache_dir=None, n_jobs=1, progress=False)
    labels = np.arange(24) % 3
    model = train_mlp(features.values, labels, features.values, labels, n_classes=3, work_dir=folder / "fit", **MLP)
    card = model_card(
        name="tones mlp", classes=CLASSES, sample_rate=SR, manifest=manifest, data_label="test tones",
        input_spec=feature_input_spec([features]),
    )  # fmt: skip
    return save_model(model, model_dir=folder / "model", card=card), manifest, features, labels


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_tflite_agrees_with_keras_on_held_out_inputs(keras_model, tmp_path, precision):
    model_dir, manifest, features, _ = keras_model
    exported = export_tflite(model_dir, out_dir=tmp_path / precision, precision=precision)
    keras_predictor, tflite_predictor = load_predictor(model_dir), load_predictor(exported)
    assert tflite_predictor.card["family"] == "tflite" and tflite_predictor.classes == CLASSES
    # held-out inputs: the training features perturbed by noise of their own spread (new points, same range)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, len(features.values), 600)
    held_out = features.values[rows] + rng.normal(size=(600, features.values.shape[1])) * features.values.std(axis=0)
    expected, got = keras_predictor.probabilities(held_out), tflite_predictor.probabilities(held_out)
    assert np.mean(expected.argmax(axis=1) == got.argmax(axis=1)) >= 0.99
    if precision == "float32":
        assert np.allclose(expected, got, atol=1e-4)
    files = keras_predictor.predict_files(manifest["path"][:6], n_jobs=1)
    served = tflite_predictor.predict_files(manifest["path"][:6], n_jobs=1)
    assert served["emotion"].tolist() == files["emotion"].tolist()
    size = json.loads((exported / "model_card.json").read_text())["export"]["size_bytes"]
    assert size == (exported / "model.tflite").stat().st_size


def test_int8_is_smaller_than_float32(keras_model, tmp_path):
    model_dir = keras_model[0]
    assert main(["export", "--model", str(model_dir), "--out", str(tmp_path)]) == 0
    float_size = (tmp_path / "tflite_float32" / "model.tflite").stat().st_size
    int8_size = (tmp_path / "tflite_int8" / "model.tflite").stat().st_size
    assert int8_size < 0.5 * float_size


def test_cli_export_refuses_a_scikit_learn_model(keras_model, tmp_path, capsys):
    _, manifest, features, labels = keras_model
    model = train_baseline(
        features.values, labels, features.values, labels,
        kind="logistic_regression", n_classes=3, work_dir=tmp_path / "fit", seed=0, n_jobs=1,
    )  # fmt: skip
    card = model_card(
        name="lr", classes=CLASSES, sample_rate=SR, manifest=manifest, data_label="test tones",
        input_spec=feature_input_spec([features]),
    )  # fmt: skip
    model_dir = save_model(model, model_dir=tmp_path / "lr", card=card)
    assert main(["export", "--model", str(model_dir), "--out", str(tmp_path / "out")]) == 2
    assert "Keras models" in capsys.readouterr().err


def test_saved_cnn_lstm_exports_with_parity_on_held_out_speakers(tmp_path):
    """The project's CNN-LSTM (fold 6, whose test speakers it never saw) on their cached log-mel inputs."""
    fold = REPO / "artifacts" / "ravdess-tess" / "cnn_lstm" / "folds" / "fold6"
    manifest_path = REPO / "artifacts" / "ravdess-tess" / "manifest.csv"
    if not (fold / "model_card.json").is_file() or not manifest_path.is_file():
        pytest.skip("the full-profile CNN-LSTM fold models are not in artifacts/ravdess-tess")
    card = json.loads((fold / "model_card.json").read_text())
    manifest = pd.read_csv(manifest_path)
    held_out = manifest[manifest["speaker"].isin(card["protocol"]["test_speakers"])]
    if held_out.empty or not Path(held_out["path"].iloc[0]).is_file():
        pytest.skip("the held-out speakers' audio is not on this machine")
    spec = card["input"]
    config = type(default_config("logmel"))(**spec["configs"]["logmel"])
    features = extract_features(
        held_out, feature_set="logmel", cache_dir=REPO / "artifacts" / "cache", config=config, n_jobs=1, progress=False
    )
    inputs, _ = select_columns(
        features.values.astype(np.float32), names=list(features.columns), columns=spec["columns"]
    )
    keras_predictor = load_predictor(fold)
    expected = keras_predictor.probabilities(inputs).argmax(axis=1)
    for precision in ("float32", "int8"):
        exported = load_predictor(export_tflite(fold, out_dir=tmp_path / precision, precision=precision))
        assert np.mean(exported.probabilities(inputs).argmax(axis=1) == expected) >= 0.99, precision
