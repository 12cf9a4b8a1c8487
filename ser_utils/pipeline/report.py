"""The run's report: the headline results table, rendered as the HTML front page and as the README's section.

The headline table comes from ``outputs/<run>/06_model_comparison.csv`` (speaker-clustered bootstrap
intervals) when notebook 06 has written it, else from the pooled rows of ``results.csv``; one row per model
(its best honest feature view by UAR), honest models first, then the LEAKY random-split rows labelled.
"""

import html
import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pandas as pd
from nbconvert import HTMLExporter

from ser_utils.evaluation.augmentation import SPAN_POOL, SPAN_VIEW
from ser_utils.evaluation.diagnostics import adaptation_of
from ser_utils.evaluation.fusion import ENSEMBLE
from ser_utils.evaluation.results import ENROL_PREFIX, NO_ADAPTATION, read_results
from ser_utils.evaluation.robustness import (
    DEPLOYMENT_MAX_CLEAN_GAP,
    DEPLOYMENT_MIN_PHONE_UNCHANGED,
    DEPLOYMENT_NOISE,
    DEPLOYMENT_PHONE,
    SER_TESTS_THRESHOLDS,
)
from ser_utils.io.atomic import atomic_write_text
from ser_utils.io.provenance import git_commit, meta_path, run_info, write_table
from ser_utils.pipeline.speed_report import SPEED_MARKERS, speed_markdown
from ser_utils.pipeline.workspace import Workspace

__all__ = [
    "README_MARKERS",
    "README_RUN",
    "headline_table",
    "results_markdown",
    "update_readme",
    "notebook_durations",
    "render_report",
    "write_report",
    "run_data_label",
]

README_MARKERS = ("<!-- results:start -->", "<!-- results:end -->")
README_RUN = "ravdess-tess"  # the committed full run whose results the README shows
COMPARISON_FILE = "06_model_comparison.csv"
RESULTS_FILE = "results.csv"
ROBUSTNESS_FILE = "07_deployment_check.csv"
HOLDOUT_FILE = "07_holdout_check.csv"  # the same check on other held-out clips (scripts/holdout_check.py)
ROBUSTNESS_MODELS = (ENSEMBLE, SPAN_POOL)  # the recommended model and the one for noisy audio
HONEST_PREFIX = "speaker-"  # honest protocols are speaker-<k>fold; random-leaky shares speakers
LEAKY_PROTOCOL = "random-leaky"
TRANSDUCTIVE = ("speaker-normalised",)  # views that need a test speaker's own clips: research rows, not headline
UNADAPTED_LABELS = ("", "none", "nan")
MODEL_NAMES = {
    "logistic_regression": "logistic regression",
    "logistic_regression_augmented": "logistic regression, trained with noise / reverb / codec copies (notebook 07)",
    "gradient_boosting_augmented": "gradient boosting, trained with noise / reverb / codec copies (notebook 07)",
    "span_pool": "log-linear pool of noise-trained models on the speech span over a noise floor (notebook 07)",
    "logistic_regression_multicorpus": "logistic regression, the other corpora added to training (notebook 03)",
    "mlp_tuned": "dense MLP (tuned)",
    "mlp_tuned_augmented": "dense MLP (tuned), trained with noise / reverb / codec copies (notebook 07)",
    "cnn_lstm": "CNN-LSTM (Conv1D + BiLSTM + attention)",
    "cnn_lstm_augmented": "CNN-LSTM, trained with noise / reverb / codec copies (notebook 07)",
    "gradient_boosting": "gradient boosting",
    "random_forest": "random forest",
    "svm": "RBF-SVM",
    "yamnet_finetuned": "YAMNet, top blocks fine-tuned",
    "yamnet_frozen_logreg": "YAMNet frozen + logistic regression",
    "yamnet_frozen_mlp": "YAMNet frozen + dense MLP",
    "svm_seed": "seeds' RBF-SVM",
    "mlp_seed": "seeds' dense MLP",
    "ensemble": "log-linear pool of the families (weights fitted on other folds' speakers)",
}
FEATURE_NAMES = {
    "handcrafted+egemaps": "handcrafted + eGeMAPS",
    "egemaps": "eGeMAPS",
    "logmel": "log-mel spectrogram",
    "yamnet-waveform": "waveform",
    "yamnet-embeddings": "embeddings",
    "seeds195": "seeds' 195 values",
    "logmel+handcrafted+egemaps": "log-mel + handcrafted + eGeMAPS",
    "families": "each member's own",
    "speech-spans": "each member's own, over the speech span",
}
KEY_CHARTS = ("03_01_model_comparison", "03_04_confusion_best", "04_03_confusion_matrix", "05_04_model_comparison")
DATA_COLUMNS = ("corpus", "clips", "speakers", "female_speakers", "male_speakers", "emotions", "hours")
STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem}"
    "th{background:#f3f3f3}td{text-align:right}td:first-child,td:nth-child(2){text-align:left}"
    "tr.leaky td{font-style:italic;color:#a33}img{max-width:100%;border:1px solid #eee;margin:.5rem 0}"
    ".meta{color:#555}"
)


