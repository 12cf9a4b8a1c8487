"""A deployable ensemble: saved models whose probabilities are pooled log-linearly with fixed weights.

Notebook 06 fits the members' weights (``evaluation.fusion.cross_fitted_ensemble``, row ``all``) on their
out-of-fold predictions, which are uncalibrated; so the members here give uncalibrated probabilities too, and only
the ensemble's own card temperature (notebook 06 fits one like any deployable model's) is applied to the pool
(``evaluation.fusion.log_linear_pool``). The folder holds just ``model_card.json``: ``family`` ``ensemble`` and
``members``, each a sibling model folder (path relative to the ensemble's) with its weight; ``fold_members`` records
the weights each cross-validation fold was scored with (fitted on the other folds), so its fold models can be
re-assembled.
``enrolled_pool`` (optional; ``save_enrolled_pool``) lets ``predict_files`` adapt to a voice from unlabelled
enrolment clips (``evaluation.enrolled_pool``): its ``members`` (every candidate of notebook 06 with a weight)
normalised by their mean over the clips, pooled with their raw probabilities and the ``adaptive_members``
(speaker-adaptive models, their features centred on the same clips), with the weights fitted on every fold for the
largest k of ``weights`` not above the number of clips.
"""

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.evaluation.calibration import apply_temperature
from ser_utils.evaluation.enrolled_pool import VIEWS, normalise_by_voice, setting_for
from ser_utils.evaluation.fusion import ALL_FOLDS, log_linear_pool
from ser_utils.evaluation.results import enrolment_adaptation
from ser_utils.features.speaker_adaptation import speaker_offset
from ser_utils.io.atomic import atomic_write_text
from ser_utils.models.persistence import CARD_FILE, update_card
from ser_utils.serving.predictor import (
    CardProperties,
    audio_file_list,
    input_function,
    load_predictor,
    prediction_table,
    require_usable_enrolment,
    window_function,
)

__all__ = ["ENSEMBLE_FAMILY", "EnsemblePredictor", "save_ensemble", "save_enrolled_pool", "load_ensemble"]

ENSEMBLE_FAMILY = "ensemble"


