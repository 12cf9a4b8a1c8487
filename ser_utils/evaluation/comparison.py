"""Compare model families: one results comparison from ``results.csv``, the leaky-vs-honest gap, and
per-class, confusion and training-epoch tables over several evaluated models (``experiment.ModelRun``)."""

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.evaluation.experiment import LEAKY_PROTOCOL, ModelRun
from ser_utils.evaluation.metrics import METRICS, confusion_table, per_class_report
from ser_utils.evaluation.results import read_results

__all__ = [
    "SUMMARY_ROWS",
    "model_comparison",
    "with_pooled_suffix",
    "leaky_vs_honest",
    "per_class_table",
    "confusion_rows",
    "training_histories",
    "epoch_summary",
]

SUMMARY_ROWS = ("pooled", "mean", "std")  # the rows record_results adds after the per-fold rows


def model_comparison(
    outputs_dir: Path, *, corpora: str, protocols: Iterable[str], models: Iterable[str] | None = None
) -> pd.DataFrame:
    """One row per (protocol, model, features, adaptation) of the run's ``<outputs_dir>/results.csv`` rows
    for ``corpora`` under ``protocols``.

    Columns: model, features, adaptation (``results.check_adaptation``; ``none`` in tables older than the
    column), folds (fold count), for each metric of ``metrics.METRICS`` the pooled score
    (``wa``, ``uar``, ``macro_f1``: all test clips scored together, in [0, 1]) and its mean and std over
    folds (``<metric>_mean``, ``<metric>_std``), then protocol and leaky (True for ``random-leaky`` rows,
    whose speakers are shared between train and test). Honest rows come first, each group by pooled UAR,
    best first. ``models`` keeps only those model names (default: every model recorded).
    """
    path = Path(outputs_dir) / "results.csv"
    if not path.is_file():
        raise ValueError(f"no {path}; record the models first (experiment.evaluate_and_deploy)")
    results = read_results(path).astype({"corpora": str})
    protocols = list(protocols)
    subset = results[(results["corpora"] == corpora) & results["protocol"].isin(protocols)]
    if models is not None:
        subset = subset[subset["model"].isin(list(models))]
    if subset.empty:
        raise ValueError(
            f"results hold no rows for corpora {corpora!r} under {protocols}"
            + (f" for models {list(models)}" if models is not None else "")
            + "; run the models' notebooks first"
        )
    rows = []
    keys = ["protocol", "model", "features", "adaptation"]
    for (protocol, model, features, adaptation), part in subset.groupby(keys, sort=False):
        by_fold = part.set_index(part["fold"].astype(str))
        missing = [row for row in SUMMARY_ROWS if row not in by_fold.index]
        if missing:
            raise ValueError(f"{model} on {features} ({protocol}) lacks rows {missing}; record it with record_results")
        row = {
            "model": model,
            "features": features,
            "adaptation": adaptation,
            "folds": int((~by_fold.index.isin(SUMMARY_ROWS)).sum()),
        }
        for metric in METRICS:
            row[metric] = float(by_fold.loc["pooled", metric])
            row[f"{metric}_mean"] = float(by_fold.loc["mean", metric])
            row[f"{metric}_std"] = float(by_fold.loc["std", metric])
        rows.append({**row, "protocol": protocol, "leaky": protocol == LEAKY_PROTOCOL})
    return pd.DataFrame(rows).sort_values(["leaky", "uar"], ascending=[True, False], ignore_index=True)


def with_pooled_suffix(comparison: pd.DataFrame) -> pd.DataFrame:
    """``model_comparison`` rows with protocol first and the pooled scores named ``<metric>_pooled``: the
    columns of notebook 03's ``03_model_comparison.csv``."""
    renamed = comparison.rename(columns={metric: f"{metric}_pooled" for metric in METRICS})
    return renamed[["protocol", *[column for column in renamed.columns if column != "protocol"]]]


