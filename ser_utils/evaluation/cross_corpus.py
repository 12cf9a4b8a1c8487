"""Cross-corpus transfer: train on some corpora's speakers, score on a corpus never seen in training.

Each transfer is one ``protocol.Fold`` whose test speakers are a whole corpus: an ordered pair (A → B) or a
leave-one-corpus-out run (every other corpus → the left-out one), over the emotions both sides share.
Validation speakers come from the training side only; a training side with fewer than
``MIN_SPEAKERS_FOR_VAL_SPEAKERS`` speakers (TESS has two) holds out a share of its statements instead
(``protocol.split_indices``). The model family is any training function of the experiment loop's contract
(``experiment`` module docstring).
"""

import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ser_utils.data.taxonomy import EMOTIONS
from ser_utils.evaluation import protocol
from ser_utils.evaluation.metrics import score
from ser_utils.models.persistence import predict_probabilities

__all__ = [
    "CROSS_CORPUS_COLUMNS",
    "MIN_SPEAKERS_FOR_VAL_SPEAKERS",
    "transfer_directions",
    "shared_classes",
    "transfer_fold",
    "cross_corpus_runs",
]

CROSS_CORPUS_COLUMNS = (
    "model",
    "train_corpora",
    "test_corpus",
    "setting",
    "classes",
    "n_test",
    "wa",
    "uar",
    "macro_f1",
)
MIN_SPEAKERS_FOR_VAL_SPEAKERS = 3  # below this, validation is a within-speaker statement split
MIN_SHARED_CLASSES = 2  # a transfer over one emotion cannot be scored
JOIN = "+"  # separator of corpus and class lists in the table


def transfer_directions(corpora) -> list[tuple[tuple[str, ...], str]]:
    """Every (training corpora, test corpus) to run, in a stable order.

    All ordered pairs (A → B) first, then leave-one-corpus-out runs (all others → the left-out one). With
    two corpora the leave-one-out runs are the pairs themselves, so they are not repeated.
    """
    corpora = sorted(set(corpora))
    if len(corpora) < 2:
        raise ValueError(
            f"cross-corpus transfer needs at least two corpora, found {corpora}; "
            "add another corpus to the data folder (python -m ser_utils download ...)"
        )
    pairs = [((train,), test) for train in corpora for test in corpora if train != test]
    if len(corpora) == 2:
        return pairs
    return pairs + [(tuple(c for c in corpora if c != test), test) for test in corpora]


def shared_classes(manifest: pd.DataFrame, *, train_corpora, test_corpus: str) -> list[str]:
    """Emotions present in ``test_corpus`` and in the training corpora (any of them), in taxonomy order."""
    train = set(manifest.loc[manifest["corpus"].isin(list(train_corpora)), "emotion"])
    test = set(manifest.loc[manifest["corpus"] == test_corpus, "emotion"])
    return [emotion for emotion in EMOTIONS if emotion in train and emotion in test]


def transfer_fold(
    manifest: pd.DataFrame, *, train_corpora, test_corpus: str, n_val_speakers: int, seed: int
) -> protocol.Fold:
    """The ``protocol.Fold`` of one transfer: test speakers are all of ``test_corpus``'s, training speakers
    all of ``train_corpora``'s, and ``n_val_speakers`` of those (seeded choice) validate when the training
    side has at least ``MIN_SPEAKERS_FOR_VAL_SPEAKERS`` speakers; otherwise none, so ``split_indices``
    holds out statements of the training speakers. Raises ValueError when a speaker id is in two corpora."""
    if n_val_speakers < 1:
        raise ValueError(f"n_val_speakers must be at least 1, got {n_val_speakers}")
    speakers = manifest.drop_duplicates(["corpus", "speaker"])
    repeated = speakers.loc[speakers["speaker"].duplicated(), "speaker"].tolist()
    if repeated:
        raise ValueError(f"speakers {sorted(repeated)} appear in two corpora; give speakers corpus-unique ids")
    train = sorted(speakers.loc[speakers["corpus"].isin(list(train_corpora)), "speaker"])
    test = sorted(speakers.loc[speakers["corpus"] == test_corpus, "speaker"])
    val = []
    if len(train) >= MIN_SPEAKERS_FOR_VAL_SPEAKERS:
        count = min(n_val_speakers, len(train) - 1)
        val = sorted(np.random.default_rng(seed).choice(train, size=count, replace=False).tolist())
    fold = protocol.Fold(
        name=f"{JOIN.join(train_corpora)}->{test_corpus}",
        train_speakers=tuple(s for s in train if s not in val),
        val_speakers=tuple(val),
        test_speakers=tuple(test),
    )
    protocol.check_folds([fold])
    return fold


