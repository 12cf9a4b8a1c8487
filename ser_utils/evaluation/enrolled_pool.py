"""Adapt the ensemble to a voice from k unlabelled clips of it: each member corrected for the voice, then re-pooled.

A model's errors on a new voice are partly one lean shared by all of that voice's clips (a low voice heard as sad).
A member's mean probabilities over k enrolment clips of the voice estimate its lean; dividing each of the voice's
other clips' probabilities by that mean and renormalising (``normalise_by_voice``) is Bayes' rule for a voice whose
prior over the emotions is that mean. It assumes the enrolment clips mix emotions the way the training speakers'
clips do (``enrolment_stress`` measures what one emotion costs). The enrolled ensemble pools log-linearly
(``evaluation.fusion``) three views of each clip: every member's raw probabilities, every member's normalised ones
(raw weight a and normalised weight b make the member's correction ``p / mean ** (b / (a + b))``: the strength is
fitted, not chosen), and speaker-adaptive models' (notebook 03: features centred on the same enrolment clips).
``cross_fitted_enrolled_pool`` fits the weights for each k and fold on the other folds' speakers only.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ser_utils.evaluation.fusion import (
    ALL_FOLDS,
    PROBABILITY_FLOOR,
    aligned_probabilities,
    fit_pool_weights,
    log_linear_pool,
    with_probabilities,
)
from ser_utils.evaluation.metrics import score
from ser_utils.evaluation.protocol import enrolment_split
from ser_utils.evaluation.results import adaptation_label

__all__ = [
    "VIEWS",
    "normalise_by_voice",
    "enrolment_mask",
    "voice_views",
    "cross_fitted_enrolled_pool",
    "enrolled_pool_over_draws",
    "enrolment_stress",
    "setting_for",
]

VIEWS = ("raw", "normalised", "adaptive")  # the views of a clip the enrolled ensemble pools, in this order


def normalise_by_voice(probabilities: np.ndarray, enrolment: np.ndarray) -> np.ndarray:
    """``probabilities`` (..., n, classes) divided by the mean of ``enrolment`` (..., k, classes) over its k clips
    (floored at ``PROBABILITY_FLOOR``), each row renormalised to sum to 1. Raises ValueError when k is 0."""
    probabilities, enrolment = np.asarray(probabilities, float), np.asarray(enrolment, float)
    if enrolment.shape[-2] == 0 or enrolment.shape[-1] != probabilities.shape[-1]:
        raise ValueError(f"enrolment {enrolment.shape} needs at least one clip of {probabilities.shape[-1]} classes")
    adapted = probabilities / np.clip(enrolment.mean(axis=-2, keepdims=True), PROBABILITY_FLOOR, None)
    return adapted / adapted.sum(axis=-1, keepdims=True)


def enrolment_mask(table: pd.DataFrame, *, n_clips: int | None, seed: int, enrol_emotion: str | None = None):
    """(clips,) bool: the rows of predictions ``table`` (speaker, y_true) that enrol their speaker, ``n_clips`` per
    speaker drawn by ``protocol.enrolment_split`` (the draw notebook 03's adaptive models used; None: every row).
    ``enrol_emotion``: draw only among the speaker's clips of that emotion (the labels pick clips, nothing more)."""
    pool = np.arange(len(table)) if enrol_emotion is None else np.flatnonzero(table["y_true"].eq(enrol_emotion))
    enrol, _ = enrolment_split(table["speaker"].to_numpy()[pool], n_clips=n_clips, seed=seed)
    mask = np.zeros(len(table), dtype=bool)
    mask[pool[enrol]] = True
    return mask


def voice_views(probabilities: np.ndarray, speakers, enrolled: np.ndarray) -> np.ndarray:
    """(2 · members, clips, classes): the members' ``probabilities`` (members, clips, classes) as they are, then
    each speaker's clips normalised by that speaker's ``enrolled`` clips (``normalise_by_voice``, per member)."""
    speakers = np.asarray(speakers)
    normalised = np.empty_like(probabilities, dtype=float)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        normalised[:, rows] = normalise_by_voice(probabilities[:, rows], probabilities[:, rows & enrolled])
    return np.concatenate([probabilities, normalised])


def cross_fitted_enrolled_pool(
    members: Mapping[str, pd.DataFrame],
    *,
    adaptive: Mapping[str, Mapping[str, pd.DataFrame]],
    classes,
    enrol_sizes: Sequence[int | None],
    seed: int,
    l2: float,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The ensemble's members (name -> out-of-fold predictions table, as ``fusion.cross_fitted_ensemble``) adapted
    to each test voice for every k of ``enrol_sizes`` (≥ 1; None: every clip, transductive), no fold fitting its
    own weights.

    For each k: ``enrolment_mask`` draws the voices' enrolment clips (``seed``), which are left out of scoring
    (except with None); the pool of ``voice_views`` plus the adaptive models' predictions of the scored clips
    (``adaptive``: name -> {adaptation label: table}; may be empty) is fitted on the other folds for each fold,
    and on every fold for ``ALL_FOLDS`` (a deployable ensemble's weights for k clips). Returns ({adaptation label:
    scored clips' predictions table}, weights: one row per k and fold with adaptation, n_clips (NaN: every clip),
    fold and one column ``<view>:<name>`` per pooled view).
    """
    names = list(members)
    first = members[names[0]]
    probabilities = aligned_probabilities(list(members.values()), classes=classes)
    labels = pd.Categorical(first["y_true"], categories=list(classes)).codes
    results, rows = {}, []
    for n_clips in enrol_sizes:
        label = adaptation_label(n_clips)
        enrolled = enrolment_mask(first, n_clips=n_clips, seed=seed)
        scored = np.ones(len(first), dtype=bool) if n_clips is None else ~enrolled
        table = first[scored]
        extra = [aligned_probabilities([table, tables[label]], classes=classes)[1:] for tables in adaptive.values()]
        views = np.concatenate([voice_views(probabilities, first["speaker"], enrolled)[:, scored], *extra])
        view_names = [f"{view}:{name}" for view in VIEWS[:2] for name in names] + [
            f"{VIEWS[2]}:{name}" for name in adaptive
        ]
        folds, fold_labels = table["fold"].to_numpy(), labels[scored]
        pooled = np.zeros(views.shape[1:])
        for fold in [*sorted(set(folds)), ALL_FOLDS]:
            train = folds != fold
            weights = fit_pool_weights(views[:, train], fold_labels[train], l2=l2)
            n_enrolled = np.nan if n_clips is None else n_clips
            fitted = dict(zip(view_names, weights, strict=True))
            rows.append({"adaptation": label, "n_clips": n_enrolled, "fold": fold, **fitted})
            if fold != ALL_FOLDS:
                pooled[~train] = log_linear_pool(views[:, ~train], weights)
        results[label] = with_probabilities(table, pooled, classes=classes).assign(adaptation=label)
    return results, pd.DataFrame(rows)


def enrolled_pool_over_draws(
    members: Mapping[str, pd.DataFrame], *, classes, enrol_sizes: Sequence[int], seeds: Sequence[int], l2: float
) -> pd.DataFrame:
    """``cross_fitted_enrolled_pool`` of the members alone (no adaptive model: notebook 03 scores those on one draw)
    repeated with each of ``seeds`` drawing the enrolment clips, every weight re-fitted: how much an ``enrol-<k>``
    score owes to which clips were drawn. Returns one row per seed and k: seed, n_clips, n, wa, uar, macro_f1."""
    if not seeds or any(k is None or k < 1 for k in enrol_sizes):
        raise ValueError(f"need at least one seed and enrolment sizes >= 1; got {seeds}, {enrol_sizes}")
    rows = []
    for seed in seeds:
        adapted, _ = cross_fitted_enrolled_pool(
            members, adaptive={}, classes=classes, enrol_sizes=enrol_sizes, seed=seed, l2=l2
        )
        for n_clips in enrol_sizes:
            table = adapted[adaptation_label(n_clips)]
            scores = score(table["y_true"], table["y_pred"], labels=classes)
            rows.append({"seed": seed, "n_clips": n_clips, "n": len(table), **scores})
    return pd.DataFrame(rows)


def enrolment_stress(
    members: Mapping[str, pd.DataFrame], *, unadapted: pd.DataFrame, classes, seed: int, l2: float
) -> pd.DataFrame:
    """Each voice enrolled on all of its clips of one emotion and pooled with the weights fitted, per fold on the
    other folds, for a random draw of as many clips (the fewest any speaker has of that emotion; members alone).
    One row per emotion: enrolled_on, n_clips, n, wa, uar, macro_f1, labelled_as_it (share of the scored clips, the
    other emotions', given that emotion) and labelled_as_it_unadapted (the same clips in ``unadapted``, the
    zero-shot ensemble's predictions table)."""
    first = next(iter(members.values()))
    probabilities = aligned_probabilities(list(members.values()), classes=classes)
    before = unadapted.drop_duplicates("path").set_index("path")["y_pred"]
    per_emotion = first.groupby(["speaker", "y_true"]).size().groupby("y_true").min()
    sizes = sorted({int(n_clips) for n_clips in per_emotion})
    _, fitted = cross_fitted_enrolled_pool(members, adaptive={}, classes=classes, enrol_sizes=sizes, seed=seed, l2=l2)
    rows = []
    for emotion, n_emotion in per_emotion.items():
        n_clips = int(n_emotion)
        weights = fitted[fitted["n_clips"].eq(n_clips)].set_index("fold").drop(columns=["adaptation", "n_clips"])
        enrolled = enrolment_mask(first, n_clips=None, seed=seed, enrol_emotion=emotion)
        views = voice_views(probabilities, first["speaker"], enrolled)
        pooled = np.zeros(probabilities.shape[1:])
        for fold in weights.index.drop(ALL_FOLDS):
            rows_of_fold = first["fold"].eq(fold).to_numpy()
            pooled[rows_of_fold] = log_linear_pool(views[:, rows_of_fold], weights.loc[fold].to_numpy())
        table = with_probabilities(first, pooled, classes=classes)[~enrolled]
        rows.append(
            {
                "enrolled_on": emotion,
                "n_clips": n_clips,
                "n": len(table),
                **score(table["y_true"], table["y_pred"], labels=classes),
                "labelled_as_it": float(table["y_pred"].eq(emotion).mean()),
                "labelled_as_it_unadapted": float(before.loc[table["path"]].eq(emotion).mean()),
            }
        )
    columns = ["enrolled_on", "n_clips", "n", "wa", "uar", "macro_f1", "labelled_as_it", "labelled_as_it_unadapted"]
    return pd.DataFrame(rows, columns=columns)


def setting_for(settings: dict, n_clips: int):
    """The setting (here: pool weights) a deployable model uses with ``n_clips`` enrolment clips: that of the
    largest k ≤ ``n_clips`` in ``settings`` ({k: value}, keys as ints or strings), else of the smallest k."""
    table = {int(k): value for k, value in settings.items()}
    if not table or n_clips < 1:
        raise ValueError(f"need a settings table and at least one enrolment clip; got {table} and {n_clips}")
    fitting = [k for k in table if k <= n_clips]
    return table[max(fitting) if fitting else min(table)]
