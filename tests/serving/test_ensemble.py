"""Tests for ser_utils.serving.ensemble: a saved ensemble pools its members' uncalibrated probabilities with its
weights, wherever its run folder moves, for files, in-memory waveforms and timelines."""

import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_utils.features.extraction import extract_features
from ser_utils.models.baselines import train_baseline
from ser_utils.models.persistence import model_card, read_card, save_model, update_card
from ser_utils.serving.assemble import assemble_recording
from ser_utils.serving.ensemble import save_enrolled_pool, save_ensemble
from ser_utils.serving.predictor import feature_input_spec, load_predictor
from ser_utils.serving.timeline import TimelineConfig, emotion_timeline

SR = 16_000
CLASSES = ["neutral", "happy", "sad"]
COLUMNS = [f"prob_{name}" for name in CLASSES]


def _tone(freq: float, *, seed: int, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    noise = 0.01 * np.random.default_rng(seed).normal(size=t.size)
    return (0.3 * np.sin(2 * np.pi * freq * (1 + 0.02 * np.sin(2 * np.pi * 5 * t)) * t) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder holding two saved models (logistic regression, random forest) on handcrafted features of tones
    (class k near 150·2^k Hz), and query clips."""
    folder = tmp_path_factory.mktemp("run")
    rows = []
    for index in range(12):
        path = folder / f"train{index:02d}.wav"
        sf.write(path, _tone(150 * 2 ** (index % 3) * (1 + 0.02 * (index // 3)), seed=index), SR)
        rows.append({"path": str(path), "corpus": "demo", "speaker": f"{index % 4}", "emotion": CLASSES[index % 3]})
    manifest = pd.DataFrame(rows)
    features = extract_features(manifest, feature_set="handcrafted", cache_dir=None, n_jobs=1, progress=False)
    labels = np.arange(12) % 3
    card = model_card(
        name="member", classes=CLASSES, sample_rate=SR, manifest=manifest, data_label="test tones",
        input_spec=feature_input_spec([features]),
    )  # fmt: skip
    for kind in ("logistic_regression", "random_forest"):
        model = train_baseline(
            features.values, labels, features.values, labels,
            kind=kind, n_classes=3, work_dir=folder / "fit", seed=0, n_jobs=1,
        )  # fmt: skip
        save_model(model, model_dir=folder / "artifacts" / kind, card={**card, "name": kind})
    clips = []
    for index in range(4):
        clips.append(folder / f"query{index}.wav")
        sf.write(clips[-1], _tone(150 * 2 ** (index % 3) * 1.01, seed=100 + index), SR)
    return folder, manifest, clips


def _ensemble(run, weights: dict[str, float]):
    folder, manifest, _ = run
    card = model_card(
        name="ensemble", classes=CLASSES, sample_rate=SR, manifest=manifest, data_label="test tones",
        input_spec={"kind": "ensemble"},
    )  # fmt: skip
    members = {folder / "artifacts" / name: weight for name, weight in weights.items()}
    return save_ensemble(model_dir=folder / "artifacts" / "ensemble", members=members, card=card)


def test_ensemble_is_the_log_linear_pool_of_its_uncalibrated_members(run_folder, tmp_path):
    folder, _, clips = run_folder
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    paths = [*clips, broken]
    single = {
        name: load_predictor(folder / "artifacts" / name).predict_files(paths, n_jobs=1)
        for name in ("logistic_regression", "random_forest")
    }
    ensemble_dir = _ensemble(run_folder, {"logistic_regression": 3.0, "random_forest": 1.0})
    update_card(folder / "artifacts" / "random_forest", calibration={"temperature": 3.0})  # not used by the ensemble
    table = load_predictor(ensemble_dir).predict_files(paths, n_jobs=1)
    floored = {name: np.clip(table[COLUMNS].to_numpy()[:4], 1e-4, None) for name, table in single.items()}
    product = floored["logistic_regression"] ** 3 * floored["random_forest"]
    expected = product / product.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(table[COLUMNS].to_numpy()[:4], expected, atol=1e-6)
    assert table["emotion"].iloc[:4].isin(CLASSES).all() and table["error"].iloc[4] and table["emotion"].iloc[4] == ""
    update_card(ensemble_dir, calibration={"temperature": 2.0})  # the ensemble's own temperature is applied
    softened = load_predictor(ensemble_dir).predict_files(clips, n_jobs=1)
    assert (softened["confidence"] < table["confidence"].iloc[:4]).all()
    assert softened["emotion"].tolist() == table["emotion"].iloc[:4].tolist()
    with pytest.raises(ValueError, match="no enrolled pool"):
        load_predictor(ensemble_dir).predict_files(clips, n_jobs=1, enrol=clips)
    update_card(folder / "artifacts" / "random_forest", calibration={})
    update_card(ensemble_dir, calibration={})


def test_enrolment_pools_raw_normalised_and_adaptive_views_with_the_weights_for_that_many_clips(run_folder, tmp_path):
    """Known answer: with k usable enrolment clips, the card's weights for the largest k' <= k pool the members' raw
    probabilities, the members' probabilities divided by their mean over the clips, and the adaptive members' (their
    inputs centred by the enrolment offset: here the prior mean 0, the pseudo-counts being huge)."""
    folder, _, clips = run_folder
    artifacts = folder / "artifacts"
    adaptive_dir = artifacts / "adaptive"
    shutil.copytree(artifacts / "random_forest", adaptive_dir, dirs_exist_ok=True)
    n_columns = len(read_card(adaptive_dir)["input"]["columns"])
    prior = {"prior_mean": [0.0] * n_columns, "pseudo_counts": [1e12] * n_columns}
    update_card(adaptive_dir, adaptation=prior, calibration={"temperature": 3.0})  # the ensemble ignores it
    ensemble_dir = _ensemble(run_folder, {"random_forest": 1.0})
    weights = pd.DataFrame(
        [
            {"adaptation": "enrol-1", "n_clips": 1, "fold": "all", "raw:lr": 1.0, "normalised:rf": 0.0},
            {"adaptation": "enrol-2", "n_clips": 2, "fold": "all", "normalised:lr": 1.0, "adaptive:rf": 0.5},
            {"adaptation": "enrol-2", "n_clips": 2, "fold": "f1", "raw:rf": 9.0},  # a fold's weights: not deployed
        ]
    ).fillna(0.0)
    save_enrolled_pool(
        ensemble_dir,
        weights=weights,
        members={"lr": artifacts / "logistic_regression", "rf": artifacts / "random_forest"},
        adaptive={"rf": adaptive_dir},
    )
    section = read_card(ensemble_dir)["enrolled_pool"]
    assert section["members"] == ["../logistic_regression"], "rf has no weight at any deployed k: left out"
    assert section["weights"]["2"] == {"raw": [0.0], "normalised": [1.0], "adaptive": [0.5]}
    ensemble = load_predictor(ensemble_dir)
    single = {
        name: load_predictor(artifacts / name).predict_files(clips, n_jobs=1)[COLUMNS].to_numpy()
        for name in ("logistic_regression", "random_forest")
    }
    one = ensemble.predict_files(clips, n_jobs=1, enrol=[clips[0], tmp_path / "missing.wav"])
    np.testing.assert_allclose(one[COLUMNS], single["logistic_regression"], atol=1e-6)  # k = 1: lr's raw view
    two = ensemble.predict_files(clips, n_jobs=1, enrol=[*clips[:2], tmp_path / "missing.wav"])
    normalised = single["logistic_regression"] / single["logistic_regression"][:2].mean(axis=0)
    normalised /= normalised.sum(axis=1, keepdims=True)
    product = np.clip(normalised, 1e-4, None) * np.clip(single["random_forest"], 1e-4, None) ** 0.5
    np.testing.assert_allclose(two[COLUMNS], product / product.sum(axis=1, keepdims=True), atol=1e-6)
    assert set(two["adaptation"]) == {"enrol-2"} and set(one["adaptation"]) == {"enrol-1"}
    plain = ensemble.predict_files(clips, n_jobs=1)  # no enrolment: the zero-shot pool (rf alone)
    np.testing.assert_allclose(plain[COLUMNS], single["random_forest"], atol=1e-6)
    with pytest.raises(ValueError, match="no usable enrolment clip"):
        ensemble.predict_files(clips, n_jobs=1, enrol=[tmp_path / "missing.wav"])
    shutil.rmtree(adaptive_dir)


def test_ensemble_folder_moves_with_its_run_and_labels_timelines(run_folder, tmp_path):
    folder, _, clips = run_folder
    _ensemble(run_folder, {"logistic_regression": 1.0, "random_forest": 0.0})  # a weight-0 member is left out
    assert [entry["model_dir"] for entry in read_card(folder / "artifacts" / "ensemble")["members"]] == [
        "../logistic_regression"
    ]
    moved = shutil.copytree(folder / "artifacts", tmp_path / "elsewhere")
    ensemble = load_predictor(moved / "ensemble")
    alone = load_predictor(moved / "logistic_regression")
    recording = tmp_path / "long.wav"
    assemble_recording(clips, out_path=recording, sr=SR, gap_s=2.0)
    config = TimelineConfig(window_s=1.5, hop_s=0.5)
    ours, theirs = (emotion_timeline(recording, predictor=p, config=config) for p in (ensemble, alone))
    pd.testing.assert_frame_equal(ours.segments, theirs.segments)


def test_members_reading_the_same_features_share_one_extraction(run_folder, monkeypatch):
    import ser_utils.serving.predictor as predictor_module

    folder, _, clips = run_folder
    ensemble_dir = _ensemble(run_folder, {"logistic_regression": 1.0, "random_forest": 1.0})
    calls = []
    extract = predictor_module.feature_inputs
    monkeypatch.setattr(
        predictor_module, "feature_inputs", lambda *args, **kwargs: calls.append(1) or extract(*args, **kwargs)
    )
    load_predictor(ensemble_dir).predict_files(clips, n_jobs=1)
    assert len(calls) == 1  # both members read the same handcrafted columns
