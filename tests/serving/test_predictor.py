"""Tests for ser_utils.serving.predictor and ``python -m ser_utils predict``: a saved model folder alone rebuilds the
predictor, which reads any rate, computes the training inputs and reports broken files as error rows."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_utils.audio.loading import SAMPLE_RATE
from ser_utils.audio.prepare import TRIM_DB
from ser_utils.features.extraction import extract_features
from ser_utils.models.baselines import train_baseline
from ser_utils.models.dense_mlp import train_mlp
from ser_utils.models.persistence import model_card, save_model, update_card
from ser_utils.serving.predictor import INPUT_KINDS, feature_input_spec, input_function, load_predictor

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["neutral", "happy", "sad"]
MLP = {"variant": "tuned", "epochs": 1, "batch_size": 32, "patience": 15, "learning_rate": 1e-3, "seed": 0}


def _clip(freq: float, *, sr: int, seconds: float = 0.6, seed: int = 0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    vibrato = 1 + 0.02 * np.sin(2 * np.pi * 5 * t)
    noise = 0.01 * np.random.default_rng(seed).normal(size=t.size)
    return (0.3 * np.sin(2 * np.pi * freq * vibrato * t) * np.hanning(t.size) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Training clips (16 kHz), their handcrafted features and a manifest: class k is a tone near 150·2^k Hz."""
    folder = tmp_path_factory.mktemp("train")
    rows = []
    for index in range(12):
        label = index % 3
        path = folder / f"clip{index:02d}.wav"
        sf.write(path, _clip(150 * 2**label * (1 + 0.03 * index), sr=16000, seed=index), 16000)
        rows.append({"path": str(path), "corpus": "demo", "speaker": f"{index % 4:02d}", "emotion": CLASSES[label]})
    manifest = pd.DataFrame(rows)
    features = extract_features(manifest, feature_set="handcrafted", cache_dir=None, n_jobs=1, progress=False)
    egemaps = extract_features(manifest, feature_set="egemaps", cache_dir=None, n_jobs=2, progress=False)
    labels = np.arange(12) % 3
    return manifest, features, egemaps, labels


def _save(model, model_dir: Path, manifest, features, columns) -> Path:
    feature_sets = features if isinstance(features, list) else [features]
    card = model_card(
        name="toy",
        classes=CLASSES,
        sample_rate=16000,
        manifest=manifest,
        data_label="test tones",
        input_spec=feature_input_spec(feature_sets, columns=columns),
    )
    return save_model(model, model_dir=model_dir, card=card)


def _query_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "low_8k.wav", _clip(150, sr=8000), 8000)
    sf.write(folder / "high_44k.flac", _clip(600, sr=44100), 44100)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return [folder / "low_8k.wav", folder / "high_44k.flac", folder / "broken.wav"]


def test_features_kind_is_registered_and_unknown_kinds_are_rejected():
    assert callable(input_function("features"))
    with pytest.raises(ValueError, match="unknown input kind"):
        input_function("telepathy")
    assert "features" in INPUT_KINDS


def test_predictor_reproduces_the_training_inputs(trained, tmp_path):
    manifest, features, _, labels = trained
    columns = list(features.columns[:195])
    x = features.values[:, :195]
    model = train_baseline(
        x, labels, x, labels, kind="logistic_regression", n_classes=3, work_dir=tmp_path, seed=0, n_jobs=1
    )
    model_dir = _save(model, tmp_path / "model", manifest, features, columns)
    table = load_predictor(model_dir).predict_files(manifest["path"], n_jobs=2)
    assert (table["error"] == "").all()
    expected = model.predict_proba(x)
    assert np.allclose(table[[f"prob_{c}" for c in CLASSES]].to_numpy(), expected, atol=1e-5)

    update_card(model_dir, calibration={"temperature": 2.0, "fitted_on": "test"})
    calibrated = load_predictor(model_dir).predict_files(manifest["path"], n_jobs=2)
    softened = np.sqrt(expected) / np.sqrt(expected).sum(axis=1, keepdims=True)  # softmax(log p / 2)
    assert np.allclose(calibrated[[f"prob_{c}" for c in CLASSES]].to_numpy(), softened, atol=1e-5)
    assert calibrated["emotion"].tolist() == table["emotion"].tolist()
    assert (calibrated["confidence"] < table["confidence"]).all()


