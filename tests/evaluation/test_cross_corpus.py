"""Tests for ser_utils.evaluation.cross_corpus: directions, shared classes, no test-corpus speaker in training,
validation from the training side only, and known transfer scores on synthetic corpora."""

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation import cross_corpus
from ser_utils.models.baselines import train_baseline


def _corpus(name: str, *, n_speakers: int, emotions: list[str], n_statements: int = 10) -> list[dict]:
    return [
        {
            "path": f"/{name}/{speaker}_{emotion}_{k}.wav",
            "corpus": name,
            "speaker": f"{name}{speaker}",
            "gender": "female" if speaker % 2 else "male",
            "emotion": emotion,
            "statement": f"s{k}",
        }
        for speaker in range(n_speakers)
        for emotion in emotions
        for k in range(n_statements)
    ]


def _inputs(manifest: pd.DataFrame, *, flip: set[str] = frozenset()) -> np.ndarray:
    """Features that one-hot encode the emotion (taxonomy-wide columns) plus noise; corpora in ``flip`` encode
    it with the columns reversed, so a model trained elsewhere gets them wrong."""
    codes = {emotion: index for index, emotion in enumerate(sorted(set(manifest["emotion"])))}
    onehot = np.eye(len(codes))[manifest["emotion"].map(codes)]
    flipped = manifest["corpus"].isin(list(flip)).to_numpy()
    onehot[flipped] = onehot[flipped, ::-1]
    noise = np.random.default_rng(0).normal(scale=0.3, size=onehot.shape)
    return 3 * onehot + noise  # the noise makes every row unique: spies find rows back by value


