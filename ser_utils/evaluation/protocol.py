"""Speaker-independent evaluation folds, shared by every model, saved and reloaded as JSON."""

import json
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.io.atomic import atomic_write_text
from ser_utils.io.provenance import write_meta

__all__ = [
    "Fold",
    "speaker_folds",
    "split_indices",
    "with_training_speakers",
    "random_split_indices",
    "enrolment_split",
    "save_folds",
    "load_folds",
    "check_folds",
]

WITHIN_SPEAKER_VAL_FRACTION = 0.2  # share of statements held out when one training speaker exists


@dataclass(frozen=True)
class Fold:
    """One train/validation/test partition of speakers; test speakers are never seen in training."""

    name: str
    train_speakers: tuple[str, ...]
    val_speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]


def speaker_folds(manifest: pd.DataFrame, *, n_folds: int, n_val_speakers: int) -> list[Fold]:
    """Speaker-grouped folds over the manifest's speakers.

    Each corpus's speakers, sorted, are cut into ``n_folds`` contiguous blocks (RAVDESS: 6 folds
    of 4 actors, two male and two female); fold i tests block i. Validation speakers come from
    the training side: up to ``n_val_speakers`` of the next block, alternating genders. A corpus
    with fewer speakers than folds gives fewer folds (TESS: train OAF → test YAF and back).
    With one training speaker there is no validation speaker; ``split_indices`` then holds out
    a share of that speaker's statements for validation instead.
    """
    speakers = manifest.drop_duplicates("speaker")[["corpus", "speaker", "gender"]].sort_values(["corpus", "speaker"])
    n_folds = min(n_folds, speakers.groupby("corpus").size().max())
    if n_folds < 2:
        raise ValueError("speaker-independent evaluation needs at least two speakers in one corpus")
    blocks = [[] for _ in range(n_folds)]
    for _, rows in speakers.groupby("corpus"):
        for index, chunk in enumerate(np.array_split(rows["speaker"].to_numpy(), n_folds)):
            blocks[index] += list(chunk)
    gender = dict(zip(speakers["speaker"], speakers["gender"], strict=True))
    folds = []
    for index, test in enumerate(blocks):
        train = [s for block in blocks if block is not test for s in block]
        val = _pick_validation(blocks[(index + 1) % n_folds], gender, n_val_speakers) if len(train) > 1 else []
        folds.append(
            Fold(
                name=f"fold{index + 1}",
                train_speakers=tuple(s for s in train if s not in val),
                val_speakers=tuple(val),
                test_speakers=tuple(test),
            )
        )
    check_folds(folds)
    return folds


def split_indices(manifest: pd.DataFrame, fold: Fold, *, seed: int) -> dict[str, np.ndarray]:
    """Row positions of ``manifest`` for the fold's ``train``, ``val`` and ``test`` parts."""
    speaker = manifest["speaker"].to_numpy()
    parts = {
        "train": np.flatnonzero(np.isin(speaker, fold.train_speakers)),
        "val": np.flatnonzero(np.isin(speaker, fold.val_speakers)),
        "test": np.flatnonzero(np.isin(speaker, fold.test_speakers)),
    }
    if len(fold.val_speakers) == 0:
        statements = manifest["statement"].to_numpy()[parts["train"]]
        unique = np.unique(statements)
        rng = np.random.default_rng(seed)
        held = rng.choice(unique, size=max(1, int(len(unique) * WITHIN_SPEAKER_VAL_FRACTION)), replace=False)
        in_val = np.isin(statements, held)
        parts["val"], parts["train"] = parts["train"][in_val], parts["train"][~in_val]
    return parts


def with_training_speakers(folds: list[Fold], speakers) -> list[Fold]:
    """``folds`` with ``speakers`` (e.g. every speaker of another corpus) added to each fold's training side only:
    they are never validated or tested on, so scores stay over the same held-out clips. Raises ValueError if one
    of them is already in a fold."""
    extra = tuple(sorted(set(speakers)))
    for fold in folds:
        taken = set(extra) & {*fold.train_speakers, *fold.val_speakers, *fold.test_speakers}
        if taken:
            raise ValueError(f"{fold.name} already has speakers {sorted(taken)}; add only speakers outside the folds")
    return [replace(fold, train_speakers=(*fold.train_speakers, *extra)) for fold in folds]


def random_split_indices(n_rows: int, *, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """LEAKY random split (the same speakers in train and test), only for comparison with the seeds."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_test = int(round(n_rows * test_fraction))
    n_val = int(round((n_rows - n_test) * 0.1))
    return {
        "test": np.sort(order[:n_test]),
        "val": np.sort(order[n_test : n_test + n_val]),
        "train": np.sort(order[n_test + n_val :]),
    }


def enrolment_split(speakers, *, n_clips: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(enrolment, scored) row positions for speaker ids ``speakers`` (n,): per speaker, ``n_clips`` rows drawn
    at random (seeded by ``seed`` and the speaker's id, so a speaker's draw does not depend on who else is
    present) enrol, the rest are scored. ``n_clips`` 0: nothing enrols; None: every row enrols and is scored.
    Raises ValueError when a speaker has no clip left to score."""
    speakers = np.asarray(speakers).astype(str)
    enrol, scored = [], []
    for name in np.unique(speakers):
        rows = np.flatnonzero(speakers == name)
        if n_clips is None:
            enrol.append(rows), scored.append(rows)
            continue
        if not 0 <= n_clips < len(rows):
            raise ValueError(f"speaker {name} has {len(rows)} clips; enrol fewer than that (got {n_clips})")
        order = np.random.default_rng([seed, zlib.crc32(name.encode())]).permutation(rows)
        enrol.append(np.sort(order[:n_clips])), scored.append(np.sort(order[n_clips:]))
    return np.concatenate(enrol), np.concatenate(scored)


def save_folds(folds: list[Fold], path: Path | str, *, info: dict) -> Path:
    """Write the folds to JSON atomically, with ``info`` (``provenance.run_info``) in a ``.meta.json``
    beside it; the file is the protocol every model reuses. Returns the JSON's path."""
    check_folds(folds)
    path = atomic_write_text(Path(path), json.dumps([asdict(fold) for fold in folds], indent=1))
    write_meta(path, info)
    return path


def load_folds(path: Path | str) -> list[Fold]:
    """Read folds written by ``save_folds`` and re-check that no speaker crosses train and test."""
    folds = [
        Fold(**{key: tuple(value) if isinstance(value, list) else value for key, value in entry.items()})
        for entry in json.loads(Path(path).read_text())
    ]
    check_folds(folds)
    return folds


def check_folds(folds: list[Fold]) -> None:
    """Raise ValueError if any speaker is in two parts of a fold or a fold has no test speaker."""
    for fold in folds:
        train, val, test = map(set, (fold.train_speakers, fold.val_speakers, fold.test_speakers))
        leaked = (train & test) | (val & test) | (train & val)
        if leaked:
            raise ValueError(f"{fold.name}: speakers {sorted(leaked)} appear in two parts of the fold")
        if not test or not train:
            raise ValueError(f"{fold.name}: needs at least one training and one test speaker")


def _pick_validation(block: list[str], gender: dict, count: int) -> list[str]:
    by_gender = {}
    for speaker in block:
        by_gender.setdefault(gender.get(speaker, "unknown"), []).append(speaker)
    picked = []
    while len(picked) < min(count, len(block)):
        for group in by_gender.values():
            if group and len(picked) < count:
                picked.append(group.pop(0))
    return picked
