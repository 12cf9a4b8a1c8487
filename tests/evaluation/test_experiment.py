"""Tests for ser_utils.evaluation.experiment: the fold loop never trains on test speakers, leaky runs are labelled,
results, per-fold models and the deployable model are written where the other notebooks expect them."""

import functools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ser_utils.evaluation import experiment
from ser_utils.evaluation.protocol import speaker_folds
from ser_utils.features.extraction import FeatureSet
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
    folds = speaker_folds(MANIFEST, n_folds=4)
    seen = []
    evaluation = experiment.cross_validate(
        functools.partial(_spy_train, seen),
        name="spy",
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds,
        classes=CLASSES,
        work_dir=tmp_path,
        card=CARD,
    )
    assert evaluation.protocol == "speaker-4fold"
    assert sorted(evaluation.predictions["path"]) == sorted(MANIFEST["path"])
    for fold, (train_rows, val_rows) in zip(folds, seen, strict=True):
        speakers = set(MANIFEST.iloc[np.concatenate([train_rows, val_rows])]["speaker"])
        assert not speakers & set(fold.test_speakers)
        assert set(MANIFEST.iloc[val_rows]["speaker"]) == set(fold.val_speakers)
        tested = evaluation.predictions.query("fold == @fold.name")["speaker"]
        assert set(tested) == set(fold.test_speakers)
        model, card = load_model(tmp_path / "folds" / fold.name)
        assert card["protocol"]["test_speakers"] == list(fold.test_speakers)
        assert hasattr(model, "predict_proba")


def test_leaky_run_is_labelled_and_shares_speakers(tmp_path):
    train = functools.partial(_spy_train, [])
    evaluation = experiment.leaky_evaluation(
        train, name="spy", inputs=INPUTS, manifest=MANIFEST, classes=CLASSES, work_dir=tmp_path
    )
    assert evaluation.protocol == experiment.LEAKY_PROTOCOL == "random-leaky"
    assert set(evaluation.predictions["fold"]) == {"random"}


def test_record_evaluation_puts_honest_and_leaky_rows_in_one_results_table(tmp_path):
    train = functools.partial(_spy_train, [])
    folds = speaker_folds(MANIFEST, n_folds=4)
    honest = experiment.cross_validate(
        train,
        name="spy",
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds,
        classes=CLASSES,
        work_dir=tmp_path / "a",
        card=CARD,
    )
    leaky = experiment.leaky_evaluation(
        train, name="spy", inputs=INPUTS, manifest=MANIFEST, classes=CLASSES, work_dir=tmp_path / "a"
    )
    for evaluation in (honest, leaky):
        experiment.record_evaluation(evaluation, outputs_dir=tmp_path, corpora="demo", features="toy", classes=CLASSES)
    results = pd.read_csv(tmp_path / "results.csv", dtype={"fold": str})
    assert set(results["protocol"]) == {"speaker-4fold", "random-leaky"}
    pooled = results.query("fold == 'pooled'").set_index("protocol")
    assert pooled.loc["speaker-4fold", "wa"] > 0.5
    assert (tmp_path / "predictions" / "speaker-4fold__spy__toy.csv").is_file()
    assert (tmp_path / "predictions" / "random-leaky__spy__toy.csv").is_file()


def test_deployable_model_holds_out_validation_speakers_only(tmp_path):
    folds = speaker_folds(MANIFEST, n_folds=4)
    seen = []
    _, section = experiment.train_deployable(
        functools.partial(_spy_train, seen),
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds,
        classes=CLASSES,
        work_dir=tmp_path,
    )
    train_rows, val_rows = seen[0]
    assert len(train_rows) + len(val_rows) == len(MANIFEST)
    assert set(MANIFEST.iloc[val_rows]["speaker"]) == set(folds[0].val_speakers) == set(section["val_speakers"])


def test_folds_for_reuses_the_saved_protocol_and_remakes_a_mismatched_one(tmp_path):
    folds, path = experiment.folds_for(MANIFEST, outputs_dir=tmp_path, corpora="demo", n_folds=4)
    assert path.name == "folds_demo.json"
    saved = json.loads(path.read_text())
    saved[0]["name"] = "kept"
    path.write_text(json.dumps(saved))
    again, _ = experiment.folds_for(MANIFEST, outputs_dir=tmp_path, corpora="demo", n_folds=4)
    assert again[0].name == "kept"
    other, _ = experiment.folds_for(MANIFEST, outputs_dir=tmp_path, corpora="demo", n_folds=2)
    assert len(other) == 2


def test_align_inputs_keeps_rows_with_every_set_in_manifest_order():
    def feature_set(name, paths, width):
        values = np.arange(len(paths) * width, dtype=np.float32).reshape(len(paths), width)
        return FeatureSet(
            name=name,
            paths=tuple(paths),
            values=values,
            columns=tuple(f"{name}_{i}" for i in range(width)),
            failures=pd.DataFrame(),
            config={},
            cache_key="",
            n_cached=0,
            n_computed=0,
        )

    paths = list(MANIFEST["path"])
    first = feature_set("a", paths[::-1], 2)
    second = feature_set("b", paths[1:], 3)
    rows, inputs, columns = experiment.align_inputs(MANIFEST, [first, second])
    assert list(rows["path"]) == paths[1:]
    assert inputs.shape == (len(paths) - 1, 5) and columns[:3] == ["a_0", "a_1", "b_0"]
    _, picked, names = experiment.align_inputs(MANIFEST, [first, second], columns=["b_2", "a_0"])
    assert names == ["b_2", "a_0"] and np.array_equal(picked[:, 1], inputs[:, 0])
    with pytest.raises(ValueError, match="zzz"):
        experiment.align_inputs(MANIFEST, [first], columns=["zzz"])


def test_per_fold_card_file_is_written(tmp_path):
    folds = speaker_folds(MANIFEST, n_folds=4)
    experiment.cross_validate(
        functools.partial(_spy_train, []),
        name="spy",
        inputs=INPUTS,
        manifest=MANIFEST,
        folds=folds[:1],
        classes=CLASSES,
        work_dir=tmp_path,
        card=CARD,
    )
    assert (tmp_path / "folds" / "fold1" / CARD_FILE).is_file()


def test_standardize_per_speaker_gives_zero_mean_unit_spread_within_each_speaker():
    speakers = np.repeat(["a", "b"], 5)
    inputs = np.column_stack([np.arange(10.0), np.r_[np.full(5, 3.0), np.arange(5.0) * 100]])
    standardized = experiment.standardize_per_speaker(inputs, speakers)
    for speaker in ("a", "b"):
        rows = standardized[speakers == speaker]
        assert np.isclose(rows[:, 0].mean(), 0, atol=1e-6) and np.isclose(rows[:, 0].std(), 1)
    assert np.allclose(standardized[:5, 1], 0.0)  # a constant feature of one speaker carries nothing
    assert np.allclose(standardized[5:, 0], standardized[:5, 0])  # the same ramp at another level: same values
    with pytest.raises(ValueError, match="speaker ids"):
        experiment.standardize_per_speaker(inputs, speakers[:3])