def headline_table(outputs_dir: Path) -> tuple[pd.DataFrame, Path]:
    """The headline rows as display strings, and the file they came from.

    Columns: model and features (display names), the scores in percent with one decimal — from
    ``06_model_comparison.csv``: ``WA [95 % CI]``, ``UAR [95 % CI]``, ``macro-F1``, ``Δ UAR vs best [95 % CI]``
    (percentage points); from ``results.csv``: ``WA`` (pooled ± std over folds), ``UAR``, ``macro-F1`` —
    and ``leaky`` (bool). Raises ValueError when neither file exists.
    """
    outputs_dir = Path(outputs_dir)
    results_path, comparison_path = outputs_dir / RESULTS_FILE, outputs_dir / COMPARISON_FILE
    if not results_path.is_file() and not comparison_path.is_file():
        raise ValueError(f"no {comparison_path.name} or {results_path.name} in {outputs_dir}; run the notebooks first")
    leaky = _leaky_rows(results_path) if results_path.is_file() else pd.DataFrame(columns=["model", "features"])
    if comparison_path.is_file():
        table, source = _from_comparison(pd.read_csv(comparison_path), leaky), comparison_path
    else:
        table, source = _from_results(_one_row_per_view(results_path), leaky), results_path
    return table.reset_index(drop=True), source


def results_markdown(outputs_dir: Path, *, run_name: str, root: Path) -> str:
    """The README's results section (what goes between ``README_MARKERS``): a generated-by note and the
    ``headline_table`` as Markdown, LEAKY rows in italics. ``root`` makes the source path relative."""
    table, source = headline_table(outputs_dir)
    columns = [column for column in table.columns if column != "leaky"]
    lines = [
        f"<!-- generated by `python -m ser_utils report --readme --run {run_name}` from "
        f"{os.path.relpath(source, root)}; regenerate, do not edit -->",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for values, leaky in zip(table[columns].itertuples(index=False, name=None), table["leaky"], strict=True):
        cells = [str(value) for value in values]
        if leaky:
            cells = [f"*{cells[0]}, **leaky random split***", cells[1], *[f"*{c}*" if c else c for c in cells[2:]]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *_results_notes(outputs_dir)])


def update_readme(readme: Path, *, outputs_dir: Path, run_name: str) -> bool:
    """Rewrite the parts of ``readme`` between ``README_MARKERS`` (``results_markdown``) and between
    ``speed_report.SPEED_MARKERS`` (``speed_report.speed_markdown``); True if it changed."""
    readme = Path(readme)
    text = readme.read_text()
    sections = {
        README_MARKERS: results_markdown(outputs_dir, run_name=run_name, root=readme.parent),
        SPEED_MARKERS: speed_markdown(outputs_dir, run_name=run_name, root=readme.parent),
    }
    new = text
    for (start, end), body in sections.items():
        if new.count(start) != 1 or new.count(end) != 1 or new.index(start) > new.index(end):
            raise ValueError(f"{readme} needs one '{start}' line before one '{end}' line around a generated section")
        head, rest = new.split(start)
        _, tail = rest.split(end)
        new = f"{head}{start}\n{body}\n{end}{tail}"
    if new != text:
        atomic_write_text(readme, new)
    return new != text