def cross_corpus_runs(
    manifest: pd.DataFrame,
    inputs: np.ndarray,
    *,
    train_fn: Callable[..., object],
    model: str,
    n_val_speakers: int,
    seed: int,
    work_dir: Path,
) -> pd.DataFrame:
    """Train ``train_fn`` for every ``transfer_directions`` entry and score it on the unseen corpus.

    ``manifest`` rows (with corpus, speaker, emotion, statement) and ``inputs`` (n, d) are aligned: every
    corpus of the run, usable rows only. Each run keeps the rows of its shared emotions
    (``shared_classes``), trains on the training corpora (validation as in ``transfer_fold``; Keras seeds
    reset to ``seed``) and predicts the test corpus. A direction sharing fewer than two emotions is skipped
    with a warning naming it. ``work_dir/<train>-to-<test>/`` is each run's ``work_dir``.

    Returns rows with ``CROSS_CORPUS_COLUMNS``: model (``model``), train_corpora and classes ("+"-joined),
    test_corpus, setting (``pair``, ``leave-one-corpus-out``, or ``pair = leave-one-corpus-out`` with two
    corpora), n_test (clips scored), wa, uar, macro_f1 in [0, 1].
    """
    if len(inputs) != len(manifest):
        raise ValueError(f"{len(inputs)} input rows but {len(manifest)} manifest rows; align them first")
    rows = []
    for train_corpora, test_corpus in transfer_directions(manifest["corpus"]):
        classes = shared_classes(manifest, train_corpora=train_corpora, test_corpus=test_corpus)
        if len(classes) < MIN_SHARED_CLASSES:
            warnings.warn(
                f"skipped {JOIN.join(train_corpora)} -> {test_corpus}: they share emotions {classes}, "
                f"need at least {MIN_SHARED_CLASSES}",
                stacklevel=2,
            )
            continue
        keep = np.flatnonzero(
            manifest["emotion"].isin(classes) & manifest["corpus"].isin([*train_corpora, test_corpus])
        )
        rows_used = manifest.iloc[keep].reset_index(drop=True)
        fold = transfer_fold(
            rows_used, train_corpora=train_corpora, test_corpus=test_corpus, n_val_speakers=n_val_speakers, seed=seed
        )
        parts = protocol.split_indices(rows_used, fold, seed=seed)
        x = inputs[keep]
        y = rows_used["emotion"].map({emotion: index for index, emotion in enumerate(classes)}).to_numpy(np.int64)
        keras.utils.set_random_seed(seed)
        fitted = train_fn(
            x[parts["train"]],
            y[parts["train"]],
            x[parts["val"]],
            y[parts["val"]],
            n_classes=len(classes),
            work_dir=Path(work_dir) / f"{JOIN.join(train_corpora)}-to-{test_corpus}",
            seed=seed,
        )
        probabilities = predict_probabilities(fitted, x[parts["test"]], n_classes=len(classes))
        y_pred = np.asarray(classes)[probabilities.argmax(axis=1)]
        y_true = rows_used["emotion"].to_numpy()[parts["test"]]
        rows.append(
            {
                "model": model,
                "train_corpora": JOIN.join(train_corpora),
                "test_corpus": test_corpus,
                "setting": _setting(train_corpora, n_corpora=manifest["corpus"].nunique()),
                "classes": JOIN.join(classes),
                "n_test": len(y_true),
                **score(y_true, y_pred, labels=classes),
            }
        )
    if not rows:
        raise ValueError("no two corpora share two emotions; cross-corpus transfer has nothing to score")
    return pd.DataFrame(rows, columns=list(CROSS_CORPUS_COLUMNS))


def _setting(train_corpora: tuple[str, ...], *, n_corpora: int) -> str:
    """``pair``, ``leave-one-corpus-out``, or both at once when the run has two corpora."""
    if n_corpora == 2:
        return "pair = leave-one-corpus-out"
    return "leave-one-corpus-out" if len(train_corpora) == n_corpora - 1 else "pair"
