"""Tests for ser_utils.evaluation.protocol: speaker folds, their JSON round trip, and every saved protocol."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.protocol import (
    Fold,
    check_folds,
    load_folds,
    random_split_indices,
    save_folds,
    speaker_folds,
    split_indices,
    with_training_speakers,
)
from ser_utils.io.provenance import data_fingerprint, run_info

REPO = Path(__file__).resolve().parents[2]


def _manifest(n_speakers: int = 24, clips_per_speaker: int = 4) -> pd.DataFrame:
    rows = [
        {
            "path": f"/c/{actor:02d}_{clip}.wav",
            "corpus": "ravdess",
            "speaker": f"{actor:02d}",
            "gender": "male" if actor % 2 else "female",
            "emotion": "happy",
            "statement": f"{clip % 2 + 1:02d}",
        }
        for actor in range(1, n_speakers + 1)
        for clip in range(clips_per_speaker)
    ]
    return pd.DataFrame(rows)


def _parts(fold: Fold) -> list[set]:
    return [set(fold.train_speakers), set(fold.val_speakers), set(fold.test_speakers)]


def test_ravdess_like_folds_test_every_speaker_once_and_never_train_on_it():
    manifest = _manifest()
    folds = speaker_folds(manifest, n_folds=6, n_val_speakers=2)
    assert len(folds) == 6
    tested = [speaker for fold in folds for speaker in fold.test_speakers]
    assert sorted(tested) == sorted(manifest["speaker"].unique())
    for fold in folds:
        train, val, test = _parts(fold)
        assert len(test) == 4 and len(val) == 2
        assert not (train & test) and not (val & test) and not (train & val)
        assert train | val | test == set(manifest["speaker"])
        genders = {manifest.set_index("speaker").loc[s, "gender"].iloc[0] for s in fold.val_speakers}
        assert genders == {"male", "female"}


def test_split_indices_partition_rows_by_speaker():
    manifest = _manifest()
    fold = speaker_folds(manifest, n_folds=6, n_val_speakers=2)[2]
    parts = split_indices(manifest, fold, seed=0)
    everything = np.concatenate([parts["train"], parts["val"], parts["test"]])
    assert sorted(everything) == list(range(len(manifest)))
    assert set(manifest.iloc[parts["test"]]["speaker"]) == set(fold.test_speakers)
    assert not set(manifest.iloc[parts["train"]]["speaker"]) & set(fold.test_speakers)


def test_another_corpus_joins_training_only_and_leaves_the_test_clips_alone():
    manifest = _manifest()
    folds = speaker_folds(manifest, n_folds=6, n_val_speakers=2)
    other = pd.DataFrame({"speaker": ["tess_OAF", "tess_YAF", "tess_OAF"], "statement": "back"})
    pooled = pd.concat([manifest, other], ignore_index=True)
    for fold, extended in zip(folds, with_training_speakers(folds, other["speaker"]), strict=True):
        before, after = split_indices(manifest, fold, seed=0), split_indices(pooled, extended, seed=0)
        assert list(after["test"]) == list(before["test"]) and list(after["val"]) == list(before["val"])
        assert set(pooled.iloc[after["train"]]["speaker"]) == set(fold.train_speakers) | {"tess_OAF", "tess_YAF"}
    with pytest.raises(ValueError, match="already has speakers"):
        with_training_speakers(folds, [folds[0].test_speakers[0]])


def test_one_training_speaker_holds_out_statements_for_validation():
    manifest = _manifest(n_speakers=2)
    folds = speaker_folds(manifest, n_folds=6, n_val_speakers=2)
    assert len(folds) == 2 and folds[0].val_speakers == ()
    parts = split_indices(manifest, folds[0], seed=0)
    assert len(parts["val"]) > 0
    train_statements = set(manifest.iloc[parts["train"]]["statement"])
    assert not train_statements & set(manifest.iloc[parts["val"]]["statement"])


def test_check_folds_rejects_a_speaker_in_train_and_test():
    leaky = Fold(name="bad", train_speakers=("01", "02"), val_speakers=(), test_speakers=("02",))
    with pytest.raises(ValueError, match="02"):
        check_folds([leaky])


def test_save_and_load_round_trip_with_provenance_beside(tmp_path):
    manifest = _manifest()
    folds = speaker_folds(manifest, n_folds=6, n_val_speakers=2)
    info = run_info({"data_dir": "/home/me/data", "n_folds": 6}, data_label="RAVDESS", manifest=manifest)
    path = save_folds(folds, tmp_path / "folds_ravdess.json", info=info)
    assert load_folds(path) == folds
    meta_file = tmp_path / "folds_ravdess.meta.json"
    meta = json.loads(meta_file.read_text())
    assert meta["git_commit"] and meta["versions"] and meta["corpora"] == ["ravdess"]
    assert meta["data_fingerprint"] == data_fingerprint(manifest) and meta["config"]["data_dir"] == "data"
    assert '"/' not in meta_file.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folds_ravdess.json", "folds_ravdess.meta.json"]


def test_random_split_is_leaky_by_design():
    manifest = _manifest()
    parts = random_split_indices(len(manifest), seed=0, test_fraction=0.2)
    train = set(manifest.iloc[parts["train"]]["speaker"])
    test = set(manifest.iloc[parts["test"]]["speaker"])
    assert train & test


SAVED_FOLDS = sorted(p for p in REPO.glob("outputs/*/folds_*.json") if not p.name.endswith(".meta.json"))


@pytest.mark.skipif(not SAVED_FOLDS, reason="no saved protocol under outputs/ yet (run notebook 03)")
@pytest.mark.parametrize("path", SAVED_FOLDS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_saved_protocol_keeps_test_speakers_out_of_training(path):
    folds = load_folds(path)
    assert folds
    for fold in folds:
        train, val, test = _parts(fold)
        assert test, f"{path}: {fold.name} has no test speaker"
        assert not (train | val) & test, f"{path}: {fold.name} trains on test speakers {sorted((train | val) & test)}"