def notebook_durations(executed: list[Path], *, profile: str) -> pd.DataFrame:
    """Seconds each executed notebook ran (papermill's ``metadata.papermill.duration``; NaN when missing).
    Columns: notebook (stem), seconds, profile."""
    rows = []
    for path in executed:
        papermill = nbformat.read(path, as_version=4).metadata.get("papermill", {})
        seconds = papermill.get("duration")
        rows.append({"notebook": Path(path).stem, "seconds": float("nan") if seconds is None else float(seconds)})
    return pd.DataFrame(rows, columns=["notebook", "seconds"]).assign(profile=profile)


def render_report(executed: list[Path], *, ws: Workspace, profile: str) -> Path:
    """``write_report`` for a workspace: its root, run name and data label."""
    return write_report(executed, root=ws.root, run_name=ws.run_name, data_label=ws.data_label, profile=profile)


def write_report(executed: list[Path], *, root: Path, run_name: str, data_label: str, profile: str) -> Path:
    """Convert the executed notebooks to HTML in ``outputs/<run>/report/`` and write its ``index.html``.

    The index opens on a front page: the headline table (``headline_table``; omitted with a note when no
    model was recorded yet), the key charts (``charts/<run>/06_*.png`` and ``KEY_CHARTS``, linked
    relatively), the data used (``dataset_distribution.csv``), profile, git commit and each notebook's
    duration (also written to ``outputs/<run>/durations.csv``), then links to every notebook's page.
    """
    root = Path(root)
    outputs_dir, charts_dir = root / "outputs" / run_name, root / "charts" / run_name
    report_dir = outputs_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    links = []
    for path in executed:
        notebook = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(notebook)
        atomic_write_text(report_dir / f"{path.stem}.html", body)
        links.append((path.stem, _title(notebook, default=path.stem)))
    durations = notebook_durations(executed, profile=profile)
    info = run_info({"profile": profile}, data_label=data_label, root=root)
    write_table(durations, "durations", outputs_dir=outputs_dir, info=info)
    sections = [
        f"<h1>Speech emotion recognition · {html.escape(data_label)}</h1>",
        f"<p class='meta'>Profile <b>{html.escape(profile)}</b> · commit <code>{git_commit(root)[:12]}</code> · "
        f"rendered {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · charts in <code>charts/{run_name}/</code>, "
        f"tables in <code>outputs/{run_name}/</code></p>",
        _headline_section(outputs_dir, root=root),
        _charts_section(charts_dir, report_dir=report_dir),
        _data_section(outputs_dir),
        _notebooks_section(links, durations),
    ]
    index = report_dir / "index.html"
    atomic_write_text(
        index,
        f"<!doctype html><meta charset='utf-8'><title>SER report · {html.escape(run_name)}</title>"
        f"<style>{STYLE}</style>" + "\n".join(section for section in sections if section),
    )
    return index


def run_data_label(outputs_dir: Path, *, run_name: str) -> str:
    """The data label a run's tables recorded (``dataset_distribution.meta.json``), else the run name."""
    path = meta_path(Path(outputs_dir) / "dataset_distribution.csv")
    return json.loads(path.read_text()).get("data", run_name) if path.is_file() else run_name