def test_keras_model_on_two_feature_sets_predicts_any_rate_and_reports_broken_files(trained, tmp_path):
    manifest, features, egemaps, labels = trained
    x = np.concatenate([features.values, egemaps.values], axis=1)
    model = train_mlp(x, labels, x, labels, n_classes=3, work_dir=tmp_path / "fit", **MLP)
    model_dir = _save(model, tmp_path / "model", manifest, [features, egemaps], None)
    predictor = load_predictor(model_dir)
    assert predictor.classes == CLASSES
    table = predictor.predict_files(_query_files(tmp_path / "query"), n_jobs=2)
    assert list(table["path"].map(lambda p: Path(p).name)) == ["low_8k.wav", "high_44k.flac", "broken.wav"]
    good, broken = table.iloc[:2], table.iloc[2]
    assert (good["error"] == "").all() and good["emotion"].isin(CLASSES).all()
    assert np.allclose(good[[f"prob_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-4)
    assert broken["error"] and broken["emotion"] == "" and np.isnan(broken["confidence"])


def test_cli_predict_in_a_fresh_process(trained, tmp_path):
    """An eGeMAPS model: openSMILE inside a process that loaded TensorFlow first can abort it (malloc error,
    not reliably reproducible here), which the predictor avoids by extracting in worker processes."""
    manifest, _, egemaps, labels = trained
    model = train_mlp(egemaps.values, labels, egemaps.values, labels, n_classes=3, work_dir=tmp_path / "fit", **MLP)
    model_dir = _save(model, tmp_path / "model", manifest, egemaps, None)
    query = tmp_path / "query"
    _query_files(query)
    out = tmp_path / "out" / "predictions.csv"
    result = subprocess.run(
        [sys.executable, "-m", "ser_utils", "predict", "--model", str(model_dir), str(query), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr  # written, with one error row
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) == 3
    columns = ["path", "emotion", "confidence", *(f"prob_{c}" for c in CLASSES), "error", "note", "adaptation"]
    assert list(table.columns) == columns and (table["adaptation"] == "none").all()
    assert (table["error"] != "").sum() == 1 and "broken.wav" in table.loc[table["error"] != "", "path"].iloc[0]
    assert "3 files, 1 errors" in result.stdout


def test_cli_predict_rejects_a_folder_without_a_card(tmp_path):
    from ser_utils.cli import main

    assert main(["predict", "--model", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2


def test_serving_and_training_prepare_edge_cases_alike(tmp_path):
    """The waveform kind (fine-tuned YAMNet serving) and feature extraction refuse and accept the same clips, for
    the same reasons: both call audio.prepare.prepare_waveform (duration checked before trimming)."""
    from ser_utils.models.yamnet_finetune import waveform_inputs

    tone = _clip(220, sr=SAMPLE_RATE, seconds=0.03)
    edge_cases = {
        "silent.wav": np.zeros(SAMPLE_RATE, np.float32),
        "30ms.wav": tone,
        "lead_silence.wav": np.concatenate([np.zeros(SAMPLE_RATE, np.float32), tone / np.abs(tone).max() * 0.3]),
        "speech.wav": _clip(220, sr=SAMPLE_RATE),
    }
    paths = []
    for name, waveform in edge_cases.items():
        sf.write(tmp_path / name, waveform, SAMPLE_RATE)
        paths.append(str(tmp_path / name))
    spec = {"kind": "waveform", "sample_rate": SAMPLE_RATE, "trim_db": TRIM_DB, "n_samples": 15_600}
    inputs, serving = waveform_inputs(paths, spec=spec, n_jobs=1)
    features = extract_features(paths, feature_set="logmel", cache_dir=None, n_jobs=1, progress=False)
    training = dict(zip(features.failures["path"], features.failures["reason"], strict=True))
    assert serving == [training.get(path, "") for path in paths]
    assert serving[0].startswith("silent") and "too short" in serving[1]
    assert serving[2:] == ["", ""] and inputs.shape == (2, 15_600)


def test_every_audio_named_entry_gets_a_row_and_long_files_a_timeline_note(trained, tmp_path):
    """A new user's folder: a dangling symlink and a sub-folder named x.wav get rows with reasons, not silence;
    a 25-s file gets its label and a note pointing at ``timeline``."""
    manifest, features, _, labels = trained
    model = train_baseline(
        features.values, labels, features.values, labels,
        kind="logistic_regression", n_classes=3, work_dir=tmp_path / "fit", seed=0, n_jobs=1,
    )  # fmt: skip
    model_dir = _save(model, tmp_path / "model", manifest, features, None)
    folder = tmp_path / "query"
    folder.mkdir()
    sf.write(folder / "short.wav", _clip(300, sr=16000), 16000)
    sf.write(folder / "long.wav", np.tile(_clip(300, sr=16000, seconds=1.0), 25), 16000)
    (folder / "gone.wav").symlink_to(tmp_path / "deleted.wav")
    (folder / "x.wav").mkdir()
    (folder / "notes.txt").write_text("not audio")
    table = load_predictor(model_dir).predict_files([folder, tmp_path / "missing.flac"], n_jobs=2).set_index("path")
    names = {Path(path).name: row for path, row in table.iterrows()}
    assert sorted(names) == ["gone.wav", "long.wav", "missing.flac", "short.wav", "x.wav"]
    assert "broken symbolic link" in names["gone.wav"]["error"]
    assert "is a folder" in names["x.wav"]["error"]
    assert "no such file" in names["missing.flac"]["error"]
    assert names["short.wav"]["error"] == names["long.wav"]["error"] == ""
    assert names["short.wav"]["note"] == "" and "timeline" in names["long.wav"]["note"]
    assert names["long.wav"]["emotion"] in CLASSES


def test_predict_with_a_scikit_learn_model_loads_no_tensorflow_and_spawns_no_worker(trained, tmp_path):
    """Cold start: one file and a scikit-learn model need neither TensorFlow nor worker processes."""
    manifest, features, egemaps, labels = trained
    x = np.concatenate([features.values, egemaps.values], axis=1)
    model = train_baseline(
        x, labels, x, labels, kind="logistic_regression", n_classes=3, work_dir=tmp_path / "fit", seed=0, n_jobs=1
    )
    model_dir = _save(model, tmp_path / "model", manifest, [features, egemaps], None)
    script = (
        "import sys, multiprocessing\n"
        "from ser_utils.cli import main\n"
        f"argv = ['predict', '--model', {str(model_dir)!r}, {manifest['path'][0]!r}]\n"
        f"argv += ['--out', {str(tmp_path / 'p.csv')!r}]\n"
        "code = main(argv)\n"
        "print(code, 'tensorflow' in sys.modules, len(multiprocessing.active_children()))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.stdout.split()[-3:] == ["0", "False", "0"], result.stderr


def test_speaker_adaptive_model_centres_the_voice_by_its_enrolment_clips(trained, tmp_path):
    """Known answer: ``--enrol`` gives the model's probabilities of the inputs minus the shrunk mean of the
    enrolment clips' inputs; without it the prior mean is used; a plain model refuses an enrolment."""
    from ser_utils.cli import main
    from ser_utils.features.speaker_adaptation import centre_per_speaker, fit_speaker_prior, speaker_offset

    manifest, features, _, labels = trained
    prior = fit_speaker_prior(features.values, manifest["speaker"], pseudo_count=2.0)
    x = centre_per_speaker(features.values, manifest["speaker"], prior=prior)
    model = train_baseline(
        x, labels, x, labels, kind="logistic_regression", n_classes=3, work_dir=tmp_path / "fit", seed=0, n_jobs=1
    )
    model_dir = _save(model, tmp_path / "model", manifest, features, None)
    update_card(model_dir, adaptation={"method": "speaker-mean-shrinkage", **prior.as_dict()})
    predictor = load_predictor(model_dir)
    enrol, query = list(manifest["path"][:4]), list(manifest["path"][4:6])
    table = predictor.predict_files(query, n_jobs=1, enrol=enrol)
    offset = speaker_offset(features.values[:4], prior=prior)
    expected = model.predict_proba((features.values[4:6] - offset).astype(np.float32))
    np.testing.assert_allclose(table[[f"prob_{c}" for c in CLASSES]].to_numpy(), expected, atol=1e-5)
    assert (table["adaptation"] == "enrol-4").all()
    plain = predictor.predict_files(query, n_jobs=1)
    expected = model.predict_proba((features.values[4:6] - prior.mean).astype(np.float32))
    np.testing.assert_allclose(plain[[f"prob_{c}" for c in CLASSES]].to_numpy(), expected, atol=1e-5)
    assert (plain["adaptation"] == "none").all()
    out = tmp_path / "p.csv"
    enrol_dir = tmp_path / "enrol"
    enrol_dir.mkdir()
    for path in enrol:
        (enrol_dir / Path(path).name).symlink_to(path)
    assert main(["predict", "--model", str(model_dir), "--enrol", str(enrol_dir), *query, "--out", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["prob_sad"], table["prob_sad"], atol=1e-6)
    plain_dir = _save(model, tmp_path / "plain", manifest, features, None)
    with pytest.raises(ValueError, match="not speaker-adaptive"):
        load_predictor(plain_dir).predict_files(query, n_jobs=1, enrol=enrol)