@dataclass(frozen=True)
class EnsemblePredictor(CardProperties):
    """Saved models (``serving.predictor.Predictor``, calibration removed) and their pool weights, with the ensemble's
    card; labels files and waveforms like one ``Predictor``. ``enrol_members`` and ``adaptive_members``: the
    ``Predictor``s (calibration removed) of the card's ``enrolled_pool``, used only when enrolling."""

    members: tuple
    weights: tuple[float, ...]
    card: dict
    enrol_members: tuple = ()
    adaptive_members: tuple = ()

    @property
    def speaker_prior(self) -> None:
        return None  # every member takes each clip on its own

    def predict_files(self, paths, *, n_jobs: int, enrol=None) -> pd.DataFrame:
        """``Predictor.predict_files``'s table from the log-linear pool of the members' probabilities; a file that
        any member cannot use gets that member's reason. ``enrol``: unlabelled clips of the files' voice (folders
        expanded), pooled as the card's ``enrolled_pool`` says for that many usable clips (``adaptation`` column
        ``enrol-<k>``). Raises ValueError when the card has no ``enrolled_pool`` or no enrolment clip is usable."""
        paths = audio_file_list(paths)
        if enrol is None:
            computed = self._member_inputs(input_function, paths, self.members, n_jobs=min(n_jobs, len(paths)))
            probabilities, reasons = self._pooled(computed)
            adaptation = "none"
        else:
            if "enrolled_pool" not in self.card:
                raise ValueError(f"ensemble {self.card.get('name')!r} has no enrolled pool; rerun notebook 06")
            users = [*self.enrol_members, *self.adaptive_members]
            computed = self._member_inputs(input_function, paths, users, n_jobs=min(n_jobs, len(paths)))
            enrol_paths = audio_file_list(enrol, what="enrolment audio")
            enrolled = self._member_inputs(
                input_function, enrol_paths, users, n_jobs=max(1, min(n_jobs, len(enrol_paths)))
            )
            probabilities, reasons, n_enrolled = self._enrolled_pool(computed, enrolled)
            adaptation = enrolment_adaptation(n_enrolled)
        kept = self._calibrated(probabilities)[[not reason for reason in reasons]]
        return prediction_table(
            paths, reasons, kept if len(kept) else None, classes=self.classes, adaptation=adaptation
        )

    def _enrolled_pool(self, computed: dict, enrolled: dict) -> tuple[np.ndarray, list[str], int]:
        """(n_items, n_classes) uncalibrated probabilities of the enrolled pool, the items' reasons and the number of
        usable enrolment clips; ``computed``, ``enrolled``: ``_member_inputs`` of the items and of the enrolment."""
        reasons, enrol_reasons = _first_reasons(computed), _first_reasons(enrolled)
        require_usable_enrolment(enrol_reasons)
        usable = [not reason for reason in enrol_reasons]
        weights = setting_for(self.card["enrolled_pool"]["weights"], sum(usable))
        raw = np.stack([_member_rows(member, computed, n_items=len(reasons)) for member in self.enrol_members])
        voice = np.stack([_member_rows(member, enrolled, n_items=len(usable))[usable] for member in self.enrol_members])
        adaptive = [
            _member_rows(
                member,
                computed,
                n_items=len(reasons),
                offset=speaker_offset(enrolled[_input_key(member)][0], prior=member.speaker_prior),
            )[None]
            for member in self.adaptive_members
        ]
        views = np.concatenate([raw, normalise_by_voice(raw, voice), *adaptive])
        return log_linear_pool(views, np.concatenate([weights[view] for view in VIEWS])), reasons, sum(usable)

    def predict_waveforms(self, waveforms: list[np.ndarray], *, n_jobs: int = 1) -> tuple[np.ndarray, list[str]]:
        """``Predictor.predict_waveforms`` for the ensemble: (n, n_classes) probabilities, NaN rows for waveforms
        a member cannot use, and the reasons ("" when usable)."""
        computed = self._member_inputs(window_function, list(waveforms), self.members, n_jobs=n_jobs)
        probabilities, reasons = self._pooled(computed)
        return self._calibrated(probabilities), reasons

    def _calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities if self.temperature is None else apply_temperature(probabilities, self.temperature)

    @staticmethod
    def _member_inputs(inputs_of, items: list, users: list, *, n_jobs: int) -> dict:
        """{input-spec key: (inputs, reasons)} of ``items`` for the predictors ``users``, each spec computed once
        however many predictors share it (``inputs_of``: the input-kind lookup for files or for waveforms)."""
        computed = {}
        for user in users:
            key = _input_key(user)
            if key not in computed:
                spec = user.card["input"]
                computed[key] = inputs_of(spec["kind"])(items, spec=spec, n_jobs=n_jobs)
        return computed

    def _pooled(self, computed: dict) -> tuple[np.ndarray, list[str]]:
        """(n_items, n_classes) uncalibrated pooled probabilities of the members from ``computed``
        (``_member_inputs``; NaN where a member cannot use an item) and each item's first reason ("" when usable)."""
        reasons = _first_reasons(computed)
        rows = np.stack([_member_rows(member, computed, n_items=len(reasons)) for member in self.members])
        return log_linear_pool(rows, self.weights), reasons


def _first_reasons(computed: dict) -> list[str]:
    """Each item's first reason over the input specs of ``computed`` (``_member_inputs``); "" when all could use it."""
    per_item = zip(*(spec_reasons for _, spec_reasons in computed.values()), strict=True)
    return [next((reason for reason in found if reason), "") for found in per_item]


def _member_rows(member, computed: dict, *, n_items: int, offset: np.ndarray | None = None) -> np.ndarray:
    """(n_items, n_classes) probabilities of ``member`` on its inputs in ``computed`` (``_member_inputs``), NaN
    where it cannot use an item; ``offset``: a speaker-adaptive member's enrolment centring."""
    inputs, reasons = computed[_input_key(member)]
    rows = np.full((n_items, len(member.classes)), np.nan)
    if len(inputs):
        rows[[not reason for reason in reasons]] = member.probabilities(inputs, offset=offset)
    return rows


def _input_key(predictor) -> str:
    """A predictor's input spec as a key: predictors with equal keys read the same inputs."""
    return json.dumps(predictor.card["input"], sort_keys=True)