def _row_numbers(inputs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.array([np.flatnonzero((inputs == row).all(axis=1))[0] for row in rows], dtype=int)


def _logistic():
    return functools.partial(train_baseline, kind="logistic_regression", n_jobs=1)


def test_directions_pairs_then_leave_one_out():
    assert cross_corpus.transfer_directions(["tess", "ravdess", "tess"]) == [
        (("ravdess",), "tess"),
        (("tess",), "ravdess"),
    ]
    three = cross_corpus.transfer_directions(["a", "b", "c"])
    assert len(three) == 6 + 3
    assert three[-3:] == [(("b", "c"), "a"), (("a", "c"), "b"), (("a", "b"), "c")]


def test_one_corpus_raises():
    with pytest.raises(ValueError, match="at least two corpora"):
        cross_corpus.transfer_directions(["ravdess"])


def test_shared_classes_in_taxonomy_order():
    manifest = pd.DataFrame(
        _corpus("a", n_speakers=1, emotions=["sad", "neutral", "calm"], n_statements=1)
        + _corpus("b", n_speakers=1, emotions=["sad", "neutral", "angry"], n_statements=1)
    )
    assert cross_corpus.shared_classes(manifest, train_corpora=("a",), test_corpus="b") == ["neutral", "sad"]


def test_fold_takes_validation_from_training_side_only():
    manifest = pd.DataFrame(
        _corpus("big", n_speakers=6, emotions=["sad", "happy"]) + _corpus("tiny", n_speakers=2, emotions=["sad"])
    )
    fold = cross_corpus.transfer_fold(manifest, train_corpora=("big",), test_corpus="tiny", n_val_speakers=2, seed=0)
    assert set(fold.test_speakers) == {"tiny0", "tiny1"}
    assert len(fold.val_speakers) == 2 and set(fold.val_speakers) < {f"big{i}" for i in range(6)}
    assert set(fold.train_speakers) | set(fold.val_speakers) == {f"big{i}" for i in range(6)}
    back = cross_corpus.transfer_fold(manifest, train_corpora=("tiny",), test_corpus="big", n_val_speakers=2, seed=0)
    assert back.val_speakers == () and back.train_speakers == ("tiny0", "tiny1")


def test_speaker_id_in_two_corpora_raises():
    manifest = pd.DataFrame(_corpus("a", n_speakers=2, emotions=["sad"]) + _corpus("b", n_speakers=2, emotions=["sad"]))
    manifest.loc[manifest["corpus"] == "b", "speaker"] = "a0"
    with pytest.raises(ValueError, match="two corpora"):
        cross_corpus.transfer_fold(manifest, train_corpora=("a",), test_corpus="b", n_val_speakers=1, seed=0)


def test_identical_encoding_transfers_and_no_test_speaker_is_trained_on(tmp_path):
    manifest = pd.DataFrame(
        _corpus("big", n_speakers=6, emotions=["neutral", "happy", "sad", "angry"])
        + _corpus("two", n_speakers=2, emotions=["neutral", "happy", "sad", "angry", "fear"])
    )
    inputs = _inputs(manifest)
    seen = []

    def spy(x_train, y_train, x_val, y_val, **kwargs):
        seen.append((_row_numbers(inputs, x_train), _row_numbers(inputs, x_val)))
        return _logistic()(x_train, y_train, x_val, y_val, **kwargs)

    table = cross_corpus.cross_corpus_runs(
        manifest, inputs, train_fn=spy, model="logistic_regression", n_val_speakers=2, seed=0, work_dir=tmp_path
    )
    assert list(table.columns) == list(cross_corpus.CROSS_CORPUS_COLUMNS)
    assert table[["train_corpora", "test_corpus"]].values.tolist() == [["big", "two"], ["two", "big"]]
    assert set(table["setting"]) == {"pair = leave-one-corpus-out"}  # two corpora: each pair leaves one out
    assert set(table["classes"]) == {"neutral+happy+sad+angry"}  # fear is not shared: dropped from both sides
    assert table["n_test"].tolist() == [2 * 4 * 10, 6 * 4 * 10]
    assert (table["uar"] > 0.95).all() and (table["wa"] > 0.95).all()
    for (train_rows, val_rows), (_, row) in zip(seen, table.iterrows(), strict=True):
        used = manifest.iloc[np.concatenate([train_rows, val_rows])]
        assert set(used["corpus"]) == {row["train_corpora"]}
        assert set(used["emotion"]) <= set(row["classes"].split("+"))
    # two -> big had two training speakers: validation is a statement split of the same speakers
    two_train, two_val = seen[1]
    assert set(manifest.iloc[two_val]["speaker"]) == {"two0", "two1"}
    assert not set(manifest.iloc[two_val]["statement"]) & set(manifest.iloc[two_train]["statement"])


def test_reversed_encoding_fails_to_transfer(tmp_path):
    manifest = pd.DataFrame(
        _corpus("a", n_speakers=4, emotions=["happy", "sad"]) + _corpus("b", n_speakers=4, emotions=["happy", "sad"])
    )
    table = cross_corpus.cross_corpus_runs(
        manifest,
        _inputs(manifest, flip={"b"}),
        train_fn=_logistic(),
        model="lr",
        n_val_speakers=1,
        seed=0,
        work_dir=tmp_path,
    )
    assert (table["uar"] < 0.05).all()


def test_disjoint_pair_is_skipped_with_a_warning(tmp_path):
    manifest = pd.DataFrame(
        _corpus("a", n_speakers=3, emotions=["happy", "sad"])
        + _corpus("b", n_speakers=3, emotions=["happy", "sad"])
        + _corpus("c", n_speakers=3, emotions=["angry", "fear"])
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = cross_corpus.cross_corpus_runs(
            manifest, _inputs(manifest), train_fn=_logistic(), model="lr", n_val_speakers=1, seed=0, work_dir=tmp_path
        )
    skipped = sorted(str(warning.message).split(":")[0] for warning in caught)
    assert skipped == ["skipped a -> c", "skipped a+b -> c", "skipped b -> c", "skipped c -> a", "skipped c -> b"]
    assert table[["train_corpora", "test_corpus"]].values.tolist() == [
        ["a", "b"],
        ["b", "a"],
        ["b+c", "a"],
        ["a+c", "b"],
    ]
    assert table["setting"].tolist() == ["pair", "pair", "leave-one-corpus-out", "leave-one-corpus-out"]
    assert set(table["classes"]) == {"happy+sad"}


def test_no_shared_pair_raises(tmp_path):
    manifest = pd.DataFrame(
        _corpus("a", n_speakers=3, emotions=["happy", "sad"]) + _corpus("b", n_speakers=3, emotions=["angry", "fear"])
    )
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="nothing to score"):
        cross_corpus.cross_corpus_runs(
            manifest, _inputs(manifest), train_fn=_logistic(), model="lr", n_val_speakers=1, seed=0, work_dir=tmp_path
        )