def _from_results(results: pd.DataFrame, leaky: pd.DataFrame) -> pd.DataFrame:
    honest = results[results["protocol"].str.startswith(HONEST_PREFIX) & ~results["features"].isin(TRANSDUCTIVE)]
    pooled = honest[honest["fold"] == "pooled"].set_index(["model", "features"])
    std = honest[honest["fold"] == "std"].set_index(["model", "features"])["wa"]
    best = pooled.sort_values("uar", ascending=False, kind="stable").groupby(level="model", sort=False).head(1)
    leaky = _order_like(leaky, best.index.get_level_values("model"))
    rows = [
        {
            "model": _name(MODEL_NAMES, model),
            "features": _feature_name(features),
            "WA": f"{_pct(row.wa)} ± {_pct(std.get((model, features), math.nan))}",
            "UAR": _pct(row.uar),
            "macro-F1": _pct(row.macro_f1),
            "leaky": False,
        }
        for (model, features), row in best.iterrows()
    ]
    rows += [
        {"WA": _pct(row.wa), "UAR": _pct(row.uar), "macro-F1": _pct(row.macro_f1), **_labels(row)}
        for row in leaky.itertuples()
    ]
    return pd.DataFrame(rows, columns=["model", "features", "WA", "UAR", "macro-F1", "leaky"])


def _from_comparison(comparison: pd.DataFrame, leaky: pd.DataFrame) -> pd.DataFrame:
    adaptation = comparison["adaptation"].fillna("").astype(str) if "adaptation" in comparison else ""
    comparison = comparison.assign(adaptation=adaptation)
    honest = comparison[~comparison["features"].isin(TRANSDUCTIVE) & ~comparison["adaptation"].isin(TRANSDUCTIVE)]
    best = honest.sort_values("uar", ascending=False, kind="stable").groupby("model", sort=False).head(1)
    leaky = _order_like(leaky, best["model"])
    rows = []
    for row in best.itertuples():
        features = _feature_name(row.features)
        if row.adaptation.lower() not in UNADAPTED_LABELS:
            features += f", {row.adaptation}"
        delta = getattr(row, "delta_uar_vs_best", math.nan)
        rows.append(
            {
                "model": _name(MODEL_NAMES, row.model),
                "features": features,
                "WA [95 % CI]": f"{_pct(row.wa)} [{_pct(row.wa_ci_low)}, {_pct(row.wa_ci_high)}]",
                "UAR [95 % CI]": f"{_pct(row.uar)} [{_pct(row.uar_ci_low)}, {_pct(row.uar_ci_high)}]",
                "macro-F1": _pct(row.macro_f1),
                "Δ UAR vs best [95 % CI]": "best"
                if delta == 0 and math.isnan(getattr(row, "mcnemar_p_vs_best", math.nan))
                else f"{_pct(delta, sign=True)} [{_pct(row.delta_uar_ci_low, sign=True)}, "
                f"{_pct(row.delta_uar_ci_high, sign=True)}]",
                "leaky": False,
            }
        )
    rows += [
        {
            "WA [95 % CI]": _pct(row.wa),
            "UAR [95 % CI]": _pct(row.uar),
            "macro-F1": _pct(row.macro_f1),
            "Δ UAR vs best [95 % CI]": "",
            **_labels(row),
        }
        for row in leaky.itertuples()
    ]
    columns = ["model", "features", "WA [95 % CI]", "UAR [95 % CI]", "macro-F1", "Δ UAR vs best [95 % CI]"]
    return pd.DataFrame(rows, columns=[*columns, "leaky"])


