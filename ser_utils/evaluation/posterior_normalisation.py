"""Adapt any model's outputs to a voice: divide its class probabilities by their mean over k unlabelled clips of it.

A model's errors on a new speaker are partly one bias shared by all that speaker's clips (a low voice heard as sad,
a tense one as angry). The mean posterior ``q`` (n_classes,) over k enrolment clips of the voice estimates that bias
when the clips span the emotions the way the training speakers' clips did (RAVDESS: every actor records every
emotion); each of the voice's other clips then gets ``p / q**strength``, renormalised. ``strength`` 0 leaves the
model unchanged; ``cross_fitted_normalisation`` chooses it for each fold on the other folds' speakers only. A voice
enrolled with clips of one emotion is pushed away from that emotion: notebook 06 measures how much. Which clips
were drawn moves the score too; ``normalisation_over_draws`` repeats the whole procedure over several draws.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ser_utils.evaluation.fusion import ALL_FOLDS
from ser_utils.evaluation.metrics import score
from ser_utils.evaluation.protocol import enrolment_split
from ser_utils.evaluation.results import adaptation_label

__all__ = [
    "STRENGTHS",
    "normalise_posteriors",
    "enrolled_predictions",
    "cross_fitted_normalisation",
    "normalisation_over_draws",
    "setting_for",
]

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)  # exponents of the mean enrolment posterior tried on other folds


def normalise_posteriors(probabilities: np.ndarray, enrolment: np.ndarray, *, strength: float) -> np.ndarray:
    """(n, n_classes) ``probabilities`` divided by the mean of ``enrolment`` (k, n_classes) raised to ``strength``,
    each row renormalised to sum to 1. k = 0 or ``strength`` 0 returns the probabilities unchanged."""
    probabilities, enrolment = np.asarray(probabilities, float), np.asarray(enrolment, float)
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    if len(enrolment) == 0 or strength == 0:
        return probabilities
    if enrolment.ndim != 2 or enrolment.shape[1] != probabilities.shape[1]:
        raise ValueError(f"enrolment {enrolment.shape} must be (k, {probabilities.shape[1]}) probabilities")
    bias = np.clip(enrolment.mean(axis=0), 1e-6, None) ** strength
    adapted = probabilities / bias
    return adapted / adapted.sum(axis=1, keepdims=True)


def enrolled_predictions(
    predictions: pd.DataFrame,
    *,
    classes,
    n_clips: int | None,
    strength: float,
    seed: int,
    enrol_emotion: str | None = None,
) -> pd.DataFrame:
    """The scored rows of a predictions table (``results.predictions_table``: path, speaker, y_true, prob_<class>)
    after each speaker's ``enrolment_split`` (``n_clips`` per speaker; None: every clip) normalised its other
    clips; y_pred, confidence and ``adaptation`` (``enrol-<k>``) recomputed. ``enrol_emotion``: draw the enrolment
    only among the speaker's clips of that emotion (a stress test of the method's assumption; their labels choose
    the clips, the model never sees them). The same seed draws the same clips as notebook 03's adaptive models."""
    columns = [f"prob_{name}" for name in classes]
    pool = predictions if enrol_emotion is None else predictions[predictions["y_true"].eq(enrol_emotion)]
    enrol, _ = enrolment_split(pool["speaker"].to_numpy(), n_clips=n_clips, seed=seed)
    enrolled = pool.iloc[enrol]
    scored = predictions if n_clips is None else predictions[~predictions["path"].isin(enrolled["path"])]
    parts = []
    for speaker, rows in scored.groupby("speaker", sort=False):
        enrolment = enrolled.loc[enrolled["speaker"].eq(speaker), columns].to_numpy()
        adapted = normalise_posteriors(rows[columns].to_numpy(), enrolment, strength=strength)
        parts.append(rows.assign(**dict(zip(columns, adapted.T, strict=True))))
    table = pd.concat(parts).loc[scored.index]
    probabilities = table[columns].to_numpy()
    return table.assign(
        y_pred=np.asarray(classes)[probabilities.argmax(axis=1)],
        confidence=probabilities.max(axis=1),
        adaptation=adaptation_label(n_clips),
    )


