"""CNN-LSTM model and log-mel pipeline: shapes, one training step, masks, and augmentation only in training."""

import json
from dataclasses import asdict

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from ser_utils.models.cnn_lstm import (
    CnnLstmSettings,
    average_models,
    build_cnn_lstm,
    settings_from_card,
    train_cnn_lstm,
)
from ser_utils.models.logmel_input import (
    NO_AUGMENTATION,
    Augmentation,
    add_noise_floor,
    augment_batch,
    fit_band_normalizer,
    logmel_dataset,
    mask_frequency,
    mask_time,
    mixup_batch,
    roll_time,
    stretch_axis,
)
from ser_utils.models.training import compile_classifier

N_CLIPS, N_FRAMES, N_MELS, N_CLASSES = 12, 40, 16, 4
SMALL = {"conv_filters": (8, 8), "kernel_size": 5, "lstm_units": 4, "dropout_rate": 0.1, "l2": 0.0}
ATTENTION = {**SMALL, "pooling": "attention"}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    features = rng.normal(-40.0, 10.0, size=(N_CLIPS, N_FRAMES, N_MELS)).astype(np.float16)
    labels = np.arange(N_CLIPS) % N_CLASSES
    return features, labels


@pytest.mark.parametrize("pooling", ["attention", "mean_max"])
def test_model_outputs_probabilities_and_takes_a_training_step(data, pooling):
    features, labels = data
    keras.utils.set_random_seed(0)
    model = build_cnn_lstm(
        n_frames=N_FRAMES,
        n_mels=N_MELS,
        n_classes=N_CLASSES,
        normalizer=fit_band_normalizer(features),
        pooling=pooling,
        **SMALL,
    )
    assert not model.compiled  # builders leave compiling to compile_classifier
    compile_classifier(model, learning_rate=1e-3, one_hot=True)
    batch = logmel_dataset(features, labels, n_classes=N_CLASSES, batch_size=N_CLIPS)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(batch, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    probabilities = model.predict(features.astype(np.float32), verbose=0)
    again = model.predict(features.astype(np.float32), verbose=0)
    np.testing.assert_array_equal(probabilities, again)  # dropout and augmentation are off at inference
    assert probabilities.shape == (N_CLIPS, N_CLASSES)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_training_writes_logs_and_averages_seeds(data, tmp_path):
    features, labels = data
    settings = CnnLstmSettings(learning_rate=1e-3, batch_size=6, patience=2, n_seeds=2, conv_filters=(8,), lstm_units=4)
    model = train_cnn_lstm(
        features,
        labels,
        features[:4],
        labels[:4],
        n_classes=N_CLASSES,
        work_dir=tmp_path,
        settings=settings,
        epochs=1,
        seed=3,
    )
    history = pd.read_csv(tmp_path / "training_history.csv")
    assert sorted(history["seed"]) == [3, 4] and (history["epoch_seconds"] > 0).all()
    assert all((tmp_path / f"seed{k}" / "training_history.csv").is_file() for k in (3, 4))
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    expected = np.mean([member.predict(features, verbose=0) for member in members], axis=0)
    np.testing.assert_allclose(model.predict(features, verbose=0), expected, rtol=1e-5)
    model.save(tmp_path / "ensemble.keras")  # the saved ensemble carries its members and their normalisers
    reloaded = keras.saving.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(reloaded.predict(features, verbose=0), expected, rtol=1e-5)


def test_average_of_one_model_is_that_model():
    model = build_cnn_lstm(n_frames=N_FRAMES, n_mels=N_MELS, n_classes=N_CLASSES, **ATTENTION)
    assert average_models([model]) is model


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pooling"):
        build_cnn_lstm(n_frames=N_FRAMES, n_mels=N_MELS, n_classes=N_CLASSES, **{**ATTENTION, "pooling": "median"})
    with pytest.raises(ValueError, match="n_frames"):
        build_cnn_lstm(n_frames=4, n_mels=N_MELS, n_classes=N_CLASSES, **{**ATTENTION, "conv_filters": (8, 8, 8)})


def test_clip_mean_removal_ignores_a_constant_offset_per_band_and_survives_saving(data, tmp_path):
    """Known answer: with ``remove_clip_mean`` a clip raised by a different constant in each mel band (a fixed
    coloration: microphone, voice, level) gets the same probabilities; without it, not."""
    features, _ = data
    clips = features.astype(np.float32)
    coloured = clips + np.linspace(-12.0, 12.0, N_MELS, dtype=np.float32)
    for remove, same in ((True, True), (False, False)):
        keras.utils.set_random_seed(0)
        model = build_cnn_lstm(
            n_frames=N_FRAMES, n_mels=N_MELS, n_classes=N_CLASSES, remove_clip_mean=remove, **ATTENTION
        )
        plain, shifted = model.predict(clips, verbose=0), model.predict(coloured, verbose=0)
        assert np.allclose(plain, shifted, atol=1e-5) is same
    keras.utils.set_random_seed(0)
    model = build_cnn_lstm(n_frames=N_FRAMES, n_mels=N_MELS, n_classes=N_CLASSES, remove_clip_mean=True, **ATTENTION)
    model.save(tmp_path / "removed.keras")  # standard layers only: loads without custom objects
    reloaded = keras.saving.load_model(tmp_path / "removed.keras")
    np.testing.assert_allclose(reloaded.predict(coloured, verbose=0), model.predict(clips, verbose=0), atol=1e-5)


def test_normalizer_is_fitted_per_band_on_training_data(data):
    features, _ = data
    shifted = features.astype(np.float32) + np.arange(N_MELS, dtype=np.float32) * 5.0
    normalized = np.asarray(fit_band_normalizer(shifted)(shifted))
    np.testing.assert_allclose(normalized.mean(axis=(0, 1)), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalized.std(axis=(0, 1)), 1.0, atol=1e-2)


def test_time_masks_fill_whole_frames_only_with_each_examples_own_runs():
    ones = tf.ones([8, N_FRAMES, N_MELS])
    masked = mask_time(ones, n_masks=2, max_width=6, fill=0.0, seed=tf.constant([1, 2], tf.int64)).numpy()
    assert set(np.unique(masked)) <= {0.0, 1.0}
    runs = []
    for example in masked:
        zero_frames = np.flatnonzero((example == 0).all(axis=1))
        assert np.array_equal(example == 0, np.isin(np.arange(N_FRAMES), zero_frames)[:, None].repeat(N_MELS, 1))
        assert len(zero_frames) <= 2 * 6
        runs.append(tuple(zero_frames))
    assert len(set(runs)) > 1 and any(runs)  # the examples draw their own masks


def test_frequency_mask_fills_whole_bands_only():
    ones = tf.ones([8, N_FRAMES, N_MELS])
    masked = mask_frequency(ones, n_masks=1, max_width=5, fill=-1.0, seed=tf.constant([3, 4], tf.int64)).numpy()
    for example in masked:
        masked_bands = np.flatnonzero((example == -1).all(axis=0))
        assert np.array_equal(example == -1, np.isin(np.arange(N_MELS), masked_bands)[None, :].repeat(N_FRAMES, 0))
        assert len(masked_bands) <= 5
        assert np.array_equal(np.diff(masked_bands), np.ones(max(len(masked_bands) - 1, 0)))  # one contiguous run
    assert (masked == -1).any()


def test_masks_with_zero_count_are_identity():
    values = tf.random.normal([2, N_FRAMES, N_MELS])
    same = mask_time(values, n_masks=0, max_width=6, fill=0.0, seed=tf.constant([0, 0], tf.int64))
    assert np.array_equal(same.numpy(), values.numpy())


def test_stretch_keeps_shape_and_moves_a_peak():
    ramp = tf.constant(np.tile(np.arange(N_MELS, dtype=np.float32), (1, N_FRAMES, 1)))
    assert np.allclose(stretch_axis(ramp, axis=2, factors=1.0).numpy(), ramp.numpy())
    peak = np.zeros((1, N_FRAMES, N_MELS), np.float32)
    peak[:, :, 4] = 1.0
    warped = stretch_axis(tf.constant(peak), axis=2, factors=2.0).numpy()
    assert warped.shape == (1, N_FRAMES, N_MELS)
    assert warped[0, 0].argmax() in (8, 9)  # band 4 of the lower half lands near band 8-9
    slower = stretch_axis(tf.constant(peak.transpose(0, 2, 1)), axis=1, factors=0.5).numpy()  # time: centred, padded
    assert slower.shape == (1, N_MELS, N_FRAMES)
    assert np.all(slower[0, : N_MELS // 4] == 0) and np.all(slower[0, -N_MELS // 4 :] == 0)


@pytest.mark.parametrize("axis", [1, 2])
def test_stretch_equals_bilinear_resize_then_crop_or_pad_per_example(axis):
    rng = np.random.default_rng(3)
    logmels = rng.normal(-40.0, 15.0, size=(6, N_FRAMES, N_MELS)).astype(np.float32)
    factors = np.array([0.8, 0.9, 0.97, 1.0, 1.06, 1.2], np.float32)
    stretched = stretch_axis(tf.constant(logmels), axis=axis, factors=factors).numpy()
    for example, factor, result in zip(logmels, factors, stretched, strict=True):
        length = example.shape[axis - 1]
        new_length = int(np.round(length * factor))
        size = (new_length, N_MELS) if axis == 1 else (N_FRAMES, new_length)
        resized = tf.image.resize(example[:, :, None], size, method="bilinear").numpy()[:, :, 0]
        if axis == 1:  # centre-crop or centre-pad the frames
            start, pad = max(new_length - length, 0) // 2, max(length - new_length, 0)
            expected = np.pad(
                resized[start : start + length],
                [(pad // 2, pad - pad // 2), (0, 0)],
                "constant",
                constant_values=example.min(),
            )
        else:  # keep the lowest bands, pad at the top
            expected = np.pad(
                resized[:, :length],
                [(0, 0), (0, max(length - new_length, 0))],
                "constant",
                constant_values=example.min(),
            )
        np.testing.assert_allclose(result, expected, atol=2e-3)


def test_roll_time_shifts_each_example_by_its_own_frames():
    logmels = np.arange(3 * N_FRAMES * 2, dtype=np.float32).reshape(3, N_FRAMES, 2)
    rolled = roll_time(tf.constant(logmels), shifts=tf.constant([-3, 0, 5])).numpy()
    for example, shift, result in zip(logmels, (-3, 0, 5), rolled, strict=True):
        np.testing.assert_array_equal(result, np.roll(example, shift, axis=0))


def test_noise_floor_raises_quiet_bins_and_barely_moves_loud_ones():
    logmel = tf.constant([[[-80.0, 0.0]] * 4, [[-80.0, 0.0]] * 4])
    noisy = add_noise_floor(logmel, snr_db=tf.constant([20.0, 30.0])).numpy()
    mean_db = 10 * np.log10(np.mean(10 ** (logmel.numpy()[0] / 10)))
    for example, snr in zip(noisy, (20.0, 30.0), strict=True):
        np.testing.assert_allclose(example[:, 0], mean_db - snr, atol=0.01)  # the floor dominates silence
        np.testing.assert_allclose(example[:, 1], 0.0, atol=0.05)  # speech 20+ dB above the floor barely moves


def test_augment_batch_draws_per_example_and_repeats_for_a_seed(data):
    features, _ = data
    copies = np.repeat(features[:1].astype(np.float32), 4, axis=0)
    seed = tf.constant([7, 8], tf.int64)
    augmented = augment_batch(copies, augmentation=Augmentation(), seed=seed).numpy()
    assert augmented.shape == copies.shape and np.isfinite(augmented).all()
    assert len({example.tobytes() for example in augmented}) == 4  # four copies, four different perturbations
    np.testing.assert_array_equal(augment_batch(copies, augmentation=Augmentation(), seed=seed).numpy(), augmented)
    np.testing.assert_array_equal(augment_batch(copies, augmentation=NO_AUGMENTATION, seed=seed).numpy(), copies)


def test_mixup_keeps_label_mass_and_mixes_pairs():
    features = tf.constant(np.stack([np.zeros((N_FRAMES, N_MELS)), np.ones((N_FRAMES, N_MELS))]), tf.float32)
    targets = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    mixed, mixed_targets = mixup_batch(features, targets, alpha=0.4, seed=tf.constant([5, 6], tf.int64))
    np.testing.assert_allclose(mixed_targets.numpy().sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mixed.numpy()[:, 0, 0], mixed_targets.numpy()[:, 1], rtol=1e-5)


def test_pipelines_have_expected_shapes_and_dtypes(data):
    features, labels = data
    batches = list(logmel_dataset(features, labels, n_classes=N_CLASSES, batch_size=5, training=True, seed=1))
    assert [len(x) for x, _ in batches] == [5, 5, 2]
    x, y = batches[0]
    assert x.shape == (5, N_FRAMES, N_MELS) and x.dtype == tf.float32
    assert y.shape == (5, N_CLASSES) and y.dtype == tf.float32
    inference = next(iter(logmel_dataset(features, batch_size=5)))
    assert inference.shape == (5, N_FRAMES, N_MELS) and inference.dtype == tf.float32


def test_evaluation_pipeline_is_unaugmented_and_in_order(data):
    features, labels = data
    x, y = next(iter(logmel_dataset(features, labels, n_classes=N_CLASSES, batch_size=N_CLIPS)))
    np.testing.assert_array_equal(x.numpy(), features.astype(np.float32))
    np.testing.assert_array_equal(y.numpy().argmax(axis=1), labels)


def test_training_pipeline_augments_and_repeats_for_a_seed(data):
    features, labels = data

    def first_epoch(seed):
        dataset = logmel_dataset(
            features,
            labels,
            n_classes=N_CLASSES,
            batch_size=N_CLIPS,
            training=True,
            augmentation=Augmentation(),
            seed=seed,
        )
        return next(iter(dataset))

    (x1, _), (x2, _) = first_epoch(7), first_epoch(7)
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    plain = features.astype(np.float32)
    assert not any(np.array_equal(x1.numpy()[i], plain[j]) for i in range(N_CLIPS) for j in range(N_CLIPS))
    unaugmented, _ = next(
        iter(
            logmel_dataset(
                features,
                labels,
                n_classes=N_CLASSES,
                batch_size=N_CLIPS,
                training=True,
                augmentation=NO_AUGMENTATION,
                seed=7,
            )
        )
    )
    assert sorted(map(bytes, unaugmented.numpy())) == sorted(map(bytes, plain))  # shuffled, not changed


def test_dataset_rejects_bad_input(data):
    features, labels = data
    with pytest.raises(ValueError, match="n_clips, frames, n_mels"):
        logmel_dataset(features[0], labels, batch_size=4)
    with pytest.raises(ValueError, match="class indices"):
        logmel_dataset(features, labels, n_classes=2, batch_size=4)
    with pytest.raises(ValueError, match="needs labels and a seed"):
        logmel_dataset(features, training=True, batch_size=4, seed=0)
    with pytest.raises(ValueError, match="needs labels and a seed"):
        logmel_dataset(features, labels, n_classes=N_CLASSES, training=True, batch_size=4)
    with pytest.raises(ValueError, match=">= 0"):
        Augmentation(time_masks=-1)


def test_settings_come_back_from_a_card_written_as_json():
    settings = CnnLstmSettings(
        learning_rate=3e-4,
        batch_size=16,
        patience=7,
        n_seeds=2,
        conv_filters=(32, 48),
        augmentation=Augmentation(snr_db=(15.0, 30.0), mixup_alpha=0.2),
    )
    training = json.loads(json.dumps({**asdict(settings), "epochs": 60, "seed": 0, "precision": "float32"}))
    assert settings_from_card(training) == settings  # lists back to tuples, the nested recipe rebuilt