def _results_notes(outputs_dir: Path) -> list[str]:
    """Sentences under the README's table, every number read from the run's files: how much the leaky split
    flatters, what transductive speaker normalisation reaches, and how long each notebook ran."""
    results = _one_row_per_view(outputs_dir / RESULTS_FILE)
    pooled = results[results["fold"] == "pooled"].set_index(["protocol", "model", "features"])
    honest_protocols = sorted({p for p in results["protocol"] if p.startswith(HONEST_PREFIX)})
    notes = []
    leaky = pooled.xs(LEAKY_PROTOCOL, level="protocol") if LEAKY_PROTOCOL in pooled.index.get_level_values(0) else None
    if leaky is not None and honest_protocols:
        honest = pooled.xs(honest_protocols[0], level="protocol")
        gaps = [100 * (row.wa - honest.loc[key, "wa"]) for key, row in leaky.iterrows() if key in honest.index]
        if gaps:
            notes.append(
                f"The leaky random split flatters the seeds' models by {min(gaps):.1f}–{max(gaps):.1f} points of WA."
            )
    transductive = results[results["features"].isin(TRANSDUCTIVE) & results["fold"].eq("pooled")]
    if len(transductive):
        best = transductive.sort_values("uar", ascending=False).iloc[0]
        notes.append(
            f"Transductive speaker normalisation (z-scoring each speaker's features with that speaker's own "
            f"unlabelled clips) lifts {_name(MODEL_NAMES, best['model'])} to {_pct(best['wa'])} WA / "
            f"{_pct(best['uar'])} UAR; it needs several clips of a new speaker before predicting, so it is a "
            "research row and no deployable model is built from it."
        )
    enrolled = _best_enrolled(outputs_dir / RESULTS_FILE, max_clips=16)
    if enrolled is not None:
        notes.append(
            f"Adapted to each voice from at most 16 unlabelled clips of it (`predict --enrol`; those clips left out "
            f"of scoring), {_name(MODEL_NAMES, enrolled['model'])} reaches {_pct(enrolled['wa'])} WA / "
            f"{_pct(enrolled['uar'])} UAR with {enrolled['adaptation'].removeprefix(ENROL_PREFIX)} clips "
            "(notebooks 03 and 06 draw the curve against k)."
        )
        draws_path = outputs_dir / "06_enrolment_draws.csv"
        if draws_path.is_file():
            draws = pd.read_csv(draws_path)
            spread = draws[draws["n_clips"].eq(int(enrolled["adaptation"].removeprefix(ENROL_PREFIX)))]["uar"]
            if len(spread):
                notes.append(
                    f"That score is one random draw of enrolment clips; over {len(spread)} draws, the members' pool "
                    f"alone (no speaker-adaptive model) scores {_pct(spread.mean())} UAR on average "
                    f"({_pct(spread.min())} to {_pct(spread.max())}; `06_enrolment_draws.csv`)."
                )
    notes += _robustness_notes(outputs_dir / ROBUSTNESS_FILE)
    durations_path = outputs_dir / "durations.csv"
    if durations_path.is_file():
        durations = pd.read_csv(durations_path).dropna(subset=["seconds"])
        listed = ", ".join(f"{row.notebook} {row.seconds:.0f} s" for row in durations.itertuples())
        notes.append(f"Durations of the {durations['profile'].iloc[0]} profile on this run's machine: {listed}.")
    return notes


def _robustness_notes(check_path: Path) -> list[str]:
    """From notebook 07's deployment check: the share of unchanged labels of each model of ``ROBUSTNESS_MODELS`` at
    20 dB white noise and babble and through the phone chain, and which models meet the deployment bar."""
    if not check_path.is_file():
        return []
    check = pd.read_csv(check_path).set_index("model")
    kept = [
        f"{_name(MODEL_NAMES, model)} keeps {_unchanged_shares(row)} of its labels (clean UAR {_pct(row['clean_uar'])})"
        for model, row in check.iterrows()
        if model in ROBUSTNESS_MODELS
    ]
    notes = []
    if kept:
        intro = f"Through 20 dB white noise, 20 dB babble and a GSM phone chain (notebook 07, `{check_path.name}`), "
        notes.append(intro + " and ".join(kept) + ".")
    meeting = check.index[check["meets"].astype(bool)]
    (_, noise_unchanged), phone_unchanged = SER_TESTS_THRESHOLDS[DEPLOYMENT_NOISE[0]], DEPLOYMENT_MIN_PHONE_UNCHANGED
    notes.append(
        f"The deployment bar asks for {noise_unchanged:.0%} / {noise_unchanged:.0%} / {phone_unchanged:.0%} "
        f"with a clean UAR within {100 * DEPLOYMENT_MAX_CLEAN_GAP:.0f} points of the best: "
        + (
            ", ".join(_name(MODEL_NAMES, model) for model in meeting)
            + (" meets it." if len(meeting) == 1 else " meet it.")
            if len(meeting)
            else "no model meets it yet."
        )
    )
    return notes + _holdout_notes(check_path.with_name(HOLDOUT_FILE), check=check)


