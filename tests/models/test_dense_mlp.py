"""Tests for ser_utils.models.dense_mlp: both variants build uncompiled, normalise with training statistics, and
take a step once compiled."""

import keras
import numpy as np
import pytest

from ser_utils.models.dense_mlp import build_seed_mlp, build_tuned_mlp, train_mlp
from ser_utils.models.training import HISTORY_FILE, compile_classifier

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(32, 6)) * 10 + 50).astype(np.float32)
Y = RNG.integers(0, 4, size=32)
KNOBS = {"epochs": 1, "batch_size": 8, "patience": 2, "learning_rate": 1e-3, "seed": 0}


@pytest.mark.parametrize("build", [build_seed_mlp, build_tuned_mlp])
def test_builds_an_uncompiled_softmax_that_takes_a_step_once_compiled(build):
    keras.utils.set_random_seed(0)
    model = build(X, n_classes=4)
    assert not model.compiled
    compile_classifier(model, learning_rate=1e-3)
    probabilities = model.predict(X, verbose=0)
    assert probabilities.shape == (32, 4)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert model.output.dtype == "float32"
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(X, Y)
    assert np.isfinite(loss).all()
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_seed_mlp_keeps_the_seeds_layer_widths():
    widths = [layer.units for layer in build_seed_mlp(X, n_classes=8).layers if isinstance(layer, keras.layers.Dense)]
    assert widths == [512, 256, 128, 64, 8]


def test_normalization_is_adapted_on_training_rows():
    model = build_tuned_mlp(X, n_classes=4)
    standardized = model.get_layer("standardize")(X).numpy()
    assert np.allclose(standardized.mean(axis=0), 0.0, atol=1e-4)
    assert np.allclose(standardized.std(axis=0), 1.0, atol=1e-2)


def test_train_mlp_writes_history_and_rejects_unknown_variant(tmp_path):
    model = train_mlp(X, Y, X[:8], Y[:8], n_classes=4, work_dir=tmp_path, variant="seed", **KNOBS)
    assert isinstance(model, keras.Model) and model.compiled
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
    assert (tmp_path / HISTORY_FILE).is_file()
    with pytest.raises(ValueError, match="variant"):
        train_mlp(X, Y, X, Y, n_classes=4, work_dir=tmp_path, variant="huge", **KNOBS)


def test_rejects_a_single_training_row():
    with pytest.raises(ValueError, match="train_inputs"):
        build_tuned_mlp(X[:1], n_classes=4)
