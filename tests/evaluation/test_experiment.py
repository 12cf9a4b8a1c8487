"""Tests for ser_utils.evaluation.experiment: the fold loop never trains on test speakers, leaky runs are labelled,
results, per-fold models and the deployable model are written where the other notebooks expect them."""

import functools
import json

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ser_utils.evaluation import experiment
from ser_utils.evaluation.protocol import speaker_folds
from ser_utils.evaluation.results import read_predictions
from ser_utils.io.provenance import run_info
from ser_utils.models.persistence import CARD_FILE, load_model, model_card

EMOTIONS = ["neutral", "happy", "sad", "angry"]


def _manifest() -> pd.DataFrame:
    rows = [
        {
            "path": f"/c/{s:02d}_{e}_{k}.wav",
            "corpus": "demo",
            "speaker": f"{s:02d}",
            "gender": "male" if s % 2 else "female",
            "emotion": e,
            "statement": f"{k % 2 + 1:02d}",
        }
        for s in range(1, 9)
        for e in EMOTIONS
        for k in range(4)
    ]
    return pd.DataFrame(rows)


MANIFEST = _manifest()
INFO = run_info({"seed": 0}, data_label="toy data", manifest=MANIFEST)
CLASSES = experiment.class_list(MANIFEST)
LABELS = experiment.class_indices(MANIFEST, CLASSES)
ROW_SCALE = 1e-4  # column 0 holds the row number (scaled to be a negligible feature): spies read it back
INPUTS = np.column_stack(
    [
        np.arange(len(MANIFEST)) * ROW_SCALE,
        np.eye(4)[LABELS] * 3 + np.random.default_rng(0).normal(size=(len(MANIFEST), 4)),
    ]
).astype(np.float32)
CARD = model_card(
    name="toy",
    classes=CLASSES,
    sample_rate=16000,
    input_spec={"kind": "features"},
    manifest=MANIFEST,
    data_label="test",
)


def _spy_train(seen: list, x_train, y_train, x_val, y_val, *, n_classes, work_dir, seed):
    seen.append((np.rint(x_train[:, 0] / ROW_SCALE).astype(int), np.rint(x_val[:, 0] / ROW_SCALE).astype(int)))
    return LogisticRegression(max_iter=500).fit(x_train, y_train)


def test_class_list_follows_taxonomy_order_and_rejects_unknown_labels():
    assert CLASSES == ["neutral", "happy", "sad", "angry"]
    with pytest.raises(ValueError, match="taxonomy"):
        experiment.class_list(MANIFEST.assign(emotion="boredom"))


def test_cross_validation_never_trains_on_test_speakers(tmp_path):
    folds = speaker_folds(MANIFEST, n_folds=4, n_val_speakers=2)
    seen = []
    evaluation, _ = experiment.cross_validate(
        functools.partial(_spy_train, seen),
        name="spy",
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds,
        classes=CLASSES,
        work_dir=tmp_path,
        card=CARD,
        seed=0,
    )
    assert evaluation.protocol == "speaker-4fold"
    assert sorted(evaluation.predictions["path"]) == sorted(MANIFEST["path"])
    for fold, (train_rows, val_rows) in zip(folds, seen, strict=True):
        speakers = set(MANIFEST.iloc[np.concatenate([train_rows, val_rows])]["speaker"])
        assert not speakers & set(fold.test_speakers)
        assert set(MANIFEST.iloc[val_rows]["speaker"]) == set(fold.val_speakers)
        tested = evaluation.predictions.query("fold == @fold.name")["speaker"]
        assert set(tested) == set(fold.test_speakers)
        validated = evaluation.val_predictions.query("fold == @fold.name")["speaker"]
        assert set(validated) == set(fold.val_speakers)
        model, card = load_model(tmp_path / "folds" / fold.name)
        assert card["protocol"]["test_speakers"] == list(fold.test_speakers)
        assert hasattr(model, "predict_proba")


def test_leaky_run_is_labelled_and_shares_speakers(tmp_path):
    train = functools.partial(_spy_train, [])
    evaluation = experiment.leaky_evaluation(
        train,
        name="spy",
        inputs=INPUTS,
        manifest=MANIFEST,
        classes=CLASSES,
        work_dir=tmp_path,
        seed=0,
    )
    assert evaluation.protocol == experiment.LEAKY_PROTOCOL == "random-leaky"
    assert set(evaluation.predictions["fold"]) == {"random"}