def _holdout_notes(holdout_path: Path, *, check: pd.DataFrame) -> list[str]:
    """The ``ROBUSTNESS_MODELS`` rows of the holdout check, for the models it shares with ``check`` (indexed by model)
    at the same clean UAR (the same saved models; a holdout of older models says nothing)."""
    if not holdout_path.is_file():
        return []
    holdout = pd.read_csv(holdout_path).set_index("model")
    kept = [
        f"{_name(MODEL_NAMES, model)} keeps {_unchanged_shares(row)} ({'meets' if row['meets'] else 'misses'} the bar)"
        for model, row in holdout.iterrows()
        if model in ROBUSTNESS_MODELS and model in check.index and row["clean_uar"] == check.loc[model, "clean_uar"]
    ]
    if not kept:
        return []
    n_clips = int(holdout.loc[[model for model in ROBUSTNESS_MODELS if model in holdout.index], "n"].min())
    return [
        f"On {n_clips} other held-out clips, outside those the span pool's recipe was chosen on "
        f"(`scripts/holdout_check.py`, `{holdout_path.name}`), " + " and ".join(kept) + "."
    ]


def _unchanged_shares(row: pd.Series) -> str:
    """A deployment-check row's unchanged labels at 20 dB white noise / 20 dB babble / the phone chain, in percent."""
    (white, babble), phone = (f"{c}_{s}_unchanged" for c, s in DEPLOYMENT_NOISE), "_".join(DEPLOYMENT_PHONE)
    return f"{_pct(row[white])} / {_pct(row[babble])} / {_pct(row[f'{phone}_unchanged'])} %"


def _best_enrolled(results_path: Path, *, max_clips: int) -> pd.Series | None:
    """The pooled honest ``enrol-<k>`` row (k ≤ ``max_clips``) with the best UAR, or None when there is none."""
    results = read_results(results_path)
    suffix = results["adaptation"].str.removeprefix(ENROL_PREFIX)
    enrolled = results[
        results["adaptation"].str.startswith(ENROL_PREFIX)
        & results["fold"].eq("pooled")
        & results["protocol"].str.startswith(HONEST_PREFIX)
        & pd.to_numeric(suffix, errors="coerce").le(max_clips)
    ]
    return enrolled.sort_values("uar").iloc[-1] if len(enrolled) else None


def _one_row_per_view(results_path: Path) -> pd.DataFrame:
    """``results.csv`` without the enrolment-adapted rows (``enrol-<k>``, and a speaker-adaptive model's
    ``transductive`` row): what is left holds one set of rows per (protocol, model, features), as notebook 06
    compares them; the enrolment curve is notebook 03's."""
    results = read_results(results_path)
    inherent = results["features"].map(adaptation_of)  # what the view itself implies (speaker-normalised: transductive)
    return results[results["adaptation"].eq(NO_ADAPTATION) | results["adaptation"].eq(inherent)]


def _leaky_rows(results_path: Path) -> pd.DataFrame:
    results = _one_row_per_view(results_path)
    return results[(results["protocol"] == LEAKY_PROTOCOL) & (results["fold"] == "pooled")]


def _order_like(leaky: pd.DataFrame, honest_models) -> pd.DataFrame:
    """LEAKY rows in the order of their honest counterparts (models without one last, by UAR)."""
    rank = {model: index for index, model in enumerate(honest_models)}
    order = leaky.assign(_rank=leaky["model"].map(rank).fillna(len(rank)), _uar=-leaky.get("uar", 0))
    return order.sort_values(["_rank", "_uar"], kind="stable").drop(columns=["_rank", "_uar"])