def save_ensemble(
    *, model_dir: Path | str, members: dict[Path, float], card: dict, fold_members: dict[str, dict] | None = None
) -> Path:
    """Write the ensemble's card into ``model_dir``: ``card`` (name, classes, sample_rate, protocol, metrics ...)
    plus ``family`` and ``members`` (each member folder, relative to ``model_dir``, with its weight > 0) and
    ``fold_members`` ({fold: {member folder: weight}}, the cross-validated ensembles; optional). Returns
    ``model_dir``."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    entries = _member_entries(members, model_dir=model_dir)
    if len(entries) < 1:
        raise ValueError("an ensemble needs at least one member with a weight > 0")
    full = {**card, "input": {"kind": ENSEMBLE_FAMILY}, "family": ENSEMBLE_FAMILY, "members": entries}
    if fold_members:
        full["fold_members"] = {
            fold: _member_entries(weights, model_dir=model_dir) for fold, weights in fold_members.items()
        }
    atomic_write_text(model_dir / CARD_FILE, json.dumps(full, indent=2, default=str))
    return model_dir


def _member_entries(members: dict[Path, float], *, model_dir: Path) -> list[dict]:
    """[{model_dir: member folder relative to ``model_dir``, weight}] of the members with a weight > 0."""
    return [
        {"model_dir": os.path.relpath(Path(folder).resolve(), model_dir.resolve()), "weight": float(weight)}
        for folder, weight in members.items()
        if weight > 0
    ]


def save_enrolled_pool(
    model_dir: Path | str, *, weights: pd.DataFrame, members: dict[str, Path], adaptive: dict[str, Path]
) -> Path:
    """Add the ``enrolled_pool`` section to the ensemble card in ``model_dir``: from
    ``evaluation.enrolled_pool.cross_fitted_enrolled_pool``'s ``weights``, the rows fitted on every fold for each
    k ≥ 1; ``members`` and ``adaptive``: name -> model folder of its ``<view>:<name>`` columns. Members whose
    raw and normalised weights are 0 for every k are left out. Returns ``model_dir``."""
    rows = weights[weights["fold"].eq(ALL_FOLDS) & weights["n_clips"].notna()].set_index("n_clips")
    used = [name for name in members if rows[[f"{view}:{name}" for view in VIEWS[:2]]].to_numpy().any()]
    section = {
        "members": [os.path.relpath(Path(members[name]).resolve(), Path(model_dir).resolve()) for name in used],
        "adaptive_members": [
            os.path.relpath(Path(folder).resolve(), Path(model_dir).resolve()) for folder in adaptive.values()
        ],
        "weights": {
            str(int(k)): {
                **{view: [float(row[f"{view}:{name}"]) for name in used] for view in VIEWS[:2]},
                VIEWS[2]: [float(row[f"{VIEWS[2]}:{name}"]) for name in adaptive],
            }
            for k, row in rows.iterrows()
        },
    }
    update_card(Path(model_dir), enrolled_pool=section)
    return Path(model_dir)


def load_ensemble(model_dir: Path | str, card: dict) -> EnsemblePredictor:
    """The ``EnsemblePredictor`` of a folder written by ``save_ensemble`` (its members loaded uncalibrated)."""
    members = [_uncalibrated_member(Path(model_dir) / entry["model_dir"], card) for entry in card["members"]]
    weights = [float(entry["weight"]) for entry in card["members"]]
    pool = card.get("enrolled_pool", {})
    enrol_members = [_uncalibrated_member(Path(model_dir) / folder, card) for folder in pool.get("members", [])]
    adaptive = [_uncalibrated_member(Path(model_dir) / folder, card) for folder in pool.get("adaptive_members", [])]
    return EnsemblePredictor(
        members=tuple(members),
        weights=tuple(weights),
        card=card,
        enrol_members=tuple(enrol_members),
        adaptive_members=tuple(adaptive),
    )


def _uncalibrated_member(folder: Path, card: dict):
    """The ``Predictor`` of member ``folder`` without its calibration; its classes must be the ensemble's."""
    member = load_predictor(folder)
    if list(member.card["classes"]) != list(card["classes"]):
        raise ValueError(f"ensemble member {folder} has classes {member.card['classes']}, not {card['classes']}")
    return replace(member, card={key: value for key, value in member.card.items() if key != "calibration"})
