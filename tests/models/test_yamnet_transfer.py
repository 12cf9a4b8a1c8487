"""Tests for YAMNet transfer learning: features.yamnet and models.yamnet_finetune.

Known answers for pooling, windows and trunk shapes need no weights; everything that runs YAMNet needs its
TFLite file (``$SER_YAMNET_DIR``, else ``<repo>/../shared/models/yamnet``) and skips without it.
"""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_utils.audio.loading import SAMPLE_RATE
from ser_utils.features import extraction as feature_extraction
from ser_utils.features import yamnet as features_yamnet
from ser_utils.features.cache import file_sha256
from ser_utils.features.extraction import extract_features
from ser_utils.features.yamnet import (
    YamnetConfig,
    YamnetTrunkConfig,
    fit_window,
    pool_embeddings,
    trunk_columns,
    trunk_features,
    trunk_shape,
    window_samples,
    yamnet_columns,
)
from ser_utils.models.persistence import model_card, predict_probabilities, save_model
from ser_utils.models.yamnet_finetune import (
    WARMUP_DIR,
    build_finetune_classifier,
    train_finetune,
    waveform_classifier,
    waveform_input_spec,
)
from ser_utils.serving.predictor import INPUT_KINDS, input_function, load_predictor
from ser_utils.yamnet.frontend import MIN_SAMPLES, num_patches
from ser_utils.yamnet.network import build_yamnet

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SER_SHARED_DIR", REPO.parent / "shared"))
MODEL_DIR = Path(os.environ.get("SER_YAMNET_DIR") or SHARED / "models" / "yamnet")
CLASSES = ["neutral", "happy", "sad"]

needs_model = pytest.mark.skipif(
    not (MODEL_DIR / "yamnet_spectra_in.tflite").is_file(),
    reason=f"YAMNet files not found at {MODEL_DIR}; set SER_YAMNET_DIR to the folder holding them",
)
pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|experimental_preserve_all_tensors):UserWarning")