def test_record_evaluation_puts_honest_and_leaky_rows_in_one_results_table(tmp_path):
    train = functools.partial(_spy_train, [])
    folds = speaker_folds(MANIFEST, n_folds=4, n_val_speakers=2)
    honest, _ = experiment.cross_validate(
        train,
        name="spy",
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds,
        classes=CLASSES,
        work_dir=tmp_path / "a",
        card=CARD,
        seed=0,
    )
    leaky = experiment.leaky_evaluation(
        train,
        name="spy",
        inputs=INPUTS,
        manifest=MANIFEST,
        classes=CLASSES,
        work_dir=tmp_path / "a",
        seed=0,
    )
    for evaluation in (honest, leaky):
        experiment.record_evaluation(
            evaluation, outputs_dir=tmp_path, corpora="demo", features="toy", classes=CLASSES, info=INFO
        )
    results = pd.read_csv(tmp_path / "results.csv", dtype={"fold": str})
    assert set(results["protocol"]) == {"speaker-4fold", "random-leaky"}
    pooled = results.query("fold == 'pooled'").set_index("protocol")
    assert pooled.loc["speaker-4fold", "wa"] > 0.5
    assert (tmp_path / "predictions" / "speaker-4fold__spy__toy.csv").is_file()
    assert (tmp_path / "predictions" / "random-leaky__spy__toy.csv").is_file()
    validation = read_predictions(tmp_path, model="spy", protocol="speaker-4fold", features="toy", split="val")
    assert set(validation["speaker"]) == {s for fold in folds for s in fold.val_speakers}
    assert not (tmp_path / "predictions" / "validation" / "random-leaky__spy__toy.csv").exists()


def test_deployable_model_holds_out_validation_speakers_only(tmp_path):
    folds = speaker_folds(MANIFEST, n_folds=4, n_val_speakers=2)
    seen = []
    _, section = experiment.train_deployable(
        functools.partial(_spy_train, seen),
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds,
        classes=CLASSES,
        work_dir=tmp_path,
        seed=0,
    )
    train_rows, val_rows = seen[0]
    assert len(train_rows) + len(val_rows) == len(MANIFEST)
    assert set(MANIFEST.iloc[val_rows]["speaker"]) == set(folds[0].val_speakers) == set(section["val_speakers"])


def test_folds_for_reuses_the_saved_protocol_and_remakes_a_mismatched_one(tmp_path):
    folds, path = experiment.folds_for(
        MANIFEST, outputs_dir=tmp_path, corpora="demo", n_folds=4, info=INFO, n_val_speakers=2
    )
    assert path.name == "folds_demo.json"
    saved = json.loads(path.read_text())
    saved[0]["name"] = "kept"
    path.write_text(json.dumps(saved))
    again, _ = experiment.folds_for(
        MANIFEST, outputs_dir=tmp_path, corpora="demo", n_folds=4, info=INFO, n_val_speakers=2
    )
    assert again[0].name == "kept"
    other, _ = experiment.folds_for(
        MANIFEST, outputs_dir=tmp_path, corpora="demo", n_folds=2, info=INFO, n_val_speakers=2
    )
    assert len(other) == 2


def test_per_fold_card_file_is_written(tmp_path):
    folds = speaker_folds(MANIFEST, n_folds=4, n_val_speakers=2)
    experiment.cross_validate(
        functools.partial(_spy_train, []),
        name="spy",
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds[:1],
        classes=CLASSES,
        work_dir=tmp_path,
        card=CARD,
        seed=0,
    )
    assert (tmp_path / "folds" / "fold1" / CARD_FILE).is_file()


def test_evaluate_and_deploy_records_the_scores_and_saves_a_deployable_model_with_them(tmp_path):
    folds = speaker_folds(MANIFEST, n_folds=4, n_val_speakers=2)
    seen = []
    run = experiment.evaluate_and_deploy(
        functools.partial(_spy_train, seen),
        name="spy",
        features="toy",
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds,
        folds_file="folds_demo.json",
        classes=CLASSES,
        card={**CARD, "training": {"variant": "toy"}},
        work_dir=tmp_path / "spy__toy",
        outputs_dir=tmp_path / "outputs",
        corpora="demo",
        seed=0,
        info=INFO,
        training_details=lambda model: {"n_features": int(model.n_features_in_)},
    )
    results = pd.read_csv(tmp_path / "outputs" / "results.csv", dtype={"fold": str})
    assert set(results["fold"]) == {*(fold.name for fold in folds), "pooled", "mean", "std"}
    assert (tmp_path / "outputs" / "predictions" / "speaker-4fold__spy__toy.csv").is_file()
    model, card = load_model(run.model_dir)
    assert run.model_dir == tmp_path / "spy__toy" and hasattr(model, "predict_proba")
    assert card["protocol"]["folds_file"] == "folds_demo.json" and card["protocol"]["name"] == "deploy-all-speakers"
    assert card["metrics"]["pooled"]["uar"] == pytest.approx(run.summary["uar"], abs=1e-4)
    assert card["training"] == {"variant": "toy", "n_features": INPUTS.shape[1]}
    assert (tmp_path / "spy__toy" / "folds" / "fold1" / CARD_FILE).is_file()
    assert run.summary["model"] == "spy" and run.summary["features"] == "toy"
    assert len(seen) == len(folds) + 1, "the deployable model trains in the same batch as the folds, first"
    val_rows = np.flatnonzero(MANIFEST["speaker"].isin(folds[0].val_speakers))
    np.testing.assert_array_equal(np.sort(seen[0][1]), val_rows)
    np.testing.assert_array_equal(np.sort(seen[0][0]), np.setdiff1d(np.arange(len(MANIFEST)), val_rows))
    alone, section = experiment.train_deployable(
        functools.partial(_spy_train, []), inputs=INPUTS, manifest=MANIFEST, folds=folds, classes=CLASSES,
        work_dir=tmp_path / "alone", seed=0,
    )  # fmt: skip
    np.testing.assert_allclose(model.coef_, alone.coef_)
    assert card["protocol"]["train_speakers"] == section["train_speakers"]


