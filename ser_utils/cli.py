"""The command line: ``python -m ser_utils <command>``; each command calls one library function."""

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m ser_utils", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    manifest = commands.add_parser("manifest", help="scan corpus folders into a manifest CSV")
    manifest.add_argument("folders", nargs="+", type=Path, help="folders holding corpora")
    manifest.add_argument("--out", type=Path, default=Path("manifest.csv"), help="output CSV")
    manifest.add_argument("--jobs", type=int, default=2, help="parallel decoders")

    download = commands.add_parser("download", help="download a corpus from its public source")
    download.add_argument("corpus", choices=["ravdess", "cremad", "tess", "savee", "emodb"])
    download.add_argument("--dest", type=Path, default=Path("data"), help="folder to put corpora in")

    features = commands.add_parser("features", help="extract a feature set for every clip of a manifest")
    features.add_argument("manifest", type=Path, help="manifest CSV written by the manifest command")
    features.add_argument("--set", dest="feature_set", required=True, choices=["handcrafted", "egemaps", "logmel"])
    features.add_argument("--out", type=Path, default=Path("features"), help="output folder")
    features.add_argument("--cache", type=Path, default=None, help="cache folder (default: artifacts/cache)")
    features.add_argument("--jobs", type=int, default=2, help="parallel extractors")

    run = commands.add_parser("run", help="run the notebooks in order with papermill and render the report")
    run.add_argument("--profile", choices=["quick", "full"], default="quick", help="parameter profile")
    run.add_argument("--data", default=None, help="corpora folder (default: $SER_DATA_DIR, data/, or demo)")
    run.add_argument("--only", nargs="*", default=None, help="notebook prefixes to run, e.g. 01 02")

    yamnet = commands.add_parser("yamnet-classify", help="top AudioSet classes of audio files with YAMNet")
    yamnet.add_argument("paths", nargs="+", type=Path, help="audio files or folders holding them")
    yamnet.add_argument("--top", type=int, default=5, help="classes to list per file")
    yamnet.add_argument("--model-dir", type=Path, default=None, help="folder with YAMNet files")

    predict = commands.add_parser("predict", help="label audio files with a saved emotion model")
    predict.add_argument("paths", nargs="+", type=Path, help="audio files or folders holding them")
    predict.add_argument("--model", type=Path, required=True, help="model folder (holds model_card.json)")
    predict.add_argument("--out", type=Path, default=Path("predictions.csv"), help="output CSV")

    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


def _manifest(args) -> int:
    from ser_utils.data.manifest import build_manifest, summarize, write_manifest

    try:
        table, skipped = build_manifest(args.folders, n_jobs=args.jobs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    skipped_path = write_manifest(table, skipped, out=args.out)
    print(summarize(table, skipped))
    print(f"wrote {args.out} and {skipped_path}")
    return 0 if len(table) else 1


def _download(args) -> int:
    from ser_utils.data.download import run_download_command

    return run_download_command(args.corpus, args.dest)


def _features(args) -> int:
    from ser_utils.data.manifest import read_manifest
    from ser_utils.features.extraction import extract_features, write_features

    try:
        features = extract_features(
            read_manifest(args.manifest),
            feature_set=args.feature_set,
            cache_dir=args.cache or _default_cache_dir(args.out),
            n_jobs=args.jobs,
        )
    except (ValueError, KeyError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written = write_features(features, out_dir=args.out)
    for row in features.failures.itertuples():
        print(f"skipped {row.path}: {row.reason}", file=sys.stderr)
    print(
        f"{features.name}: {len(features.paths)} clips ({features.n_cached} from cache), "
        f"{len(features.failures)} failed; wrote {', '.join(map(str, written))}"
    )
    return 0 if len(features.paths) else 1


def _run(args) -> int:
    from ser_utils.pipeline.runner import main as run_main

    return run_main(args.profile, args.data, args.only)


def _yamnet_classify(args) -> int:
    from ser_utils.yamnet.classify import classify_files

    try:
        table = classify_files(args.paths, top_k=args.top, model_dir=args.model_dir)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path, rows in table.groupby("path", sort=False):
        if rows["error"].iloc[0]:
            print(f"error: {rows['error'].iloc[0]}", file=sys.stderr)
            continue
        print(path)
        for row in rows.itertuples():
            print(f"  {row.rank}. {row.class_name} ({row.score:.3f})")
    return 1 if (table["error"] != "").any() else 0


def _predict(args) -> int:
    from ser_utils.serving.predictor import load_predictor

    try:
        table = load_predictor(args.model).predict_files(args.paths)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    failed = table["error"].ne("")
    for row in table[failed].itertuples():
        print(f"error: {row.error}", file=sys.stderr)
    print(f"wrote {args.out}: {len(table)} files, {int(failed.sum())} errors")
    return 1 if failed.any() else 0


def _default_cache_dir(out: Path) -> Path:
    """The project's shared cache ``<project root>/artifacts/cache``; outside a checkout ``<out>/cache``."""
    from ser_utils.pipeline.workspace import project_root

    try:
        return project_root() / "artifacts" / "cache"
    except ValueError:
        return out / "cache"


COMMANDS = {
    "manifest": _manifest,
    "download": _download,
    "run": _run,
    "yamnet-classify": _yamnet_classify,
    "predict": _predict,
    "features": _features,
}
