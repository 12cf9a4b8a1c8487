"""Speaker-adaptive evaluation: k unlabelled enrolment clips of each test speaker, the speaker's other clips scored.

Per fold, training speakers are centred by their own shrunk mean (``features.speaker_adaptation``) and one model
is trained on them. Each test speaker then gives k random clips (features only, never labels) as its enrolment;
their shrunk mean centres the speaker's remaining clips, which alone are scored (``enrol-<k>``). k = 0 uses the
training population's mean (``none``), k = None every clip, enrolment and scoring alike (``transductive``). The
shrinkage pseudo-count is chosen per fold on its validation speakers, never on the test speakers.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.evaluation import protocol
from ser_utils.evaluation.experiment import (
    Evaluation,
    TrainFn,
    class_indices,
    protocol_name,
    train_deployable,
    train_side_by_side,
)
from ser_utils.evaluation.metrics import score_predictions
from ser_utils.evaluation.protocol import enrolment_split
from ser_utils.evaluation.results import (
    NO_ADAPTATION,
    TRANSDUCTIVE,
    adaptation_label,
    metrics_summary,
    predictions_table,
)
from ser_utils.features.speaker_adaptation import (
    SpeakerPrior,
    centre_per_speaker,
    fit_speaker_prior,
    speaker_offset,
)
from ser_utils.models.persistence import predict_probabilities, save_model

__all__ = [
    "ENROL_SIZES",
    "PSEUDO_COUNT_CANDIDATES",
    "choose_pseudo_count",
    "centred_predictions",
    "cross_validate_adaptive",
    "deploy_adaptive",
    "adaptation_curve",
]

ENROL_SIZES = (1, 2, 4, 8, 16, None)  # clips per test speaker; None: all of them (transductive)
# Shrinkage pseudo-counts tried on validation speakers; None: one per feature by empirical Bayes, 0: plain mean.
PSEUDO_COUNT_CANDIDATES = (None, 0.0, 2.0, 8.0)


def choose_pseudo_count(
    train_inputs: np.ndarray,
    train_speakers,
    val_inputs: np.ndarray,
    val_speakers,
    *,
    candidates=PSEUDO_COUNT_CANDIDATES,
    enrol_sizes=ENROL_SIZES,
    seed: int,
) -> tuple[float | None, pd.DataFrame]:
    """The candidate pseudo-count whose k-clip offsets land closest to the validation speakers' all-clip means.

    Priors are fitted on the training speakers; the error is the squared offset error in units of the
    within-speaker spread of the training speakers, averaged over features, validation speakers and the finite
    ``enrol_sizes``; with one training speaker the empirical-Bayes candidate (None) is skipped. Returns (best
    candidate, table: pseudo_count, error), first wins ties.
    """
    train_inputs, val_inputs = np.asarray(train_inputs, np.float64), np.asarray(val_inputs, np.float64)
    train_speakers, val_speakers = np.asarray(train_speakers).astype(str), np.asarray(val_speakers).astype(str)
    spread = np.sqrt(np.mean([train_inputs[train_speakers == s].var(axis=0) for s in np.unique(train_speakers)], 0))
    spread = np.where(spread > 0, spread, 1.0)
    sizes = [k for k in enrol_sizes if k]
    if len(val_inputs) == 0 or not sizes:
        return candidates[0], pd.DataFrame({"pseudo_count": [], "error": []})
    rows = []
    if len(np.unique(train_speakers)) < 2:  # one training speaker: no between-speaker variance to estimate
        candidates = [candidate for candidate in candidates if candidate is not None]
    for candidate in candidates:
        prior = fit_speaker_prior(train_inputs, train_speakers, pseudo_count=candidate)
        errors = []
        for k in sizes:
            enrol, _ = enrolment_split(val_speakers, n_clips=k, seed=seed)
            for name in np.unique(val_speakers):
                truth = val_inputs[val_speakers == name].mean(axis=0)
                estimate = speaker_offset(val_inputs[enrol[val_speakers[enrol] == name]], prior=prior)
                errors.append(np.mean(((estimate - truth) / spread) ** 2))
        rows.append({"pseudo_count": "empirical-bayes" if candidate is None else candidate, "error": np.mean(errors)})
    table = pd.DataFrame(rows)
    return list(candidates)[int(table["error"].to_numpy().argmin())], table


def centred_predictions(
    model, inputs: np.ndarray, speakers, *, prior: SpeakerPrior, n_clips: int | None, seed: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(scored row positions, probabilities (m, n_classes)): ``enrolment_split`` of ``speakers``, each speaker's
    scored clips centred by the ``speaker_offset`` of its enrolment clips, then ``model`` applied."""
    speakers = np.asarray(speakers).astype(str)
    enrol, scored = enrolment_split(speakers, n_clips=n_clips, seed=seed)
    centred = np.asarray(inputs, dtype=np.float64)[scored].copy()
    for name in np.unique(speakers):
        offset = speaker_offset(inputs[enrol[speakers[enrol] == name]], prior=prior)
        centred[speakers[scored] == name] -= offset
    return scored, predict_probabilities(model, centred.astype(np.float32), n_classes=n_classes)