def _voice(freq: float, *, sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """A vowel-like harmonic tone with vibrato and a little noise, faded in and out: (samples,) float32."""
    t = np.arange(int(sr * seconds)) / sr
    phase = 2 * np.pi * freq * (t + 0.002 * np.sin(2 * np.pi * 5 * t))
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    noise = 0.01 * np.random.default_rng(seed).normal(size=t.size)
    return (0.2 * tone * np.hanning(t.size) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    """Three 16 kHz clips of different pitch and length, with quiet edges to trim."""
    folder = tmp_path_factory.mktemp("clips")
    paths = []
    for index, (freq, seconds) in enumerate(((140.0, 1.2), (220.0, 2.0), (330.0, 3.1))):
        padded = np.concatenate(
            [np.zeros(4000), _voice(freq, sr=SAMPLE_RATE, seconds=seconds, seed=index), np.zeros(4000)]
        )
        path = folder / f"clip{index}.wav"
        sf.write(path, padded, SAMPLE_RATE)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def trunk_config():
    return YamnetTrunkConfig(n_patches=2, frozen_blocks=11)


@pytest.fixture(scope="module")
def trunk(clip_files, trunk_config):
    """The three clips' trunk activations (uncached)."""
    return extract_features(
        clip_files, feature_set="yamnet_trunk", config=trunk_config, cache_dir=None, n_jobs=1, progress=False
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, trunk, trunk_config):
    """A fine-tuned trunk classifier after one head epoch and one fine-tuning epoch on the three clips."""
    labels = np.arange(3)
    work_dir = tmp_path_factory.mktemp("finetune")
    keras.utils.set_random_seed(0)
    model = train_finetune(
        trunk.values,
        labels,
        trunk.values,
        labels,
        n_classes=3,
        work_dir=work_dir,
        config=trunk_config,
        warmup_epochs=1,
        epochs=1,
        batch_size=2,
        head_learning_rate=1e-3,
        learning_rate=1e-4,
        patience=8,
        seed=0,
    )
    return model, trunk, work_dir


def test_pool_embeddings_known_answer():
    embeddings = np.array([[0.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(pool_embeddings(embeddings), [1, 3, 2, 4, 1, 1])
    np.testing.assert_allclose(pool_embeddings(np.array([[5.0, -1.0]])), [5, -1, 5, -1, 0, 0])
    with pytest.raises(ValueError, match="patches >= 1"):
        pool_embeddings(np.zeros((0, 2)))


def test_fit_window_crops_the_centre_and_repeats_short_clips():
    np.testing.assert_array_equal(fit_window(np.arange(10.0), n_samples=4), [3, 4, 5, 6])
    np.testing.assert_array_equal(fit_window(np.array([1.0, 2.0, 3.0]), n_samples=7), [1, 2, 3, 1, 2, 3, 1])
    assert fit_window(np.ones(5), n_samples=5).dtype == np.float32
    with pytest.raises(ValueError, match="non-empty 1-D"):
        fit_window(np.zeros(0), n_samples=3)


@pytest.mark.parametrize("n_patches", [1, 2, 4, 7])
def test_window_gives_exactly_n_patches(n_patches):
    samples = window_samples(n_patches)
    assert num_patches(samples) == n_patches and num_patches(samples + 1) == n_patches + 1
    assert window_samples(1) == MIN_SAMPLES


def test_building_a_config_does_no_io_and_resolving_fills_the_weights_hash(monkeypatch):
    def refuse(**kwargs):
        raise AssertionError("building a config must not look for, hash or download the weights")

    monkeypatch.setattr(features_yamnet, "tflite_sha256", refuse)
    assert YamnetConfig().weights_sha256 is None and YamnetTrunkConfig(n_patches=2).weights_sha256 is None
    named = YamnetConfig(weights_sha256="a" * 64)
    assert features_yamnet.resolve_weights(named) is named
    monkeypatch.setattr(features_yamnet, "tflite_sha256", lambda: "b" * 64)
    assert features_yamnet.resolve_weights(YamnetTrunkConfig(n_patches=2)).weights_sha256 == "b" * 64
    assert waveform_input_spec(YamnetTrunkConfig(n_patches=2))["weights_sha256"] == "b" * 64


def test_trunk_shape_matches_the_model_and_leaves_a_block_to_tune():
    model = build_yamnet(include_head=False)
    for block in (1, 6, 11, 12):
        expected = tuple(model.get_layer(f"block{block}_pointwise_act").output.shape[1:])
        assert trunk_shape(frozen_blocks=block) == expected
    assert trunk_shape(frozen_blocks=11) == (6, 4, 512)
    with pytest.raises(ValueError, match="frozen_blocks"):
        trunk_shape(frozen_blocks=13)


@needs_model
def test_embeddings_have_3072_values_pool_the_trimmed_clip_and_hit_the_cache(clip_files, tmp_path, monkeypatch):
    from ser_utils.audio.prepare import prepare_waveform
    from ser_utils.yamnet.network import embed_waveform, yamnet_from_tflite

    cold = extract_features(clip_files, feature_set="yamnet", cache_dir=tmp_path, n_jobs=1, progress=False)
    assert cold.values.shape == (3, 3072) and cold.values.dtype == np.float32
    assert cold.columns == yamnet_columns() and (cold.n_cached, cold.n_computed) == (0, 3)
    assert cold.config["config"]["weights_sha256"] == file_sha256(MODEL_DIR / "yamnet_spectra_in.tflite")
    trimmed = prepare_waveform(clip_files[2], sr=SAMPLE_RATE, trim_db=YamnetConfig().trim_db)
    expected = pool_embeddings(embed_waveform(trimmed, backbone=yamnet_from_tflite(include_head=False)))
    np.testing.assert_allclose(cold.values[2], expected, rtol=1e-4, atol=1e-4)

    def refuse(waveform, *, config):
        raise AssertionError("a cached clip was embedded again")

    extractor = feature_extraction._EXTRACTORS["yamnet"]
    monkeypatch.setitem(feature_extraction._EXTRACTORS, "yamnet", replace(extractor, compute=refuse))
    warm = extract_features(clip_files, feature_set="yamnet", cache_dir=tmp_path, n_jobs=1, progress=False)
    assert (warm.n_cached, warm.n_computed) == (3, 0)
    np.testing.assert_array_equal(warm.values, cold.values)


@needs_model
def test_other_weights_get_another_cache_key_and_are_refused(clip_files, tmp_path):
    other = YamnetConfig(weights_sha256="0" * 64)
    features = extract_features(
        clip_files[:1], feature_set="yamnet", config=other, cache_dir=tmp_path, n_jobs=1, progress=False
    )
    default = extract_features(clip_files[:1], feature_set="yamnet", cache_dir=None, n_jobs=1, progress=False)
    assert features.cache_key != default.cache_key
    assert len(features.paths) == 0 and "sha256" in features.failures["reason"].iloc[0]


@needs_model
def test_trunk_features_shape(clip_files, trunk_config):
    trunk = extract_features(
        clip_files, feature_set="yamnet_trunk", config=trunk_config, cache_dir=None, n_jobs=1, progress=False
    )
    rows, cols, channels = trunk_shape(frozen_blocks=trunk_config.frozen_blocks)
    assert trunk.values.shape == (3, trunk_config.n_patches * rows * cols, channels) == (3, 48, 512)
    assert trunk.values.dtype == np.float16 and trunk.columns == trunk_columns(trunk_config)


@needs_model
def test_features_kind_rebuilds_yamnet_inputs_for_a_frozen_head_and_a_fold_model(
    clip_files, trained, tmp_path, monkeypatch
):
    from ser_utils.models.baselines import train_baseline
    from ser_utils.serving import predictor
    from ser_utils.serving.predictor import feature_input_spec

    # The predictor extracts in worker processes because openSMILE cannot share one with TensorFlow; YAMNet
    # sets can, and in-process extraction spares each test a TensorFlow start-up per worker.
    monkeypatch.setattr(predictor, "MIN_WORKERS", 1)
    manifest = pd.DataFrame({"path": clip_files, "corpus": "toy", "speaker": ["a", "b", "c"], "emotion": CLASSES})
    embeddings = extract_features(clip_files, feature_set="yamnet", cache_dir=None, n_jobs=1, progress=False)
    labels = np.arange(3)
    head = train_baseline(
        embeddings.values,
        labels,
        embeddings.values,
        labels,
        kind="logistic_regression",
        n_classes=3,
        work_dir=tmp_path,
        seed=0,
        n_jobs=1,
    )
    fold_model, trunk, _ = trained
    for name, model, features in (("head", head, embeddings), ("fold", fold_model, trunk)):
        card = model_card(
            name=name,
            classes=CLASSES,
            sample_rate=SAMPLE_RATE,
            manifest=manifest,
            data_label="test tones",
            input_spec=feature_input_spec([features]),
        )
        table = load_predictor(save_model(model, model_dir=tmp_path / name, card=card)).predict_files(
            clip_files, n_jobs=1
        )
        expected = predict_probabilities(model, features.values, n_classes=3)
        np.testing.assert_allclose(table[[f"prob_{c}" for c in CLASSES]].to_numpy(dtype=float), expected, atol=1e-4)


@needs_model
def test_finetune_model_builds_and_one_step_moves_only_the_top_blocks(trained, trunk_config):
    model, _, work_dir = trained
    assert model.output_shape == (None, 3)
    assert model.get_layer("patch_embeddings").output.shape[1:] == (trunk_config.n_patches, 1024)
    fresh = build_finetune_classifier(config=trunk_config, n_classes=3)
    assert model.compiled and not fresh.compiled  # the builder leaves compiling to training.compile_classifier
    top, untouched = model.get_layer("patch_embeddings").layer, fresh.get_layer("patch_embeddings").layer
    for name in ("block12_pointwise", "block13_pointwise"):
        assert not np.allclose(top.get_layer(name).get_weights()[0], untouched.get_layer(name).get_weights()[0])
    assert "block11_pointwise" not in [layer.name for layer in top.layers]
    assert (work_dir / "training_history.csv").is_file() and (work_dir / WARMUP_DIR / "training_history.csv").is_file()
    with pytest.raises(ValueError, match="n_classes"):
        build_finetune_classifier(config=trunk_config, n_classes=1)


def test_bfloat16_finetuning_returns_a_float32_model_with_the_trained_weights(trunk, trunk_config, tmp_path):
    keras.utils.set_random_seed(0)
    settings = {"warmup_epochs": 0, "epochs": 1, "batch_size": 2, "head_learning_rate": 1e-3, "patience": 8}
    labels = np.arange(3)
    data = (trunk.values, labels, trunk.values, labels)
    model = train_finetune(
        *data,
        n_classes=3,
        work_dir=tmp_path,
        config=trunk_config,
        learning_rate=1e-2,
        seed=0,
        precision="mixed_bfloat16",
        **settings,
    )
    top = model.get_layer("patch_embeddings").layer
    assert {layer.compute_dtype for layer in top.layers} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy did not leak out
    fresh = build_finetune_classifier(config=trunk_config, n_classes=3).get_layer("patch_embeddings").layer
    weights = top.get_layer("block13_pointwise").get_weights()[0]
    assert not np.allclose(weights, fresh.get_layer("block13_pointwise").get_weights()[0])  # trained, then copied
    probabilities = model.predict(trunk.values, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@needs_model
def test_waveform_model_equals_the_trunk_model_and_labels_a_44k_file_after_reloading(
    trained, trunk_config, clip_files, tmp_path
):
    model, trunk, _ = trained
    deployable = waveform_classifier(model, config=trunk_config)
    window = fit_window(np.random.default_rng(1).normal(scale=0.1, size=30_000), n_samples=window_samples(2))
    from_trunk = model.predict(trunk_features(window, config=trunk_config)[None], verbose=0)
    from_waveform = deployable.predict(window[None], verbose=0)
    np.testing.assert_allclose(from_waveform, from_trunk, atol=2e-3)

    card = model_card(
        name="toy",
        classes=CLASSES,
        sample_rate=SAMPLE_RATE,
        manifest=pd.DataFrame({"path": clip_files, "corpus": "toy", "speaker": ["a", "b", "c"], "emotion": CLASSES}),
        data_label="test tones",
        input_spec=waveform_input_spec(trunk_config),
    )
    model_dir = save_model(deployable, model_dir=tmp_path / "model", card=card)
    query = tmp_path / "query"
    query.mkdir()
    sf.write(query / "voice_44k.flac", _voice(220.0, sr=44_100, seconds=1.5), 44_100)
    (query / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert "waveform" in INPUT_KINDS and callable(input_function("waveform"))
    table = load_predictor(model_dir).predict_files([query / "voice_44k.flac", query / "broken.wav"], n_jobs=1)
    good, broken = table.iloc[0], table.iloc[1]
    assert good["error"] == "" and good["emotion"] in CLASSES
    assert sum(good[f"prob_{name}"] for name in CLASSES) == pytest.approx(1.0, abs=1e-4)
    assert broken["error"] and np.isnan(broken["confidence"])

    out = tmp_path / "predictions.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser_utils",
            "predict",
            "--model",
            str(model_dir),
            str(query / "voice_44k.flac"),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    fresh = pd.read_csv(out, keep_default_na=False)
    assert fresh["emotion"].iloc[0] == good["emotion"]
    np.testing.assert_allclose(
        fresh[[f"prob_{name}" for name in CLASSES]].iloc[0].to_numpy(dtype=float),
        good[[f"prob_{name}" for name in CLASSES]].to_numpy(dtype=float),
        atol=1e-5,
    )
