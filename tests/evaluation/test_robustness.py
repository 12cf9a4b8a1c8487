"""Robustness scoring: the subset, corrupted files, per-clip labels, delta UAR, unchanged shares, thresholds."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression

from ser_utils.evaluation import augmentation, robustness
from ser_utils.evaluation.protocol import Fold
from ser_utils.features.extraction import FeatureSet
from ser_utils.models.persistence import save_model
from ser_utils.serving.ensemble import save_ensemble

SR = 16000
CLASSES = ["angry", "happy"]
FOLDS = [
    Fold("fold1", train_speakers=("s3", "s4"), val_speakers=(), test_speakers=("s1", "s2")),
    Fold("fold2", train_speakers=("s1", "s2"), val_speakers=(), test_speakers=("s3", "s4")),
]


def _manifest(tmp_path, *, clips_per_speaker: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for speaker in ("s1", "s2", "s3", "s4"):
        for index in range(clips_per_speaker):
            path = tmp_path / f"{speaker}_{index}.wav"
            sf.write(path, (0.1 * rng.standard_normal(SR)).astype(np.float32), SR)
            rows.append({"path": str(path), "corpus": "demo", "speaker": speaker, "emotion": CLASSES[index % 2]})
    return pd.DataFrame(rows)


def test_subset_takes_the_share_of_every_test_speaker_with_its_fold(tmp_path):
    manifest = _manifest(tmp_path)
    subset = robustness.evaluation_subset(manifest, FOLDS, fraction=0.5, seed=0)
    assert subset.groupby("speaker").size().to_dict() == {"s1": 2, "s2": 2, "s3": 2, "s4": 2}
    assert subset.set_index("speaker")["fold"].to_dict() == {"s1": "fold1", "s2": "fold1", "s3": "fold2", "s4": "fold2"}
    pd.testing.assert_frame_equal(subset, robustness.evaluation_subset(manifest, FOLDS, fraction=0.5, seed=0))
    with pytest.raises(ValueError, match="fraction"):
        robustness.evaluation_subset(manifest, FOLDS, fraction=0, seed=0)


def test_a_second_subset_shares_no_clip_with_the_first_and_keeps_its_size(tmp_path):
    manifest = _manifest(tmp_path)
    first = robustness.evaluation_subset(manifest, FOLDS, fraction=0.5, seed=0)
    second = robustness.evaluation_subset(manifest, FOLDS, fraction=0.5, seed=0, exclude=first["path"])
    assert set(first["path"]).isdisjoint(second["path"]) and len(set(first["path"]) | set(second["path"])) == 16
    assert second.groupby("speaker").size().to_dict() == {"s1": 2, "s2": 2, "s3": 2, "s4": 2}
    with pytest.raises(ValueError, match="speaker s1 has 0 clips left to draw, fewer than 2"):
        robustness.evaluation_subset(manifest, FOLDS, fraction=0.5, seed=0, exclude=manifest["path"])
    rest = robustness.evaluation_subset(manifest, FOLDS, fraction=None, seed=0, exclude=first["path"])
    assert sorted(rest["path"]) == sorted(second["path"]), "fraction None: every clip the first left"
    assert rest["fold"].notna().all()


def test_corrupted_clips_are_written_once_and_babble_comes_from_other_folds(tmp_path):
    manifest = _manifest(tmp_path, clips_per_speaker=2)
    subset = robustness.evaluation_subset(manifest, FOLDS, fraction=1.0, seed=0)
    conditions = [("white_noise", 10.0), ("babble", 20.0)]
    paths = robustness.corrupt_subset(
        subset, manifest=manifest, folds=FOLDS, conditions=conditions, audio_dir=tmp_path / "c", sr=SR, seed=0, n_jobs=1
    )
    assert list(paths) == [robustness.CLEAN, ("white_noise", "10.0"), ("babble", "20.0")]
    noisy = paths[("white_noise", "10.0")]
    clean_audio, _ = sf.read(subset["path"].iloc[0], dtype="float32")
    noisy_audio, _ = sf.read(noisy[0], dtype="float32")
    assert len(noisy_audio) == len(clean_audio)
    assert 10 * np.log10(np.mean(clean_audio**2) / np.mean((noisy_audio - clean_audio) ** 2)) == pytest.approx(
        10, abs=0.2
    )
    first_write = [p.stat().st_mtime_ns for p in map(Path, noisy)]
    again = robustness.corrupt_subset(
        subset, manifest=manifest, folds=FOLDS, conditions=conditions, audio_dir=tmp_path / "c", sr=SR, seed=0, n_jobs=1
    )
    assert again == paths and [Path(p).stat().st_mtime_ns for p in noisy] == first_write
    babble = pd.Series(paths[("babble", "20.0")])
    assert babble[subset["fold"].eq("fold1")].str.contains("/fold1/").all(), "babble is mixed per evaluated fold"


def test_babble_talkers_come_only_from_the_given_speakers(tmp_path):
    manifest = _manifest(tmp_path, clips_per_speaker=1)
    talkers = robustness.babble_talkers(manifest, ["s3"], sr=SR, seed=0)
    reference, _ = sf.read(manifest.loc[manifest["speaker"].eq("s3"), "path"].iloc[0], dtype="float32")
    assert 4 <= len(talkers) <= 7
    assert all(np.array_equal(talker, reference) for talker in talkers)  # s3 has one clip: every talker is it


def _predictions(condition: str, severity: str, y_pred: list[str]) -> pd.DataFrame:
    y_true = ["angry", "angry", "happy", "happy"]
    return pd.DataFrame(
        {
            "model": "m",
            "features": "f",
            "condition": condition,
            "severity": severity,
            "fold": "fold1",
            "path": ["a", "b", "c", "d"],
            "y_true": y_true,
            "y_pred": y_pred,
        }
    )


def test_table_measures_delta_uar_and_unchanged_against_clean_on_the_same_clips():
    predictions = pd.concat(
        [
            _predictions("clean", "", ["angry", "angry", "happy", "angry"]),  # UAR (1 + 0.5) / 2 = 0.75
            _predictions("white_noise", "20.0", ["angry", "happy", "happy", "happy"]),  # UAR 0.75, 2 of 4 changed
            _predictions("telephone", "gsm", ["happy", "happy", "happy", "happy"]),  # UAR 0.5, 1 of 4 unchanged
        ]
    )
    table = robustness.robustness_table(predictions, classes=CLASSES).set_index("condition")
    assert table.loc["clean", "uar"] == pytest.approx(0.75) and table.loc["clean", "unchanged"] == 1.0
    assert table.loc["white_noise", "delta_uar"] == pytest.approx(0.0)
    assert table.loc["white_noise", "unchanged"] == pytest.approx(0.5)
    assert table.loc["telephone", "delta_uar"] == pytest.approx(-0.25)
    assert table.loc["telephone", "unchanged"] == pytest.approx(0.25)
    assert table.loc["telephone", "n"] == 4
    with pytest.raises(ValueError, match="clean"):
        robustness.robustness_table(predictions[predictions["condition"].ne("clean")], classes=CLASSES)


def test_verdicts_and_deployment_check_apply_the_ser_tests_marks():
    table = pd.DataFrame(
        [
            ("good", "f", "clean", "", 10, 0.6, 0.6, 0.0, 1.0),
            ("good", "f", "white_noise", "20.0", 10, 0.58, 0.58, -0.02, 0.95),
            ("good", "f", "babble", "20.0", 10, 0.57, 0.57, -0.03, 0.91),
            ("good", "f", "telephone", "gsm", 10, 0.56, 0.56, -0.04, 0.75),
            ("bad", "f", "clean", "", 10, 0.7, 0.7, 0.0, 1.0),
            ("bad", "f", "white_noise", "20.0", 10, 0.6, 0.6, -0.1, 0.95),
            ("bad", "f", "babble", "20.0", 10, 0.7, 0.7, 0.0, 0.95),
            ("bad", "f", "telephone", "gsm", 10, 0.7, 0.7, 0.0, 0.95),
        ],
        columns=list(robustness.TABLE_COLUMNS),
    )
    verdicts = robustness.threshold_verdicts(table).set_index(["model", "condition"])
    assert verdicts.loc[("good", "white_noise"), "passes"] and not verdicts.loc[("bad", "white_noise"), "passes"]
    assert verdicts.loc[("good", "telephone"), "passes"], "ser-tests asks only half the phone labels to stay"
    clean = pd.DataFrame({"model": ["good", "bad"], "features": "f", "uar": [0.55, 0.56]})
    check = robustness.deployment_check(table, clean).set_index("model")
    assert check.loc["good", "meets"] and not check.loc["bad", "meets"]
    assert check.loc["good", "clean_gap"] == pytest.approx(0.01)
    assert check.loc["good", "telephone_gsm_unchanged"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="several rows"):  # e.g. a model's enrolment rows beside its plain one
        robustness.deployment_check(table, pd.concat([clean, clean.assign(uar=0.7)]))


def test_fold_models_are_found_and_score_their_own_test_speakers(tmp_path):
    x = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [1.1, 1.0]])
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    spec = {"kind": "features", "feature_sets": ["egemaps"], "configs": {"egemaps": {}}, "columns": ["b", "a"]}
    card = {"name": "lr (fold1)", "classes": CLASSES, "sample_rate": SR, "input": spec, "protocol": FOLDS[0].__dict__}
    save_model(model, model_dir=tmp_path / "lr__egemaps" / "folds" / "fold1", card=card)
    (found,) = robustness.fold_models(tmp_path)
    assert (found.model, found.features, found.fold) == ("lr", "egemaps", "fold1")
    rows = pd.DataFrame({"path": ["p1", "p2"], "speaker": ["s1", "s2"], "emotion": ["angry", "happy"], "fold": "fold1"})

    def features(values):  # columns a, b: the card asks for (b, a)
        failures = pd.DataFrame(columns=["path", "reason"])
        return FeatureSet(
            "egemaps", ("p1", "p2"), np.array(values, dtype=np.float32), ("a", "b"), failures, {}, "", 0, 0
        )

    key = robustness.set_key("egemaps", {})
    by_condition = {robustness.CLEAN: (["p1", "p2"], {key: features([[0.0, 0.0], [1.0, 1.0]])})}
    by_condition["gain", "20.0"] = (["p1", "p2"], {key: features([[1.0, 1.0], [1.0, 1.0]])})
    labels = robustness.predict_conditions(found, rows=rows, features_by_condition=by_condition, classes=CLASSES)
    assert labels.groupby("condition")["y_pred"].apply(list).to_dict() == {
        "clean": ["angry", "happy"],
        "gain": ["happy", "happy"],
    }
    stranger = rows.assign(speaker=["s3", "s1"])
    with pytest.raises(ValueError, match="not tested on speakers"):
        robustness.predict_conditions(found, rows=stranger, features_by_condition=by_condition, classes=CLASSES)


def test_models_reading_one_set_with_two_trims_get_their_own_features(tmp_path):
    rng = np.random.default_rng(0)
    quiet = 0.001 * rng.standard_normal(SR)  # 1 s of room tone either side of a loud 0.5-s tone
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(SR // 2) / SR)
    path = tmp_path / "clip.wav"
    sf.write(path, np.concatenate([quiet, tone, quiet]).astype(np.float32), SR)
    specs = [{"feature_sets": ["handcrafted"], "configs": {"handcrafted": {"trim_db": trim}}} for trim in (None, 20.0)]
    (paths, sets) = robustness.condition_features(
        {robustness.CLEAN: [str(path)]}, specs=specs, cache_dir=None, n_jobs=1
    )[robustness.CLEAN]
    whole, speech = (sets[robustness.set_key("handcrafted", spec["configs"]["handcrafted"])] for spec in specs)
    rms = list(whole.columns).index("rms_mean")
    assert paths == [str(path)] and whole.config != speech.config
    assert speech.values[0, rms] > 2 * whole.values[0, rms]  # the trimmed clip is 1/5 as long and all tone


def test_ensemble_labels_each_fold_with_that_folds_weights(tmp_path):
    members = {name: tmp_path / f"{name}__egemaps" for name in ("a", "b")}
    models = [
        robustness.FoldModel(name, "egemaps", fold, folder / "folds" / fold)
        for name, folder in members.items()
        for fold in ("fold1", "fold2")
    ]

    def labels(model, fold, path, angry):  # one member's row for one clip, clean
        key = {"model": model, "features": "egemaps", "condition": "clean", "severity": "", "fold": fold, "path": path}
        label = "angry" if angry > 0.5 else "happy"
        return {**key, "y_true": "angry", "y_pred": label, "prob_angry": angry, "prob_happy": 1 - angry}

    predictions = pd.DataFrame(
        [
            labels("a", "fold1", "p1", 0.9),
            labels("b", "fold1", "p1", 0.2),
            labels("a", "fold2", "p3", 0.9),
            labels("b", "fold2", "p3", 0.2),
            labels("a", "fold1", "p4", 0.9),  # member b failed on p4: fold 1's ensemble cannot label it
        ]
    )
    folder = save_ensemble(
        model_dir=tmp_path / "ensemble",
        members={members["a"]: 0.5, members["b"]: 0.5},
        fold_members={"fold1": {members["a"]: 0.25, members["b"]: 0.75}, "fold2": {members["a"]: 1.0}},
        card={"name": "ensemble", "classes": CLASSES},
    )
    fused = robustness.ensemble_predictions(predictions, models=models, ensemble_dir=folder, classes=CLASSES)
    fused = fused.set_index("path")
    angry, happy = 0.9**0.25 * 0.2**0.75, 0.1**0.25 * 0.8**0.75  # fold 1's log-linear pool
    assert fused.loc["p1", "prob_angry"] == pytest.approx(angry / (angry + happy))
    assert fused.loc["p1", "y_pred"] == "happy" and fused.loc["p3", "y_pred"] == "angry"
    assert set(fused.index) == {"p1", "p3"} and set(fused["model"]) == {"ensemble"}
    named = robustness.ensemble_predictions(
        predictions, models=models, ensemble_dir=folder, classes=CLASSES, name="pool", features="spans"
    )
    assert set(named["model"]) == {"pool"} and set(named["features"]) == {"spans"}
    with pytest.raises(ValueError, match="was not scored"):
        robustness.ensemble_predictions(predictions, models=models[:1], ensemble_dir=folder, classes=CLASSES)


def test_augmented_clips_cover_the_requested_share_with_recipe_conditions(tmp_path):
    manifest = _manifest(tmp_path, clips_per_speaker=2)
    recipe = (("white_noise", (15.0,)), ("babble", (25.0,)))
    augmented = augmentation.augmented_clips(
        manifest, FOLDS, recipe=recipe, fraction=1.0, audio_dir=tmp_path / "a", sr=SR, seed=0, n_jobs=1
    )
    assert len(augmented) == len(manifest) and set(augmented["source_path"]) == set(manifest["path"])
    assert set(augmented["condition"]) <= {"white_noise", "babble"}
    assert all(Path(path).is_file() for path in augmented["path"])
    babble = augmented[augmented["condition"].eq("babble")]
    assert babble["path"].str.contains("augment-").all()
    assert (
        augmented["speaker"] == manifest.set_index("path").loc[augmented["source_path"], "speaker"].to_numpy()
    ).all()


def test_modules_that_workers_import_load_no_tensorflow():
    # Worker processes unpickle functions of these modules; one that loaded TensorFlow would compute each clip's
    # eGeMAPS in a fresh process (openSMILE aborts beside TensorFlow), many times slower.
    modules = [
        "ser_utils.evaluation.robustness",
        "ser_utils.features.extraction",
        "ser_utils.serving.ensemble",
        "ser_utils.evaluation.enrolled_pool",
    ]
    script = f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
    script += "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.split()[-2:] == ["False", "False"], done.stderr[-2000:]


def test_span_features_name_the_trim_floor_and_phone_chain():
    assert augmentation.span_features("handcrafted+egemaps", 20.0) == "handcrafted+egemaps-trim20"
    assert augmentation.span_features("logmel", 12.5) == "logmel-trim12.5"
    assert augmentation.span_features("logmel", 20.0, 17.5) == "logmel-trim20-floor17.5"
    assert augmentation.SPAN_VIEW.fullmatch("logmel-trim20-floor17.5").group("view", "trim", "floor") == (
        "logmel",
        "20",
        "17.5",
    )
    phone = augmentation.span_features("handcrafted+egemaps", 20.0, 20.0, "gsm")
    assert phone == "handcrafted+egemaps-trim20-floor20-gsm"
    assert augmentation.SPAN_VIEW.fullmatch(phone).group("view", "trim", "floor", "phone") == (
        "handcrafted+egemaps",
        "20",
        "20",
        "gsm",
    )


def test_family_trainer_retrains_each_saved_recipe_and_refuses_unknown_families():
    baseline = augmentation.family_trainer("gradient_boosting", {})
    assert baseline.func.__name__ == "train_baseline"
    assert baseline.keywords == {"kind": "gradient_boosting", "n_jobs": 1}
    card = {"config": {"epochs": 7, "batch_size": 16, "patience": 3, "learning_rate": 0.01, "seed": 0}}
    mlp = augmentation.family_trainer("mlp_tuned", card)
    assert mlp.func.__name__ == "train_mlp"
    assert mlp.keywords == {"variant": "tuned", "epochs": 7, "batch_size": 16, "patience": 3, "learning_rate": 0.01}
    with pytest.raises(ValueError, match="no recipe to retrain 'yamnet_finetuned'"):
        augmentation.family_trainer("yamnet_finetuned", {})
