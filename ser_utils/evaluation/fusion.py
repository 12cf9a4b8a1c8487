"""Late fusion: a weighted mean of several models' per-clip class probabilities, scored on the same speaker folds.

``cross_fitted_ensemble`` chooses the weights by greedy ensemble selection with replacement (Caruana et al., 2004:
each round adds the member that most raises the UAR of the running sum, so a member's weight is how often it was
picked), and chooses them for each fold on the other folds' held-out predictions only, the number of rounds too, so
no clip of a fold informs the ensemble scored on it.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["select_ensemble", "cross_fitted_ensemble", "ALL_FOLDS", "ENSEMBLE", "ENSEMBLE_FEATURES"]

ALL_FOLDS = "all"  # the weights row chosen on every fold: the recipe of a deployable ensemble
ENSEMBLE, ENSEMBLE_FEATURES = "ensemble", "families"  # its results.csv key: each member reads its own features


def select_ensemble(probabilities: np.ndarray, labels: np.ndarray, *, rounds: int) -> np.ndarray:
    """Greedy ensemble selection with replacement: how often each member was picked in ``rounds`` rounds, (members,).

    ``probabilities`` (members, clips, classes); ``labels`` (clips,) integer classes. Each round adds the member
    whose probabilities, added to the running sum, give the highest UAR (ties: the earlier member).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    counts = np.zeros(len(probabilities), dtype=int)
    running = np.zeros(probabilities.shape[1:])
    for _ in range(rounds):
        scores = [
            _uar(labels, (running + member).argmax(axis=1), n_classes=running.shape[1]) for member in probabilities
        ]
        best = int(np.argmax(scores))
        counts[best] += 1
        running = running + probabilities[best]
    return counts


def cross_fitted_ensemble(
    tables: Mapping[str, pd.DataFrame], *, classes, rounds: Sequence[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An ensemble of the models in ``tables`` (name -> out-of-fold predictions table on the same clips and folds),
    scored without any fold choosing its own weights.

    For each fold: the number of rounds (one of ``rounds``) with the best UAR when each of the other folds in turn is
    predicted with weights selected on the remaining ones; then the weights, selected with that many rounds on all
    the other folds' predictions. The row ``ALL_FOLDS`` chooses both on every fold (for a deployable ensemble).
    Returns (fused predictions table ordered like the first table, weights: one row per fold and ``ALL_FOLDS``
    with ``rounds`` and one column per member, each the member's share of the picks).
    """
    names = list(tables)
    if len(names) < 2:
        raise ValueError(f"an ensemble needs at least two models' predictions; got {names}")
    probabilities = _aligned_probabilities([tables[name] for name in names], classes=classes)
    first = tables[names[0]]
    folds = first["fold"].to_numpy()
    labels = pd.Categorical(first["y_true"], categories=list(classes)).codes
    if (labels < 0).any():
        raise ValueError("a y_true value is not among classes")
    rows, fused = [], np.zeros(probabilities.shape[1:])
    for fold in [*sorted(set(folds)), ALL_FOLDS]:
        train = folds != fold
        n_rounds = _best_rounds(probabilities[:, train], labels[train], folds[train], rounds=rounds)
        weights = select_ensemble(probabilities[:, train], labels[train], rounds=n_rounds) / n_rounds
        rows.append({"fold": fold, "rounds": n_rounds, **dict(zip(names, weights, strict=True))})
        if fold != ALL_FOLDS:
            fused[~train] = np.tensordot(weights, probabilities[:, ~train], axes=1)
    return _with_probabilities(first, fused, classes=classes), pd.DataFrame(rows)


def _with_probabilities(table: pd.DataFrame, probabilities: np.ndarray, *, classes) -> pd.DataFrame:
    """A copy of predictions ``table`` carrying ``probabilities`` (clips, classes), y_pred and confidence recomputed."""
    table = table.copy()
    table[[f"prob_{name}" for name in classes]] = probabilities
    table["y_pred"] = np.asarray(classes)[probabilities.argmax(axis=1)]
    table["confidence"] = probabilities.max(axis=1)
    return table


def _best_rounds(probabilities: np.ndarray, labels: np.ndarray, folds: np.ndarray, *, rounds: Sequence[int]) -> int:
    """The entry of ``rounds`` whose leave-one-fold-out ensembles score the best pooled UAR (ties: the fewest);
    the fewest when there is a single fold (nothing to leave out)."""
    if len(set(folds)) < 2:
        return min(rounds)
    n_classes = probabilities.shape[2]
    scores = []
    for n_rounds in sorted(rounds):
        predicted = np.zeros(len(labels), dtype=int)
        for fold in set(folds):
            held = folds == fold
            weights = select_ensemble(probabilities[:, ~held], labels[~held], rounds=n_rounds)
            predicted[held] = np.tensordot(weights, probabilities[:, held], axes=1).argmax(axis=1)
        scores.append(_uar(labels, predicted, n_classes=n_classes))
    return sorted(rounds)[int(np.argmax(scores))]


def _uar(labels: np.ndarray, predicted: np.ndarray, *, n_classes: int) -> float:
    """Unweighted average recall over the classes present in ``labels``."""
    support = np.bincount(labels, minlength=n_classes)
    hits = np.bincount(labels[predicted == labels], minlength=n_classes)
    present = support > 0
    return float((hits[present] / support[present]).mean())


def _aligned_probabilities(tables: list[pd.DataFrame], *, classes) -> np.ndarray:
    """(tables, clips, classes) probabilities, each table's rows in the first table's clip order."""
    first = tables[0]
    columns = [f"prob_{name}" for name in classes]
    probabilities = []
    for table in tables:
        missing = [column for column in ("path", "fold", *columns) if column not in table.columns]
        if missing:
            raise ValueError(f"a predictions table lacks columns {missing}; pass results.predictions_table rows")
        aligned = table.drop_duplicates("path").set_index("path").reindex(first["path"])
        if len(table) != len(first) or aligned["fold"].isna().any():
            raise ValueError("the predictions tables cover different clips; score both models on the same manifest")
        if not np.array_equal(aligned["fold"].to_numpy(), first["fold"].to_numpy()):
            raise ValueError("the models were tested on different folds; re-run them on the same folds file")
        probabilities.append(aligned[columns].to_numpy(dtype=float))
    return np.stack(probabilities)
