"""One results format for every model: per-clip predictions and a shared ``results.csv``, each with provenance.

``predictions/<protocol>__<model>__<features>.csv`` gets a ``.meta.json`` beside it (``provenance.run_info``).
``results.csv`` collects rows from several runs (notebooks 03, 04, 05), so ``results.meta.json`` keeps one
provenance entry per (corpora, protocol, model, features, adaptation) group, replaced together with its rows.

``adaptation`` says what a model saw of a test speaker before predicting: ``none`` (no clip of that speaker),
``enrol-<k>`` (k unlabelled enrolment clips of the speaker, then left out of scoring) or ``transductive`` (all
of the speaker's test clips). Tables written before the column existed read as ``none``.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.evaluation.metrics import METRICS, score_predictions
from ser_utils.io.atomic import atomic_path
from ser_utils.io.provenance import meta_path, write_meta, write_table

__all__ = [
    "RESULT_KEYS",
    "PREDICTION_SPLITS",
    "NO_ADAPTATION",
    "TRANSDUCTIVE",
    "enrolment_adaptation",
    "adaptation_label",
    "check_adaptation",
    "metrics_summary",
    "predictions_table",
    "write_predictions",
    "read_predictions",
    "read_results",
    "pooled_scores",
    "record_results",
]

# A results row is identified by these; re-running a model replaces its rows and nothing else.
RESULT_KEYS = ("corpora", "protocol", "model", "features", "adaptation")
PREDICTION_SPLITS = ("test", "val")  # held-out speakers; each fold's validation speakers
NO_ADAPTATION = "none"  # no clip of the test speaker seen before predicting: the default, and old tables' value
TRANSDUCTIVE = "transductive"  # every test clip of the speaker used (their features, never their labels)
ENROL_PREFIX = "enrol-"


def enrolment_adaptation(n_clips: int) -> str:
    """``"enrol-<k>"``: the adaptation label of a model that saw ``n_clips`` (≥ 1) unlabelled clips per speaker."""
    if int(n_clips) < 1:
        raise ValueError(f"an enrolment needs at least one clip, got {n_clips}; use adaptation {NO_ADAPTATION!r}")
    return f"{ENROL_PREFIX}{int(n_clips)}"


def adaptation_label(n_clips: int | None) -> str:
    """``none`` for 0 enrolment clips, ``transductive`` for None (every clip), else ``enrol-<k>``."""
    if n_clips is None:
        return TRANSDUCTIVE
    return NO_ADAPTATION if n_clips == 0 else enrolment_adaptation(n_clips)


def check_adaptation(adaptation: str) -> str:
    """Return ``adaptation`` if it is ``none``, ``transductive`` or ``enrol-<k>`` (k ≥ 1), else raise ValueError."""
    suffix = str(adaptation).removeprefix(ENROL_PREFIX)
    if adaptation in (NO_ADAPTATION, TRANSDUCTIVE) or (adaptation != suffix and suffix.isdigit() and int(suffix) >= 1):
        return adaptation
    raise ValueError(f"adaptation must be {NO_ADAPTATION!r}, {TRANSDUCTIVE!r} or 'enrol-<k>', got {adaptation!r}")


def predictions_table(
    rows: pd.DataFrame, *, fold: str, probabilities: np.ndarray, classes, adaptation: str = NO_ADAPTATION
) -> pd.DataFrame:
    """Per-clip predictions: path, speaker, corpus, fold, y_true, y_pred, confidence, prob_<class>, adaptation.

    ``rows`` are the manifest rows scored (same order as ``probabilities``, shape (n, n_classes));
    ``adaptation`` (``check_adaptation``) is what the model saw of each test speaker before predicting.
    """
    check_adaptation(adaptation)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape != (len(rows), len(classes)):
        raise ValueError(f"probabilities shape {probabilities.shape} != ({len(rows)}, {len(classes)})")
    classes = np.asarray(classes)
    table = rows[["path", "corpus", "speaker", "emotion"]].rename(columns={"emotion": "y_true"}).reset_index(drop=True)
    table.insert(3, "fold", fold)
    table["y_pred"] = classes[probabilities.argmax(axis=1)]
    table["confidence"] = probabilities.max(axis=1)
    for index, name in enumerate(classes):
        table[f"prob_{name}"] = probabilities[:, index]
    table["adaptation"] = adaptation
    return table


def write_predictions(
    predictions: pd.DataFrame,
    *,
    outputs_dir: Path,
    model: str,
    protocol: str,
    features: str,
    info: dict,
    split: str = "test",
    adaptation: str = NO_ADAPTATION,
) -> Path:
    """Write ``outputs/<run>/predictions/<protocol>__<model>__<features>.csv`` and its ``.meta.json``
    (``info`` from ``provenance.run_info``) atomically; returns the CSV's path. Any ``adaptation`` other than
    ``none`` appends ``__<adaptation>`` to the file name, so one model's unadapted, enrolment and transductive
    predictions never overwrite each other.

    ``split="test"``: the held-out speakers' predictions, the ones every score comes from. ``split="val"``:
    each fold's validation speakers (``predictions/validation/``), for fitting post-hoc steps such as
    calibration without touching the test speakers.
    """
    path = _predictions_path(
        outputs_dir, model=model, protocol=protocol, features=features, split=split, adaptation=adaptation
    )
    return write_table(predictions, path.stem, outputs_dir=path.parent, info=info)


def read_predictions(
    outputs_dir: Path,
    *,
    model: str,
    protocol: str,
    features: str,
    split: str = "test",
    adaptation: str = NO_ADAPTATION,
) -> pd.DataFrame:
    """Read predictions written by ``write_predictions``; files written before the ``adaptation`` column
    existed read with adaptation ``none``."""
    path = _predictions_path(
        outputs_dir, model=model, protocol=protocol, features=features, split=split, adaptation=adaptation
    )
    table = pd.read_csv(path, dtype={"fold": str, "speaker": str, "path": str})
    return table if "adaptation" in table else table.assign(adaptation=NO_ADAPTATION)


def read_results(path: Path) -> pd.DataFrame:
    """``results.csv`` with ``fold`` as text and an ``adaptation`` column (``none`` where an older table
    lacks it or leaves it empty)."""
    results = pd.read_csv(path, dtype={"fold": str})
    adaptation = results["adaptation"] if "adaptation" in results else pd.Series(NO_ADAPTATION, index=results.index)
    return results.assign(adaptation=adaptation.fillna(NO_ADAPTATION).astype(str))


def pooled_scores(results: pd.DataFrame, *, protocol: str, corpora: str) -> pd.DataFrame:
    """The rows of ``results`` (``read_results``) pooled over every fold of ``protocol`` on ``corpora``, each clip
    labelled on its own (no adaptation): one row per (model, features), as robustness scores them."""
    return results[
        results["fold"].eq("pooled")
        & results["protocol"].eq(protocol)
        & results["corpora"].eq(corpora)
        & results["adaptation"].eq(NO_ADAPTATION)
    ]


def record_results(
    predictions: pd.DataFrame,
    *,
    outputs_dir: Path,
    corpora: str,
    protocol: str,
    model: str,
    features: str,
    labels,
    info: dict,
    extra: dict | None = None,
    adaptation: str = NO_ADAPTATION,
) -> pd.DataFrame:
    """Score ``predictions`` per fold, pooled, mean and std, and merge them into ``results.csv``.

    ``protocol`` names the split, e.g. ``speaker-6fold`` (honest) or ``random-leaky``; rows with the
    same (corpora, protocol, model, features, adaptation) are replaced, and so is their entry in
    ``results.meta.json`` (``info`` from ``provenance.run_info``). Rows of older tables without an
    ``adaptation`` value read as ``none``; they predate enrolment, so re-recording their (corpora, protocol, model,
    features) group as ``none`` or ``transductive`` replaces them. Returns this model's score rows.
    """
    scores = score_predictions(predictions, labels=labels)
    keys = {
        "corpora": corpora,
        "protocol": protocol,
        "model": model,
        "features": features,
        "adaptation": check_adaptation(adaptation),
    }
    scores = scores.assign(**(extra or {}))
    for key in reversed(RESULT_KEYS):
        scores.insert(0, key, keys[key])
    path = Path(outputs_dir) / "results.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        # Rows written before the adaptation column stay unlabelled (read as none) until re-recorded; they held no
        # enrolment, so re-recording their group as none or transductive replaces them.
        existing = pd.read_csv(path, dtype={"fold": str})
        adaptation = read_results(path)["adaptation"]
        unlabelled = existing["adaptation"].isna() if "adaptation" in existing else pd.Series(True, existing.index)
        legacy = unlabelled & (keys["adaptation"] in (NO_ADAPTATION, TRANSDUCTIVE))
        group = [existing[key].astype(str) == str(keys[key]) for key in RESULT_KEYS if key != "adaptation"]
        same = np.logical_and.reduce(group) & ((adaptation == keys["adaptation"]) | legacy)
        scores_all = pd.concat([existing[~same], scores], ignore_index=True)
        scores_all = scores_all[[*RESULT_KEYS, *(column for column in scores_all if column not in RESULT_KEYS)]]
    else:
        scores_all = scores
    with atomic_path(path) as tmp:
        scores_all.to_csv(tmp, index=False)
    _record_provenance(path, keys=keys, info=info)
    return scores


def _record_provenance(path: Path, *, keys: dict, info: dict) -> None:
    """Replace the ``runs`` entry of ``keys`` in ``results.meta.json``: ``{"keys": RESULT_KEYS, "runs": [...]}``."""
    meta = meta_path(path)
    runs = json.loads(meta.read_text()).get("runs", []) if meta.is_file() else []
    same = lambda run: all(str(run.get(key, NO_ADAPTATION)) == str(keys[key]) for key in RESULT_KEYS)  # noqa: E731
    runs = [run for run in runs if not same(run)] + [{**keys, **info}]
    write_meta(path, {"keys": list(RESULT_KEYS), "runs": runs})


def _predictions_path(
    outputs_dir: Path, *, model: str, protocol: str, features: str, split: str, adaptation: str
) -> Path:
    if split not in PREDICTION_SPLITS:
        raise ValueError(f"split must be one of {PREDICTION_SPLITS}, got {split!r}")
    folder = Path(outputs_dir) / "predictions"
    suffix = "" if check_adaptation(adaptation) == NO_ADAPTATION else f"__{adaptation}"
    return (folder if split == "test" else folder / "validation") / f"{protocol}__{model}__{features}{suffix}.csv"


def metrics_summary(scores: pd.DataFrame) -> dict:
    """``record_results`` rows (fold, wa, uar, macro_f1 …) as the card's ``metrics`` section."""
    table = scores.set_index(scores["fold"].astype(str))
    pick = lambda row: {metric: float(table.loc[row, metric]) for metric in METRICS}  # noqa: E731
    summary = {
        "protocol": str(scores["protocol"].iloc[0]) if "protocol" in scores else "",
        **{row: pick(row) for row in ("pooled", "mean", "std")},
    }
    summary["per_fold"] = {fold: pick(fold) for fold in table.index if fold not in ("pooled", "mean", "std")}
    return summary
