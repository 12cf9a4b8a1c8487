"""A deployable ensemble: saved models whose probabilities are averaged with fixed weights.

Notebook 06 chooses the members and weights (``evaluation.fusion.cross_fitted_ensemble``, row ``all``) on the
members' out-of-fold predictions, which are uncalibrated; so the members here give uncalibrated probabilities too,
and only the ensemble's own card temperature (notebook 06 fits one like any deployable model's) is applied to the
weighted mean. The folder holds just ``model_card.json``: ``family`` ``ensemble`` and ``members``, each a sibling
model folder (path relative to the ensemble's) with its weight; ``fold_members`` records the weights each
cross-validation fold was scored with (chosen on the other folds), so its fold models can be re-assembled.
``posterior_normalisation`` ({"strengths": {k: strength}}, optional) lets ``predict_files`` adapt to a voice from
unlabelled enrolment clips (``evaluation.posterior_normalisation``); with an ``adaptive_member`` ({"model_dir",
"weights": {k: weight}}) the normalised probabilities are then blended with that speaker-adaptive model's, fed the
same enrolment clips (``evaluation.adaptive_blend``). Strengths and weights were chosen on every fold.
"""

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.evaluation.adaptive_blend import blend_probabilities
from ser_utils.evaluation.calibration import apply_temperature
from ser_utils.evaluation.posterior_normalisation import normalise_posteriors, setting_for
from ser_utils.evaluation.results import enrolment_adaptation
from ser_utils.features.speaker_adaptation import speaker_offset
from ser_utils.io.atomic import atomic_write_text
from ser_utils.models.persistence import CARD_FILE
from ser_utils.serving.predictor import (
    CardProperties,
    audio_file_list,
    input_function,
    load_predictor,
    prediction_table,
    require_usable_enrolment,
    window_function,
)

__all__ = ["ENSEMBLE_FAMILY", "EnsemblePredictor", "save_ensemble", "load_ensemble"]

ENSEMBLE_FAMILY = "ensemble"