def cross_validate_adaptive(
    train_fn: TrainFn,
    *,
    name: str,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    folds: list[protocol.Fold],
    classes,
    work_dir: Path,
    seed: int,
    enrol_sizes=ENROL_SIZES,
    candidates=PSEUDO_COUNT_CANDIDATES,
    n_jobs: int = 1,
) -> tuple[dict[str, Evaluation], pd.DataFrame]:
    """Speaker-adaptive cross-validation: ({adaptation: Evaluation}, choices: fold, pseudo_count, error).

    Per fold: the pseudo-count is chosen on the validation speakers (``choose_pseudo_count``), training and
    validation speakers are centred by their own shrunk means, ``train_fn`` (the experiment loop's contract)
    trains one model, and the test speakers are scored for k = 0 (``none``) and every k of ``enrol_sizes``
    (``centred_predictions``, the enrolment clips left out); a k that would leave some speaker no clip to score
    is skipped. ``inputs`` (n, d) align with ``manifest``; ``n_jobs`` > 1 trains the folds side by side
    (``experiment.train_side_by_side``).
    """
    labels = class_indices(manifest, classes)
    speakers = manifest["speaker"].astype(str).to_numpy()
    fewest = pd.Series(speakers).value_counts().min()
    sizes = (0, *(k for k in enrol_sizes if k is None or k < fewest))  # every speaker keeps a clip to score
    tables = {k: [] for k in sizes}
    choices, priors, datasets, splits = [], [], [], []
    for fold in folds:
        parts = protocol.split_indices(manifest, fold, seed=seed)
        chosen, errors = choose_pseudo_count(
            inputs[parts["train"]],
            speakers[parts["train"]],
            inputs[parts["val"]],
            speakers[parts["val"]],
            candidates=candidates,
            enrol_sizes=sizes[1:],
            seed=seed,
        )
        chosen_name = "empirical-bayes" if chosen is None else chosen
        choices.append(errors.assign(fold=fold.name, chosen=errors["pseudo_count"].eq(chosen_name)))
        prior = fit_speaker_prior(inputs[parts["train"]], speakers[parts["train"]], pseudo_count=chosen)
        centred = {
            part: centre_per_speaker(inputs[parts[part]], speakers[parts[part]], prior=prior)
            for part in ("train", "val")
        }
        priors.append(prior)
        splits.append(parts)
        datasets.append((centred["train"], labels[parts["train"]], centred["val"], labels[parts["val"]]))
    trained = train_side_by_side(
        train_fn,
        datasets,
        work_dirs=[Path(work_dir) / "folds" / fold.name for fold in folds],
        n_classes=len(classes),
        seed=seed,
        n_jobs=n_jobs,
    )
    seconds = sum(elapsed for _, elapsed in trained)
    for fold, parts, prior, (model, _) in zip(folds, splits, priors, trained, strict=True):
        test = parts["test"]
        for k in sizes:
            scored, probabilities = centred_predictions(
                model, inputs[test], speakers[test], prior=prior, n_clips=k, seed=seed, n_classes=len(classes)
            )
            rows = manifest.iloc[test[scored]]
            tables[k].append(
                predictions_table(
                    rows, fold=fold.name, probabilities=probabilities, classes=classes, adaptation=adaptation_label(k)
                )
            )
    evaluations = {
        adaptation_label(k): Evaluation(
            model=name,
            protocol=protocol_name(folds),
            predictions=pd.concat(tables[k], ignore_index=True),
            histories=pd.DataFrame(),
            fit_seconds=seconds,
            adaptation=adaptation_label(k),
        )
        for k in sizes
    }
    return evaluations, pd.concat(choices, ignore_index=True)