def cross_fitted_normalisation(
    predictions: pd.DataFrame,
    *,
    classes,
    enrol_sizes: Sequence[int | None],
    strengths: Sequence[float] = STRENGTHS,
    seed: int,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Out-of-fold ``predictions`` (with a ``fold`` column) adapted for every k of ``enrol_sizes`` (≥ 1, None: every
    clip), no fold choosing its own strength.

    For each k and fold: the entry of ``strengths`` with the best pooled UAR on the other folds' scored clips (ties:
    the weaker), applied to that fold's clips. The row ``ALL_FOLDS`` chooses on every fold (a deployable model's
    strength for k clips). Returns ({adaptation label: adapted predictions in the input's row order}, choices: one
    row per k and fold with n_clips (NaN: every clip), fold, strength, other_folds_uar).
    """
    tried = sorted(set(float(value) for value in strengths))
    results, choices = {}, []
    for n_clips in enrol_sizes:
        adapted = [
            enrolled_predictions(predictions, classes=classes, n_clips=n_clips, strength=value, seed=seed)
            for value in tried
        ]
        folds = adapted[0]["fold"].to_numpy()
        chosen = adapted[0].copy()
        for fold in [*sorted(set(folds)), ALL_FOLDS]:
            others = folds != fold
            uars = [score(table["y_true"][others], table["y_pred"][others], labels=classes)["uar"] for table in adapted]
            best = int(np.argmax(uars))  # the first maximum: the weakest strength among ties
            n_enrolled = np.nan if n_clips is None else n_clips
            choices.append(
                {"n_clips": n_enrolled, "fold": fold, "strength": tried[best], "other_folds_uar": uars[best]}
            )
            if fold != ALL_FOLDS:
                chosen.loc[~others] = adapted[best].loc[~others]
        results[adaptation_label(n_clips)] = chosen
    return results, pd.DataFrame(choices)


def normalisation_over_draws(
    predictions: pd.DataFrame,
    *,
    classes,
    enrol_sizes: Sequence[int],
    strengths: Sequence[float] = STRENGTHS,
    seeds: Sequence[int],
) -> pd.DataFrame:
    """``cross_fitted_normalisation`` of out-of-fold ``predictions`` repeated with each of ``seeds`` drawing the
    enrolment clips (every fold's strength re-chosen on the other folds for each draw): how much a reported
    ``enrol-<k>`` score owes to which clips were drawn. ``enrol_sizes``: k ≥ 1 (every clip draws nothing).
    Returns one row per seed and k: seed, n_clips, n (clips scored), wa, uar, macro_f1.
    """
    if not seeds or any(k is None or k < 1 for k in enrol_sizes):
        raise ValueError(f"need at least one seed and enrolment sizes >= 1; got {seeds}, {enrol_sizes}")
    rows = []
    for seed in seeds:
        adapted, _ = cross_fitted_normalisation(
            predictions, classes=classes, enrol_sizes=enrol_sizes, strengths=strengths, seed=seed
        )
        for n_clips in enrol_sizes:
            table = adapted[adaptation_label(n_clips)]
            scores = score(table["y_true"], table["y_pred"], labels=classes)
            rows.append({"seed": seed, "n_clips": n_clips, "n": len(table), **scores})
    return pd.DataFrame(rows)


def setting_for(settings: dict, n_clips: int) -> float:
    """The setting (a strength, a blend weight) a deployable model uses with ``n_clips`` enrolment clips: that of the
    largest k ≤ ``n_clips`` in ``settings`` ({k: value}, keys as ints or strings), else of the smallest k."""
    table = {int(k): float(value) for k, value in settings.items()}
    if not table or n_clips < 1:
        raise ValueError(f"need a settings table and at least one enrolment clip; got {table} and {n_clips}")
    fitting = [k for k in table if k <= n_clips]
    return table[max(fitting) if fitting else min(table)]
