"""Notebook contracts: each notebook, executed by papermill on the synthetic demo corpus with tiny parameters,
writes its charts and tables, and the numbers in them are sane (scores in [0, 1], counts that add up, saved
models whose cards agree with ``results.csv``).

The notebooks run once, in order, into a temporary folder; every expected file must be (re)written by that
run, so a notebook that silently skips a chart fails here even when an older copy exists.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import papermill
import pytest

from ser_utils.data.demo_corpus import generate_demo_corpus
from ser_utils.data.manifest import usable_rows
from ser_utils.evaluation import experiment
from ser_utils.pipeline.runner import notebook_order
from ser_utils.pipeline.workspace import open_workspace, project_root

ROOT = project_root(Path(__file__))
TINY = {"MAX_CLIPS": 48, "N_FOLDS": 2, "SEED": 0}
PARAMETERS = {
    "01_eda": {"N_AUDIO_PLAYERS": 1},
    "02_features": {"MAX_CLIPS": 48, "CV_FOLDS": 2, "TSNE_PERPLEXITY": 5.0},
    "03_baselines_dense": {**TINY, "EPOCHS": 1},
    "04_cnn_lstm": {**TINY, "EPOCHS": 1},
    "05_yamnet_transfer": {**TINY, "MLP_EPOCHS": 1, "WARMUP_EPOCHS": 1, "FINETUNE_EPOCHS": 1, "N_PATCHES": 2},
    "06_evaluation": {"N_RESAMPLES": 100, "SEED": 0},
    "07_robustness": {"SUBSET_FRACTION": 0.1, "AUGMENT_FRACTION": 0.2, "SEED": 0},
    "08_inference": {"N_CLIPS": 4, "N_AUDIO_PLAYERS": 1, "LATENCY_REPEATS": 1, "SEED": 0},
}
SCORES = ["wa", "uar", "macro_f1"]


@pytest.fixture(scope="module")
def run():
    """Execute every numbered notebook once; returns (workspace, start time, {stem: error or None})."""
    demo_dir = generate_demo_corpus(ROOT / "artifacts" / "demo_corpus", n_speakers=8)  # what a run without data uses
    ws = open_workspace(demo_dir, root=ROOT)
    assert ws.is_demo and ws.run_name == "demo"
    started = time.time() - 1
    errors = {}
    out_dir = ROOT / "artifacts" / "contract_runs"
    out_dir.mkdir(parents=True, exist_ok=True)
    for notebook in notebook_order(ROOT):
        try:
            papermill.execute_notebook(
                notebook,
                out_dir / notebook.name,
                parameters={**PARAMETERS.get(notebook.stem, {}), "DATA_DIR": str(ws.data_dir)},
                cwd=notebook.parent,
                progress_bar=False,
                kernel_name="python3",
            )
            errors[notebook.stem] = None
        except papermill.PapermillExecutionError as error:
            errors[notebook.stem] = f"{error.ename}: {error.evalue}"
    return ws, started, errors


def fresh(path: Path, started: float) -> Path:
    assert path.is_file(), f"{path.relative_to(ROOT)} was not written"
    assert path.stat().st_mtime >= started, f"{path.relative_to(ROOT)} is left over from an earlier run"
    return path


def table(ws, name: str, started: float) -> pd.DataFrame:
    path = fresh(ws.outputs_dir / f"{name}.csv", started)
    meta = json.loads(fresh(ws.outputs_dir / f"{name}.meta.json", started).read_text())
    assert meta["git_commit"] and meta["versions"], f"{name}.meta.json lacks provenance"
    assert "/" + ROOT.parts[1] + "/" not in json.dumps(meta), f"{name}.meta.json records an absolute path"
    frame = pd.read_csv(path)
    assert len(frame), f"{name}.csv is empty"
    return frame


def charts(ws, stem: str, started: float, count: int) -> None:
    written = sorted(p.name for p in ws.charts_dir.glob(f"{stem[:2]}_*.png") if p.stat().st_mtime >= started)
    assert len(written) == count, f"{stem} wrote charts {written}, expected {count}"
    assert all(p.stat().st_size > 10_000 for p in ws.charts_dir.glob(f"{stem[:2]}_*.png")), "a chart is blank"


def results_rows(ws, started: float, model: str, features: str) -> pd.DataFrame:
    results = pd.read_csv(fresh(ws.outputs_dir / "results.csv", started), dtype={"fold": str})
    rows = results[
        results["model"].eq(model) & results["features"].eq(features) & results["protocol"].eq("speaker-2fold")
    ]
    assert len(rows), f"results.csv has no speaker-2fold rows for {model} on {features}"
    assert rows[SCORES].stack().between(0, 1).all()
    assert set(rows["fold"]) >= {"fold1", "fold2", "pooled", "mean", "std"}
    return rows


def card_matches_results(model_dir: Path, rows: pd.DataFrame, started: float) -> None:
    card = json.loads(fresh(model_dir / "model_card.json", started).read_text())
    pooled = rows.set_index("fold").loc["pooled"]
    for metric in SCORES:
        assert card["metrics"]["pooled"][metric] == pytest.approx(pooled[metric]), metric
    assert (model_dir / card["model_file"]).is_file()


def check_ran(run, stem: str):
    ws, started, errors = run
    if errors.get(stem):
        pytest.fail(f"{stem} failed: {errors[stem]}")
    return ws, started


def test_01_eda_counts_add_up(run):
    ws, started = check_ran(run, "01_eda")
    charts(ws, "01_eda", started, 5)
    emotions = table(ws, "emotion_distribution", started)
    datasets = table(ws, "dataset_distribution", started)
    assert emotions["total"].sum() == datasets["clips"].sum() == len(ws.manifest(n_jobs=2))
    assert emotions["share"].sum() == pytest.approx(1.0, abs=0.01)
    confounds = table(ws, "label_confounds", started)["cramers_v"].dropna()  # undefined for one corpus
    assert len(confounds) and confounds.between(0, 1).all()
    for name in ("speaker_distribution", "format_distribution"):
        table(ws, name, started)


def test_02_features_cover_the_clips_and_score_sanely(run):
    ws, started = check_ran(run, "02_features")
    charts(ws, "02_features", started, 6)
    sets = table(ws, "features_sets", started)
    assert set(sets["feature_set"]) >= {"handcrafted", "egemaps", "logmel"}
    assert (sets["clips"] + sets["failed"]).eq(PARAMETERS["02_features"]["MAX_CLIPS"]).all()
    speaker = table(ws, "features_speaker_vs_emotion", started)
    assert speaker[["wa", "uar", "chance"]].stack().between(0, 1).all()
    assert table(ws, "features_mutual_information", started).shape[0] > 10
    variants = table(ws, "features_tonnetz_variants", started)
    assert variants["uar_mean"].between(0, 1).all()


def test_03_models_are_scored_saved_and_labelled(run):
    ws, started = check_ran(run, "03_baselines_dense")
    charts(ws, "03_baselines_dense", started, 6)
    comparison = table(ws, "03_model_comparison", started)
    assert comparison[["wa_pooled", "uar_pooled", "macro_f1_pooled"]].stack().between(0, 1).all()
    leaky = comparison["protocol"].eq("random-leaky")
    assert leaky.sum() == 2 and leaky.iloc[-2:].all(), "leaky rows are labelled and listed after honest ones"
    per_class = table(ws, "03_per_class", started)
    assert per_class[["precision", "recall", "f1"]].stack().between(0, 1).all()
    rates = table(ws, "03_confusion_normalised_best", started).set_index("true")
    assert rates.sum(axis=1).to_numpy() == pytest.approx(1.0)
    for model in ("svm", "logistic_regression", "random_forest", "gradient_boosting", "mlp_tuned"):
        card_matches_results(
            ws.artifacts_dir / f"{model}__handcrafted+egemaps",
            results_rows(ws, started, model, "handcrafted+egemaps"),
            started,
        )
    curve = table(ws, "03_adaptation_curve", started)
    assert set(curve["model"]) == {"logistic_regression", "mlp_tuned"} and curve["uar"].between(0, 1).all()
    adaptive = results_rows(ws, started, "logistic_regression", "speaker-adaptive")
    assert {"none", "enrol-1", "transductive"} <= set(adaptive["adaptation"])
    card = json.loads((ws.artifacts_dir / "logistic_regression__speaker-adaptive" / "model_card.json").read_text())
    assert card["adaptation"]["method"] == "speaker-mean-shrinkage"
    assert len(card["adaptation"]["prior_mean"]) == len(card["input"]["columns"])


def test_04_cnn_lstm_is_scored_and_saved(run):
    ws, started = check_ran(run, "04_cnn_lstm")
    charts(ws, "04_cnn_lstm", started, 4)
    epochs = table(ws, "cnn_lstm_epochs", started)
    assert epochs["epochs"].eq(PARAMETERS["04_cnn_lstm"]["EPOCHS"]).all()
    assert table(ws, "cnn_lstm_per_class", started)["recall"].between(0, 1).all()
    card_matches_results(ws.artifacts_dir / "cnn_lstm", results_rows(ws, started, "cnn_lstm", "logmel"), started)


def test_05_yamnet_models_are_scored_and_saved(run):
    ws, started = check_ran(run, "05_yamnet_transfer")
    charts(ws, "05_yamnet_transfer", started, 5)
    comparison = table(ws, "05_model_comparison", started)
    assert comparison[["wa", "uar", "macro_f1"]].stack().between(0, 1).all()
    assert table(ws, "05_audioset_classes", started).shape[0] > 0
    for model, features in [
        ("yamnet_frozen_logreg", "yamnet-embeddings"),
        ("yamnet_frozen_mlp", "yamnet-embeddings"),
        ("yamnet_finetuned", "yamnet-waveform"),
    ]:
        card_matches_results(ws.artifacts_dir / model, results_rows(ws, started, model, features), started)


def test_06_every_model_gets_intervals_calibration_and_fairness(run):
    ws, started = check_ran(run, "06_evaluation")
    charts(ws, "06_evaluation", started, 7)  # 06_07 (cross-corpus) needs two corpora; the demo has one
    headline = table(ws, "06_model_comparison", started)
    assert len(headline) >= 15 and headline["n"].nunique() == 1, "every honest model, scored on the same clips"
    for metric in SCORES:
        assert (headline[f"{metric}_ci_low"] <= headline[metric] + 1e-9).all()
        assert (headline[metric] <= headline[f"{metric}_ci_high"] + 1e-9).all()
    reference = headline[headline["mcnemar_p_vs_best"].isna()]
    assert len(reference) == 1 and reference["delta_uar_vs_best"].iloc[0] == 0 and reference["deployable"].iloc[0]
    assert reference["uar"].iloc[0] == headline.loc[headline["deployable"], "uar"].max(), "the best deployed model"
    assert set(headline["adaptation"]) == {"none", "transductive"}
    calibration = table(ws, "06_calibration", started)
    assert calibration[["ece_before", "ece_after"]].stack().between(0, 1).all() and (calibration["nll_after"] > 0).all()
    assert table(ws, "06_fairness", started)["group"].isin(["female", "male"]).all()
    assert table(ws, "06_per_class", started)["f1"].between(0, 1).all()
    assert set(table(ws, "06_errors_by_dimension", started)["dimension"]) == {"arousal", "valence"}
    assert set(table(ws, "06_scores_by_condition", started)["condition"]) == {"intensity", "statement"}
    deployed = table(ws, "06_deployed_temperatures", started)
    assert (deployed["temperature"] > 0).all() and len(deployed) >= 5
    card = json.loads((ws.artifacts_dir / "logistic_regression__handcrafted+egemaps" / "model_card.json").read_text())
    by_folder = deployed.set_index(deployed["model_dir"].map(lambda path: Path(path).name))["temperature"]
    assert card["calibration"]["temperature"] == pytest.approx(by_folder["logistic_regression__handcrafted+egemaps"])
    weights = table(ws, "06_ensemble_weights", started).set_index("fold")
    assert list(weights.index) == ["fold1", "fold2", "all"] and (weights >= 0).all().all()
    assert (weights.sum(axis=1) > 0).all(), "each fold's pool has a member"
    ensemble_rows = results_rows(ws, started, "ensemble", "families")
    pooled = ensemble_rows[ensemble_rows["fold"].eq("pooled")].set_index("adaptation")
    assert pooled.loc["none", "uar"] > 1 / 8  # the demo's chance level
    curve = table(ws, "06_adaptation_curve", started)
    adapted = curve[curve["model"].eq("ensemble") & curve["adaptation"].str.startswith("enrol-")]
    assert len(adapted) >= 1 and set(adapted["adaptation"]) <= set(pooled.index), "each enrolment size is recorded"
    assert (adapted["n"] < pooled.loc["none", "n_test"]).all(), "enrolment clips are left out of scoring"
    ensemble = json.loads((ws.artifacts_dir / "ensemble" / "model_card.json").read_text())
    members = {entry["model_dir"]: entry["weight"] for entry in ensemble["members"]}
    assert ensemble["family"] == "ensemble" and members == {
        folder: weight for folder, weight in members.items() if weight > 0
    }
    assert all((ws.artifacts_dir / "ensemble" / folder / "model_card.json").is_file() for folder in members)
    for fold, entries in ensemble["fold_members"].items():  # each fold's ensemble, as scored: 07 re-assembles them
        assert sorted(entry["weight"] for entry in entries) == pytest.approx(sorted(weights.loc[fold][lambda w: w > 0]))
    assert "ensemble" in set(deployed["name"]), "the ensemble is calibrated like any deployable model"
    pool = ensemble["enrolled_pool"]  # members raw + normalised and notebook 03's adaptive models, per k
    assert {f"enrol-{k}" for k in pool["weights"]} == set(adapted["adaptation"]), "predict --enrol has every k scored"
    assert all((ws.artifacts_dir / "ensemble" / folder / "model_card.json").is_file() for folder in pool["members"])
    assert [Path(folder).name for folder in pool["adaptive_members"]] == [
        "logistic_regression__speaker-adaptive",
        "mlp_tuned__speaker-adaptive",
    ]
    for views in pool["weights"].values():
        assert [len(views[view]) for view in ("raw", "normalised", "adaptive")] == [len(pool["members"])] * 2 + [2]
        assert min(min(weights) for weights in views.values()) >= 0
    weights_by_k = table(ws, "06_enrolment_weights", started)
    assert set(weights_by_k["adaptation"]) == set(adapted["adaptation"]) | {"transductive"}
    assert set(weights_by_k["fold"]) == {"fold1", "fold2", "all"}
    draws = table(ws, "06_enrolment_draws", started)  # the members' pool, repeated over enrolment draws
    assert draws.groupby("n_clips")["seed"].nunique().eq(3).all(), "the quick profile's ENROL_DRAWS"
    assert set(f"enrol-{k}" for k in draws["n_clips"]) == set(adapted["adaptation"])
    assert draws[["wa", "uar"]].stack().between(0, 1).all() and (draws["n"] < pooled.loc["none", "n_test"]).all()
    stress = table(ws, "06_enrolment_stress", started)  # each voice enrolled on its clips of one emotion
    assert stress["enrolled_on"].nunique() == 8 and (stress["n"] < pooled.loc["none", "n_test"]).all()  # demo: 8
    assert stress[["uar", "labelled_as_it", "labelled_as_it_unadapted"]].stack().between(0, 1).all()


def test_07_robustness_scores_every_condition_and_the_augmented_model(run):
    ws, started = check_ran(run, "07_robustness")
    charts(ws, "07_robustness", started, 3)
    scores = table(ws, "07_robustness", started)
    assert set(scores["condition"]) == {"clean", "white_noise", "telephone"}
    assert {"logistic_regression", "logistic_regression_augmented"} <= set(scores["model"])
    assert scores[["wa", "uar", "unchanged"]].stack().between(0, 1).all() and (scores["n"] > 0).all()
    clean = scores[scores["condition"].eq("clean")]
    assert (clean["delta_uar"] == 0).all() and (clean["unchanged"] == 1).all(), "clean is the reference"
    corrupted = scores[scores["condition"].ne("clean")].set_index(["model", "features", "condition"])
    reference = clean.set_index(["model", "features"])["uar"]
    for (model, features, _), row in corrupted.iterrows():
        assert row["delta_uar"] == pytest.approx(row["uar"] - reference[model, features])
    assert table(ws, "07_thresholds", started)["passes"].isin([True, False]).all()
    check = table(ws, "07_deployment_check", started)
    assert check["clean_gap"].min() == 0 and check["meets"].isin([True, False]).all()
    augmented_dir = ws.artifacts_dir / "logistic_regression_augmented__handcrafted+egemaps"
    rows = results_rows(ws, started, "logistic_regression_augmented", "handcrafted+egemaps")
    card_matches_results(augmented_dir, rows, started)
    card = json.loads((augmented_dir / "model_card.json").read_text())
    assert card["training"]["augmentation"]["recipe"] and card["input"]["kind"] == "features"
    plain = results_rows(ws, started, "logistic_regression", "handcrafted+egemaps")
    assert rows.set_index("fold").loc["pooled", "n_test"] == plain.set_index("fold").loc["pooled", "n_test"]
    member_dir = ws.artifacts_dir / "logistic_regression_augmented__handcrafted+egemaps-trim20-floor20-gsm"
    member = json.loads(fresh(member_dir / "model_card.json", started).read_text())
    configs = member["input"]["configs"].values()
    view = [(config["trim_db"], config["noise_floor_db"], config["phone_codec"]) for config in configs]
    assert view == [(20.0, 20.0, "gsm")] * 2, "predict hears every clip through the member's phone chain"
    pool_dir = ws.artifacts_dir / "span_pool"
    pool = json.loads(fresh(pool_dir / "model_card.json", started).read_text())
    pooled = results_rows(ws, started, "span_pool", "speech-spans").set_index("fold").loc["pooled"]
    assert pool["metrics"]["pooled"]["uar"] == pytest.approx(pooled["uar"]) and pool["input"]["kind"] == "ensemble"
    assert set(pool["fold_members"]) == {"fold1", "fold2"} and all(entry["weight"] > 0 for entry in pool["members"])
    weights = table(ws, "07_span_pool_weights", started).set_index("fold")
    assert list(weights.columns) == [  # quick: one family through the phone, the CNN-LSTM as recorded and through it
        "logistic_regression_augmented · handcrafted+egemaps-trim20-floor20-gsm",
        "cnn_lstm_augmented · logmel-trim20-floor20",
        "cnn_lstm_augmented · logmel-trim20-floor20-gsm",
    ]
    assert set(weights.index) == {"fold1", "fold2", "all"} and (weights.to_numpy() >= 0).all()
    for suffix, codec in (("", None), ("-gsm", "gsm")):
        cnn_dir = ws.artifacts_dir / f"cnn_lstm_augmented__logmel-trim20-floor20{suffix}"
        cnn = json.loads(fresh(cnn_dir / "model_card.json", started).read_text())
        logmel = cnn["input"]["configs"]["logmel"]
        assert (logmel["trim_db"], logmel["noise_floor_db"], logmel["phone_codec"]) == (20.0, 20.0, codec)
        assert cnn["family"] == "keras"
    assert "span_pool" in set(check["model"]) and "span_pool" in set(scores["model"])


def test_holdout_check_scores_both_pools_on_as_many_other_clips(run):
    ws, started = check_ran(run, "07_robustness")
    script = ROOT / "scripts" / "holdout_check.py"
    command = [sys.executable, str(script), "--data", str(ws.data_dir), "--jobs", "1"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    check = table(ws, "07_holdout_check", started).set_index(["model", "features"])
    scores = table(ws, "07_robustness", started)
    n_first = scores.loc[scores["model"].eq("span_pool") & scores["condition"].eq("clean"), "n"].item()
    for pool in (("ensemble", "families"), ("span_pool", "speech-spans")):  # quick 07 scores only the span pool
        assert check.loc[pool, "n"] == n_first  # as many clips per speaker, other ones
        assert check.loc[pool, ["white_noise_20.0_unchanged", "telephone_gsm_unchanged"]].between(0, 1).all()
    assert f"none of the {n_first} the recipe was chosen on" in done.stdout
    rest = subprocess.run([*command, "--chosen-on", "0", "1", "--rest"], capture_output=True, text=True)
    assert rest.returncode == 0, rest.stderr[-2000:]
    n_rest = (
        table(ws, "07_holdout_check", started).set_index(["model", "features"]).loc[("span_pool", "speech-spans"), "n"]
    )
    evaluated, _, folds = experiment.saved_folds(ws.outputs_dir, usable_rows(ws.manifest(n_jobs=1)), corpora=None)
    n_tested = evaluated["speaker"].isin({speaker for fold in folds for speaker in fold.test_speakers}).sum()
    assert n_rest == n_tested - 2 * n_first, "--rest: every held-out clip the two chosen-on subsets left"


def test_08_inference_draws_a_timeline_against_the_truth_and_times_the_model(run):
    ws, started = check_ran(run, "08_inference")
    charts(ws, "08_inference", started, 1)  # 08_02_your_file only when YOUR_FILE is given
    truth = table(ws, "08_timeline_truth", started)
    clips, pauses = truth[truth["kind"].eq("clip")], truth[truth["kind"].eq("pause")]
    assert len(clips) == 4 and len(pauses) == 5 and truth["agrees"].isin([True, False]).all()
    assert (clips["end"] > clips["start"]).all() and clips["truth"].notna().all()
    segments = table(ws, "08_timeline_segments", started)
    assert segments["confidence"].between(0, 1).all() and (segments["end"] > segments["start"]).all()
    latency = table(ws, "08_latency", started)
    assert (latency[["latency_ms", "model_ms", "timeline_rtf"]] > 0).all().all()
    assert (latency["latency_ms"] >= latency["model_ms"]).all()