def leaky_vs_honest(comparison: pd.DataFrame) -> pd.DataFrame:
    """For every (model, features) with a leaky row: its pooled scores under both protocols.

    Columns: model, features, honest_protocol, ``<metric>_leaky``, ``<metric>_honest`` for each metric and
    ``wa_flattery`` (leaky minus honest pooled WA: how much the random clip split overstates the model).
    """
    leaky = comparison[comparison["leaky"]]
    honest = comparison[~comparison["leaky"]]
    if leaky.empty or honest.empty:
        raise ValueError("the comparison needs honest and random-leaky rows; pass both protocols to model_comparison")
    keep = ["model", "features", "protocol", *METRICS]
    table = leaky[keep].merge(honest[keep], on=["model", "features"], suffixes=("_leaky", "_honest"))
    if len(table) < len(leaky):
        raise ValueError("some leaky rows have no honest row of the same model and features; evaluate both")
    table = table.drop(columns="protocol_leaky").rename(columns={"protocol_honest": "honest_protocol"})
    return table.assign(wa_flattery=table["wa_leaky"] - table["wa_honest"])


def per_class_table(runs: Iterable[ModelRun], *, classes) -> pd.DataFrame:
    """Precision, recall, F1 and support per emotion of each run's pooled predictions (rows in ``classes``
    order per run), with model and features columns: ``metrics.per_class_report`` of every run stacked."""
    return pd.concat(
        [
            per_class_report(
                run.evaluation.predictions["y_true"], run.evaluation.predictions["y_pred"], labels=classes
            ).assign(model=run.evaluation.model, features=run.features)
            for run in runs
        ],
        ignore_index=True,
    )


def confusion_rows(runs: Iterable[ModelRun], *, classes) -> pd.DataFrame:
    """Every run's pooled confusion matrix in long form: true, predicted, count, rate (the share of the true
    class, so rates sum to 1 over each true emotion), protocol, model, features."""
    tables = []
    for run in runs:
        y_true, y_pred = run.evaluation.predictions["y_true"], run.evaluation.predictions["y_pred"]
        counts = confusion_table(y_true, y_pred, labels=classes).stack().rename("count")
        rates = confusion_table(y_true, y_pred, labels=classes, normalize=True).stack().rename("rate")
        tables.append(
            counts.to_frame()
            .join(rates)
            .reset_index()
            .assign(protocol=run.evaluation.protocol, model=run.evaluation.model, features=run.features)
        )
    return pd.concat(tables, ignore_index=True)


def training_histories(runs: Iterable[ModelRun]) -> pd.DataFrame:
    """The Keras training histories (fold, epoch, loss, val_loss …) of every run that has one, stacked with
    model and features columns; empty when no run trained a Keras model."""
    tables = [
        run.evaluation.histories.assign(model=run.evaluation.model, features=run.features)
        for run in runs
        if len(run.evaluation.histories)
    ]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def epoch_summary(histories: pd.DataFrame, *, by: list[str]) -> pd.DataFrame:
    """One row per training run (``by``, e.g. ["fold", "seed"]): epochs run, best_epoch (counted from 1, the
    lowest val_loss, whose weights early stopping keeps), best_val_loss, best_val_accuracy (when recorded)
    and the mean seconds_per_epoch."""
    missing = [column for column in (*by, "epoch", "val_loss", "epoch_seconds") if column not in histories]
    if missing:
        raise ValueError(f"histories lack columns {missing}; pass Evaluation.histories or training_histories(...)")
    aggregations = {
        "epochs": ("epoch", "size"),
        "best_epoch": ("val_loss", lambda values: int(np.argmin(values.to_numpy())) + 1),
        "best_val_loss": ("val_loss", "min"),
        "best_val_accuracy": ("val_accuracy", "max"),
        "seconds_per_epoch": ("epoch_seconds", "mean"),
    }
    if "val_accuracy" not in histories:
        del aggregations["best_val_accuracy"]
    return histories.groupby(by, sort=False).agg(**aggregations).reset_index()
