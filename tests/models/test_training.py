"""Tests for ser_utils.models.training: device strategy, precision, class weights, tf.data input and callbacks."""

import time

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from ser_utils.models import training
from ser_utils.models.training import (
    HISTORY_FILE,
    EpochTimer,
    class_weights,
    compile_classifier,
    configure_precision,
    distribution_strategy,
    dtype_policy,
    fit_model,
    make_dataset,
    training_policy,
)


def test_balanced_class_weights_known_answer():
    weights = class_weights(np.array([0, 0, 0, 1]), n_classes=3)
    assert weights[0] == pytest.approx(4 / 6)  # n / (n_present * count) = 4 / (2 * 3)
    assert weights[1] == pytest.approx(2.0)
    assert weights[2] == 0.0


def test_class_weights_reject_out_of_range_labels():
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        class_weights(np.array([0, 2]), n_classes=2)


def test_make_dataset_batches_and_keeps_pairs():
    inputs = np.arange(10, dtype=np.float32).reshape(5, 2)
    labels = np.arange(5)
    batches = list(make_dataset(inputs, labels, batch_size=2, shuffle=True, seed=1))
    assert [len(x) for x, _ in batches] == [2, 2, 1]
    for x, y in batches:
        assert np.array_equal(x.numpy()[:, 0] / 2, y.numpy())
    assert sorted(np.concatenate([y.numpy() for _, y in batches])) == list(range(5))
    with pytest.raises(ValueError, match="labels"):
        make_dataset(inputs, labels[:3], batch_size=2)
    with pytest.raises(ValueError, match="seed"):
        make_dataset(inputs, labels, batch_size=2, shuffle=True)


def test_compile_classifier_sets_adam_at_the_rate_and_the_loss_for_the_targets():
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    assert not model.compiled
    assert compile_classifier(model, learning_rate=0.01) is model
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)
    assert model.loss == "sparse_categorical_crossentropy"
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    assert np.isfinite(model.train_on_batch(x, y)).all()  # a compiled model takes a training step
    compile_classifier(model, learning_rate=0.01, one_hot=True, label_smoothing=0.1)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="one-hot"):
        compile_classifier(model, learning_rate=0.01, label_smoothing=0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        compile_classifier(model, learning_rate=0.0)


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="CPU behaviour")
def test_cpu_uses_default_strategy_and_float32():
    assert distribution_strategy().num_replicas_in_sync == 1
    try:
        assert configure_precision() == "float32"
        assert keras.mixed_precision.global_policy().name == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="CPU behaviour")
def test_auto_precision_is_bfloat16_only_on_cpus_with_bfloat16_units(monkeypatch):
    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: True)
    assert training_policy("auto") == "mixed_bfloat16"
    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: False)
    assert training_policy("auto") == "float32"
    assert training_policy("mixed_bfloat16") == "mixed_bfloat16"  # a named policy is taken as it is
    with pytest.raises(ValueError, match="precision must be one of"):
        training_policy("bfloat16")


def test_dtype_policy_builds_layers_under_it_and_restores_the_previous_one():
    with dtype_policy("mixed_bfloat16"):
        layer = keras.layers.Dense(2)
    assert layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"
    assert keras.layers.Dense(2).compute_dtype == "float32"


def _tiny_problem(n: int, *, learning_rate: float):
    """(x (n, 3), labels: is x[:, 0] > 0, a compiled seeded softmax-regression model)."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    return x, (x[:, 0] > 0).astype(int), compile_classifier(model, learning_rate=learning_rate)


def test_fit_model_writes_history_with_epoch_seconds(tmp_path, capsys):
    x, y, model = _tiny_problem(16, learning_rate=1e-3)
    history = fit_model(
        model,
        train=make_dataset(x, y, batch_size=8, shuffle=True, seed=0),
        val=make_dataset(x, y, batch_size=8),
        epochs=2,
        train_labels=y,
        n_classes=2,
        work_dir=tmp_path,
        patience=5,
        print_every=1,
        label="tiny",
    )
    assert len(history) == 2
    logged = pd.read_csv(tmp_path / HISTORY_FILE)
    assert {"loss", "val_loss", "epoch_seconds"} <= set(logged.columns)
    assert (logged["epoch_seconds"] > 0).all()
    assert list(tmp_path.glob("*.keras")) == []  # no checkpoint files: the caller saves the finished model
    assert "tiny epoch 2:" in capsys.readouterr().out


def test_fit_model_ends_with_the_weights_of_the_best_validation_epoch(tmp_path):
    # Validation labels are the training labels flipped: the better the model fits, the worse its validation
    # loss, so the best epoch is the first and training runs on to the end without stopping early.
    x, y, model = _tiny_problem(64, learning_rate=0.1)
    val = make_dataset(x, 1 - y, batch_size=64)
    history = fit_model(
        model,
        train=make_dataset(x, y, batch_size=16, shuffle=True, seed=0),
        val=val,
        epochs=6,
        train_labels=y,
        n_classes=2,
        work_dir=tmp_path,
        patience=10,
    )
    assert len(history) == 6 and history["val_loss"].idxmin() == 0
    assert history["val_loss"].iloc[-1] > history["val_loss"].iloc[0] + 0.1
    final_loss = model.evaluate(val, verbose=0)[0]
    assert final_loss == pytest.approx(history["val_loss"].iloc[0], rel=1e-4)


def test_epoch_timer_measures_the_epoch_it_brackets():
    timer = EpochTimer(every=0)
    logs = {}
    timer.on_epoch_begin(0)
    time.sleep(0.2)
    timer.on_epoch_end(0, logs)
    assert 0.2 <= logs["epoch_seconds"] < 1.0