def _labels(row) -> dict:
    return {"model": _name(MODEL_NAMES, row.model), "features": _feature_name(row.features), "leaky": True}


def _name(names: dict, key: str) -> str:
    return names.get(key, key)


def _feature_name(key: str) -> str:
    """The display name of feature label ``key``; a view over the speech span ("<view>-trim<dB>", optionally
    "-floor<dB>" and "-<codec>": ``augmentation.span_features``) is named after its view."""
    span = SPAN_VIEW.fullmatch(key)
    if key in FEATURE_NAMES or span is None:
        return FEATURE_NAMES.get(key, key)
    phone = f" of the clip through the {span['phone'].upper()} phone chain" if span["phone"] else ""
    name = f"{_feature_name(span['view'])}, speech span{phone} (edges {span['trim']} dB below the peak trimmed"
    return name + (f", white noise floor {span['floor']} dB below it)" if span["floor"] else ")")


def _pct(value: float, *, sign: bool = False) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    text = f"{100 * value:+.1f}" if sign else f"{100 * value:.1f}"
    return text.replace("-", "−")


def _title(notebook, *, default: str) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            return cell.source.strip().splitlines()[0].lstrip("# ")
    return default


def _headline_section(outputs_dir: Path, *, root: Path) -> str:
    try:
        table, source = headline_table(outputs_dir)
    except ValueError:
        return "<h2>Results</h2><p>No model has been recorded yet (run notebooks 03–06).</p>"
    columns = [column for column in table.columns if column != "leaky"]
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = "".join(
        f"<tr{' class=leaky' if row['leaky'] else ''}>"
        + "".join(f"<td>{html.escape(str(row[column]))}</td>" for column in columns)
        + "</tr>"
        for _, row in table.assign(model=table["model"].where(~table["leaky"], table["model"] + " (LEAKY)")).iterrows()
    )
    return (
        f"<h2>Results on unseen speakers</h2><p class='meta'>From <code>{os.path.relpath(source, root)}</code>; "
        "scores in percent; LEAKY rows share speakers between train and test and are shown only for contrast."
        f"</p><table><tr>{head}</tr>{body}</table>"
    )


def _charts_section(charts_dir: Path, *, report_dir: Path) -> str:
    charts = sorted(charts_dir.glob("06_*.png")) + [
        charts_dir / f"{name}.png" for name in KEY_CHARTS if (charts_dir / f"{name}.png").is_file()
    ]
    if not charts:
        return ""
    figures = "".join(
        f"<figure><img src='{html.escape(os.path.relpath(chart, report_dir))}' alt='{chart.stem}'>"
        f"<figcaption>{chart.stem}</figcaption></figure>"
        for chart in charts
    )
    return f"<h2>Key charts</h2>{figures}"


def _data_section(outputs_dir: Path) -> str:
    path = outputs_dir / "dataset_distribution.csv"
    if not path.is_file():
        return "<h2>Data</h2><p>No dataset summary recorded (notebook 01 writes it).</p>"
    table = pd.read_csv(path)
    columns = [column for column in DATA_COLUMNS if column in table]
    head = "".join(f"<th>{column.replace('_', ' ')}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row[column]))}</td>" for column in columns) + "</tr>"
        for _, row in table.iterrows()
    )
    return f"<h2>Data</h2><table><tr>{head}</tr>{body}</table>"


def _notebooks_section(links: list[tuple[str, str]], durations: pd.DataFrame) -> str:
    seconds = dict(zip(durations["notebook"], durations["seconds"], strict=True))
    items = "".join(
        f"<li><a href='{stem}.html'>{html.escape(title)}</a> · "
        f"{'n/a' if math.isnan(seconds[stem]) else f'{seconds[stem]:.0f} s'}</li>"
        for stem, title in links
    )
    total = durations["seconds"].sum()
    return f"<h2>Notebooks</h2><p class='meta'>{total:.0f} s in all (papermill's durations)</p><ol>{items}</ol>"