def test_evaluate_without_deploy_saves_fold_models_only_and_leaky_runs_are_recorded(tmp_path):
    folds = speaker_folds(MANIFEST, n_folds=4, n_val_speakers=2)
    common = {"inputs": INPUTS, "manifest": MANIFEST, "classes": CLASSES, "outputs_dir": tmp_path, "corpora": "demo"}
    common |= {"seed": 0, "info": INFO}
    honest = experiment.evaluate_and_deploy(
        functools.partial(_spy_train, []),
        name="spy",
        features="toy",
        folds=folds,
        folds_file="folds_demo.json",
        card=CARD,
        work_dir=tmp_path / "spy",
        deploy=False,
        **common,
    )
    leaky = experiment.evaluate_leaky(
        functools.partial(_spy_train, []), name="spy", features="toy", work_dir=tmp_path / "spy", **common
    )
    assert honest.model is None and honest.model_dir is None and not (tmp_path / "spy" / CARD_FILE).exists()
    assert leaky.evaluation.protocol == "random-leaky" and leaky.summary["protocol"] == "random-leaky"
    results = pd.read_csv(tmp_path / "results.csv", dtype={"fold": str})
    assert set(results["protocol"]) == {"speaker-4fold", "random-leaky"}


def _printing_keras_train(x_train, y_train, x_val, y_val, *, n_classes, work_dir, seed):
    print(f"trained on {len(x_train)} clips")
    model = keras.Sequential([keras.Input((x_train.shape[1],)), keras.layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=3, batch_size=16, shuffle=False, verbose=0)
    return model


def test_folds_trained_side_by_side_match_folds_trained_one_after_another(tmp_path, capsys):
    folds = speaker_folds(MANIFEST, n_folds=4, n_val_speakers=2)
    runs = {
        n_jobs: experiment.cross_validate(
            _printing_keras_train,
            name="toy",
            inputs=INPUTS,
            manifest=MANIFEST,
            folds=folds,
            classes=CLASSES,
            work_dir=tmp_path / f"jobs{n_jobs}",
            card=CARD,
            seed=0,
            n_jobs=n_jobs,
        )[0]
        for n_jobs in (1, 2)
    }
    columns = [f"prob_{name}" for name in CLASSES]
    assert np.allclose(runs[1].predictions[columns], runs[2].predictions[columns], atol=1e-5)
    assert capsys.readouterr().out.count("trained on") == 2 * len(folds)  # the workers' output is relayed
    assert all((tmp_path / "jobs2" / "folds" / fold.name / CARD_FILE).is_file() for fold in folds)


def test_saved_folds_fall_back_to_the_one_file_a_sampled_run_wrote(tmp_path):
    from ser_utils.evaluation.protocol import save_folds

    rows = [{"path": f"{c}{s}{i}.wav", "corpus": c, "speaker": f"{c}_{s}", "gender": "fm"[s % 2], "emotion": "happy"}
            for c in ("ravdess", "tess") for s in range(4) for i in range(2)]  # fmt: skip
    manifest = pd.DataFrame(rows)
    ravdess = manifest[manifest["corpus"].eq("ravdess")]
    save_folds(speaker_folds(ravdess, n_folds=2, n_val_speakers=1), tmp_path / "folds_ravdess.json", info={})
    evaluated, label, folds = experiment.saved_folds(tmp_path, manifest, corpora=None)  # no folds_ravdess-tess.json
    assert label == "ravdess" and len(folds) == 2 and set(evaluated["corpus"]) == {"ravdess"} and len(evaluated) == 8
    with pytest.raises(FileNotFoundError, match="found: folds_ravdess.json"):
        experiment.saved_folds(tmp_path, manifest, corpora=("tess",))