@dataclass(frozen=True)
class EnsemblePredictor(CardProperties):
    """Saved models (``serving.predictor.Predictor``, calibration removed) and their weights, with the ensemble's
    card; labels files and waveforms like one ``Predictor``. ``adaptive_member``: the speaker-adaptive ``Predictor``
    (calibration removed) blended in when enrolling, or None."""

    members: tuple
    weights: tuple[float, ...]
    card: dict
    adaptive_member: object | None = None

    @property
    def speaker_prior(self) -> None:
        return None  # every member takes each clip on its own

    def predict_files(self, paths, *, n_jobs: int, enrol=None) -> pd.DataFrame:
        """``Predictor.predict_files``'s table from the weighted mean of the members' probabilities; a file that
        any member cannot use gets that member's reason. ``enrol``: unlabelled clips of the files' voice (folders
        expanded); the mean of their probabilities, raised to the card's strength for that many clips, divides each
        file's (``adaptation`` column ``enrol-<k>``), then the adaptive member's probabilities, if any, are blended in
        with the card's weight for that many clips. Raises ValueError when the card has no
        ``posterior_normalisation`` or no enrolment clip is usable."""
        paths = audio_file_list(paths)
        users = [*self.members, *([self.adaptive_member] if enrol is not None and self.adaptive_member else [])]
        computed = self._member_inputs(input_function, paths, users, n_jobs=min(n_jobs, len(paths)))
        probabilities, reasons = self._weighted_mean(computed)
        adaptation = "none"
        if enrol is not None:
            enrolled = self._enrolment_inputs(enrol, users, n_jobs=n_jobs)
            enrolment, enrol_reasons = self._weighted_mean(enrolled)
            require_usable_enrolment(enrol_reasons)
            enrolment = enrolment[[not reason for reason in enrol_reasons]]
            section = self.card["posterior_normalisation"]
            strength = setting_for(section["strengths"], len(enrolment))
            probabilities = normalise_posteriors(probabilities, enrolment, strength=strength)
            if self.adaptive_member is not None:
                weight = setting_for(section["adaptive_member"]["weights"], len(enrolment))
                adaptive = self._adaptive_probabilities(computed, enrolled, len(paths))
                probabilities = blend_probabilities(probabilities, adaptive, weight=weight)
            adaptation = enrolment_adaptation(len(enrolment))
        kept = self._calibrated(probabilities)[[not reason for reason in reasons]]
        return prediction_table(
            paths, reasons, kept if len(kept) else None, classes=self.classes, adaptation=adaptation
        )

    def _enrolment_inputs(self, enrol, users: list, *, n_jobs: int) -> dict:
        """``_member_inputs`` of the enrolment files ``enrol`` (folders expanded) for the predictors ``users``."""
        if "posterior_normalisation" not in self.card:
            raise ValueError(
                f"ensemble {self.card.get('name')!r} has no posterior normalisation for enrolment; rerun notebook 06"
            )
        paths = audio_file_list(enrol, what="enrolment audio")
        return self._member_inputs(input_function, paths, users, n_jobs=max(1, min(n_jobs, len(paths))))

    def _adaptive_probabilities(self, computed: dict, enrolled: dict, n_items: int) -> np.ndarray:
        """(n_items, n_classes) uncalibrated probabilities of the adaptive member, its inputs centred by the shrunk
        mean of its usable enrolment inputs (NaN rows where it cannot use an item)."""
        member = self.adaptive_member
        offset = speaker_offset(enrolled[_input_key(member)][0], prior=member.speaker_prior)
        return _member_rows(member, computed, n_items=n_items, offset=offset)

    def predict_waveforms(self, waveforms: list[np.ndarray], *, n_jobs: int = 1) -> tuple[np.ndarray, list[str]]:
        """``Predictor.predict_waveforms`` for the ensemble: (n, n_classes) probabilities, NaN rows for waveforms
        a member cannot use, and the reasons ("" when usable)."""
        computed = self._member_inputs(window_function, list(waveforms), self.members, n_jobs=n_jobs)
        probabilities, reasons = self._weighted_mean(computed)
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

    def _weighted_mean(self, computed: dict) -> tuple[np.ndarray, list[str]]:
        """(n_items, n_classes) uncalibrated weighted-mean probabilities of the members from ``computed``
        (``_member_inputs``; NaN where a member cannot use an item) and each item's first reason ("" when usable)."""
        per_item = zip(*(spec_reasons for _, spec_reasons in computed.values()), strict=True)
        reasons = [next((reason for reason in found if reason), "") for found in per_item]
        n_items = len(reasons)
        weights = np.asarray(self.weights) / np.sum(self.weights)
        weighted = np.zeros((n_items, len(self.classes)))
        for member, weight in zip(self.members, weights, strict=True):
            weighted += weight * _member_rows(member, computed, n_items=n_items)
        return weighted, reasons


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


def load_ensemble(model_dir: Path | str, card: dict) -> EnsemblePredictor:
    """The ``EnsemblePredictor`` of a folder written by ``save_ensemble`` (its members loaded uncalibrated)."""
    members = [_uncalibrated_member(Path(model_dir) / entry["model_dir"], card) for entry in card["members"]]
    weights = [float(entry["weight"]) for entry in card["members"]]
    blended = card.get("posterior_normalisation", {}).get("adaptive_member")
    adaptive = _uncalibrated_member(Path(model_dir) / blended["model_dir"], card) if blended else None
    return EnsemblePredictor(members=tuple(members), weights=tuple(weights), card=card, adaptive_member=adaptive)


def _uncalibrated_member(folder: Path, card: dict):
    """The ``Predictor`` of member ``folder`` without its calibration; its classes must be the ensemble's."""
    member = load_predictor(folder)
    if list(member.card["classes"]) != list(card["classes"]):
        raise ValueError(f"ensemble member {folder} has classes {member.card['classes']}, not {card['classes']}")
    return replace(member, card={key: value for key, value in member.card.items() if key != "calibration"})