def deploy_adaptive(
    train_fn: TrainFn,
    *,
    inputs: np.ndarray,
    manifest: pd.DataFrame,
    folds: list[protocol.Fold],
    folds_file: str,
    classes,
    card: dict,
    curve: pd.DataFrame,
    scores: pd.DataFrame,
    work_dir: Path,
    seed: int,
    enrol_sizes=ENROL_SIZES,
    candidates=PSEUDO_COUNT_CANDIDATES,
) -> Path:
    """Train the deployable speaker-adaptive model and save it to ``work_dir``; returns the folder.

    Trained like ``experiment.train_deployable`` (every speaker; the first fold's validation speakers for
    selection) on features centred per speaker, the pseudo-count chosen on those validation speakers. ``card``
    (``persistence.model_card``; its input is the raw features) gains the protocol, ``metrics`` (``scores``:
    ``record_results`` rows of one enrolment size) and an ``adaptation`` section: the prior (mean, pseudo-counts)
    that ``serving.predictor`` uses to centre a voice from its enrolment clips, and the cross-validated ``curve``.
    """
    speakers = manifest["speaker"].astype(str).to_numpy()
    val = np.isin(speakers, folds[0].val_speakers)
    fewest = pd.Series(speakers).value_counts().min()
    enrol_sizes = [k for k in enrol_sizes if k is None or k < fewest]
    chosen, _ = choose_pseudo_count(
        inputs[~val],
        speakers[~val],
        inputs[val],
        speakers[val],
        candidates=candidates,
        enrol_sizes=enrol_sizes,
        seed=seed,
    )
    prior = fit_speaker_prior(inputs[~val], speakers[~val], pseudo_count=chosen)
    model, section = train_deployable(
        train_fn,
        inputs=centre_per_speaker(inputs, speakers, prior=prior),
        manifest=manifest,
        folds=folds,
        classes=classes,
        work_dir=work_dir,
        seed=seed,
    )
    adaptation_section = {
        "method": "speaker-mean-shrinkage",
        "pseudo_count": "empirical-bayes" if chosen is None else chosen,
        "recommended_enrol_clips": 16,
        "curve": curve.replace({np.nan: None}).to_dict(orient="records"),
        **prior.as_dict(),
    }
    final_card = {
        **card,
        "protocol": {**section, "folds_file": folds_file},
        "metrics": {**metrics_summary(scores), "adaptation": str(scores["adaptation"].iloc[0])},
        "adaptation": adaptation_section,
    }
    return save_model(model, model_dir=Path(work_dir), card=final_card)


def adaptation_curve(evaluations: dict[str, Evaluation], *, classes) -> pd.DataFrame:
    """One row per adaptation of ``cross_validate_adaptive``'s evaluations: model, adaptation, n_clips
    (0 … k, NaN for transductive), n (clips scored), pooled wa, uar, macro_f1; ordered by n_clips."""
    rows = []
    for adaptation, evaluation in evaluations.items():
        pooled = score_predictions(evaluation.predictions, labels=classes).set_index("fold").loc["pooled"]
        n_clips = {NO_ADAPTATION: 0, TRANSDUCTIVE: np.nan}.get(adaptation)
        rows.append(
            {
                "model": evaluation.model,
                "adaptation": adaptation,
                "n_clips": float(adaptation.split("-")[1]) if n_clips is None else n_clips,
                "n": len(evaluation.predictions),
                **{metric: float(pooled[metric]) for metric in ("wa", "uar", "macro_f1")},
            }
        )
    return pd.DataFrame(rows).sort_values("n_clips", na_position="last", ignore_index=True)
