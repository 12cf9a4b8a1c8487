"""Notebook 07's deployment bar, measured again on held-out clips that no choice was made on.

The span pool's recipe (edge trim, noise floor, phone view, member families) was chosen while looking at
subsets of the held-out clips: notebook 07's robustness subset (``SUBSET_FRACTION`` of each test speaker's clips,
drawn with ``SEED``) and any further subsets named with ``--chosen-on`` (each drawn, the same size, from the clips
the earlier ones left). This script scores other clips: one more subset of that size (``--seed``), or with
``--rest`` every held-out clip the chosen-on subsets left. It corrupts them with the bar's conditions (white noise
and babble at 20 dB SNR, the GSM phone chain), scores the fold models of the saved pools (the ensemble of notebook
06 and the span pool), pools each fold with that fold's weights, and writes ``outputs/<run>/07_holdout_check.csv``
with ``robustness.deployment_check``'s columns (clean UAR from ``results.csv``: every held-out clip, as in
notebook 07).

Usage, after the notebooks have run (the arguments mirror notebook 07's parameters):
    .venv/bin/python scripts/holdout_check.py --data ../shared/data --corpora ravdess [--chosen-on 0 1] [--rest]
"""

# ruff: noqa: E402 (the console is quieted before the imports below load TensorFlow)
import argparse

from ser_utils.io.console import quiet_libraries

quiet_libraries()  # TensorFlow reads its log level once, when the evaluation modules below import it

import pandas as pd

from ser_utils.audio.loading import SAMPLE_RATE
from ser_utils.data.manifest import usable_rows
from ser_utils.evaluation import experiment, robustness
from ser_utils.evaluation.augmentation import SPAN_POOL, SPAN_POOL_FEATURES
from ser_utils.evaluation.fusion import ENSEMBLE, ENSEMBLE_FEATURES
from ser_utils.evaluation.results import pooled_scores, read_results
from ser_utils.io.provenance import run_info, write_table
from ser_utils.models.persistence import CARD_FILE, read_card
from ser_utils.pipeline.workspace import open_workspace

BAR_CONDITIONS = (("white_noise", 20.0), ("babble", 20.0), ("telephone", "gsm"))
POOLS = ((ENSEMBLE, ENSEMBLE_FEATURES), (SPAN_POOL, SPAN_POOL_FEATURES))


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="corpora folder (default: $SER_DATA_DIR, else data/, else demo)")
    parser.add_argument("--corpora", nargs="*", default=None, help="the corpora notebooks 03-07 evaluated")
    parser.add_argument("--fraction", type=float, default=0.1, help="notebook 07's SUBSET_FRACTION")
    parser.add_argument(
        "--chosen-on", type=int, nargs="+", default=[0], help="seeds of the subsets left out, notebook 07's SEED first"
    )
    parser.add_argument("--rest", action="store_true", help="score every held-out clip those subsets left")
    parser.add_argument("--seed", type=int, default=1, help="draws the scored subset and its corruptions")
    parser.add_argument("--jobs", type=int, default=2, help="processes corrupting audio and extracting features")
    args = parser.parse_args(argv)

    ws = open_workspace(args.data)
    manifest = usable_rows(ws.manifest(n_jobs=args.jobs))
    corpora = tuple(args.corpora) if args.corpora else None
    evaluated, corpora_label, folds = experiment.saved_folds(ws.outputs_dir, manifest, corpora=corpora)
    classes = experiment.class_list(evaluated)
    chosen_on = []
    for seed in args.chosen_on:
        chosen_on += list(
            robustness.evaluation_subset(evaluated, folds, fraction=args.fraction, seed=seed, exclude=chosen_on)["path"]
        )
    subset = robustness.evaluation_subset(
        evaluated, folds, fraction=None if args.rest else args.fraction, seed=args.seed, exclude=chosen_on
    )
    paths_by_condition = robustness.corrupt_subset(
        subset,
        manifest=evaluated,
        folds=folds,
        conditions=list(BAR_CONDITIONS),
        audio_dir=ws.cache_dir / "corrupted",
        sr=SAMPLE_RATE,
        seed=args.seed,
        n_jobs=args.jobs,
    )
    pools = [(name, features) for name, features in POOLS if (ws.artifacts_dir / name / CARD_FILE).is_file()]
    if not pools:
        raise SystemExit(f"no saved pool in {ws.artifacts_dir}; run notebooks 06 and 07 first")
    member_dirs = {
        (ws.artifacts_dir / name / member["model_dir"]).resolve()
        for name, _ in pools
        for members in read_card(ws.artifacts_dir / name)["fold_members"].values()
        for member in members
    }
    fold_models = [
        fold_model
        for fold_model in robustness.fold_models(ws.artifacts_dir)
        if fold_model.model_dir.parents[1].resolve() in member_dirs  # <member folder>/folds/<fold>
    ]
    predictions = robustness.score_robustness(
        subset,
        models=fold_models,
        paths_by_condition=paths_by_condition,
        classes=classes,
        cache_dir=ws.cache_dir,
        n_jobs=args.jobs,
    )
    pooled = [
        robustness.ensemble_predictions(
            predictions,
            models=fold_models,
            ensemble_dir=ws.artifacts_dir / name,
            classes=classes,
            name=name,
            features=features,
        )
        for name, features in pools
    ]
    table = robustness.robustness_table(pd.concat([predictions, *pooled], ignore_index=True), classes=classes)
    results = read_results(ws.outputs_dir / "results.csv")
    clean = pooled_scores(results, protocol=experiment.protocol_name(folds), corpora=corpora_label)
    check = robustness.deployment_check(table, clean)
    clips_scored = table.groupby(["model", "features"])["n"].min()  # clips labelled under every condition
    check.insert(2, "n", [clips_scored[key] for key in zip(check["model"], check["features"], strict=True)])
    info = run_info(vars(args), data_label=ws.data_label, root=ws.root)
    write_table(check, "07_holdout_check", outputs_dir=ws.outputs_dir, info=info)
    print(f"{len(subset)} clips, none of the {len(chosen_on)} the recipe was chosen on; written 07_holdout_check.csv")
    print(check.round(3).to_string(index=False))
    return check


if __name__ == "__main__":
    main()
