"""The command line: ``python -m ser_utils <command>``; each command calls one library function."""

import argparse
import contextlib
import os
import sys
from enum import IntEnum
from pathlib import Path

from ser_utils.io.errors import NeedsUserAction

__all__ = ["ExitCode", "main"]


class ExitCode(IntEnum):
    """What every command's exit status means (also printed by ``--help``)."""

    OK = 0
    RUN_FAILED = 1  # some files failed, no usable clip was found, a notebook failed, or an unexpected error
    BAD_INPUT = 2  # bad arguments or input files (argparse's usage errors exit 2 too)
    NEEDS_USER_ACTION = 3  # register for a corpus, fetch files by hand when offline, point at the YAMNet weights
    INTERRUPTED = 130  # Ctrl-C


EPILOG = """exit codes (every command):
  0    ok
  1    the run failed: some files failed (their rows or lines say why), no usable clip, a notebook failed
  2    bad input or usage: arguments, missing or malformed input files
  3    needs your action: corpus registration (SAVEE), offline download, missing YAMNet weights;
       the message says what to do
  130  interrupted (Ctrl-C); finished work (downloaded files, cached features) is kept
Errors are one line on stderr, "error: <what happened and what to do>", never a traceback."""

BAD_INPUT_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError)
YAMNET_DIR_HELP = "folder with YAMNet's files (default: $SER_YAMNET_DIR, ../shared/models/yamnet, ~/.cache)"


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the chosen command and return its exit code (``ExitCode``).

    Progress bars are drawn only on a terminal. Errors become one ``error: ...`` line on stderr and the
    documented code: ``NeedsUserAction`` → 3, ValueError and missing files → 2, anything else → 1,
    Ctrl-C → 130. Usage errors exit 2 via argparse.
    """
    args = _parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        print("interrupted; run the command again to resume (finished work is kept)", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except NeedsUserAction as error:
        return _fail(error, ExitCode.NEEDS_USER_ACTION)
    except BAD_INPUT_ERRORS as error:
        return _fail(error, ExitCode.BAD_INPUT)
    except Exception as error:  # the policy: one line, no traceback, whatever went wrong
        return _fail(error, ExitCode.RUN_FAILED, name_type=True)


def _parser() -> argparse.ArgumentParser:
    from ser_utils.data.download import CORPUS_SOURCES, PARALLEL_FILES

    parser = argparse.ArgumentParser(
        prog="python -m ser_utils",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    manifest = commands.add_parser("manifest", help="scan corpus folders into a manifest CSV", epilog=EPILOG)
    manifest.add_argument("folders", nargs="+", type=Path, help="folders holding corpora")
    manifest.add_argument("--out", type=Path, default=Path("manifest.csv"), help="output CSV")
    manifest.add_argument("--jobs", type=int, default=2, help="parallel decoders")

    download = commands.add_parser("download", help="download a corpus from its public source", epilog=EPILOG)
    download.add_argument("corpus", choices=list(CORPUS_SOURCES))
    download.add_argument("--dest", type=Path, default=Path("data"), help="folder to put corpora in")
    download.add_argument("--jobs", type=int, default=PARALLEL_FILES, help="files fetched at once")

    download_yamnet = commands.add_parser(
        "download-yamnet", help="fetch YAMNet's weights and class map (checked against their sha256)", epilog=EPILOG
    )
    download_yamnet.add_argument("--yamnet-dir", type=Path, default=None, help=YAMNET_DIR_HELP)

    features = commands.add_parser("features", help="extract a feature set for every clip of a manifest", epilog=EPILOG)
    features.add_argument("manifest", type=Path, help="manifest CSV written by the manifest command")
    features.add_argument("--set", dest="feature_set", required=True, choices=["handcrafted", "egemaps", "logmel"])
    features.add_argument("--out", type=Path, default=Path("features"), help="output folder")
    features.add_argument("--cache", type=Path, default=None, help="cache folder (default: artifacts/cache)")
    features.add_argument("--jobs", type=int, default=2, help="parallel extractors")

    run = commands.add_parser(
        "run", help="run the notebooks in order with papermill and render the report", epilog=EPILOG
    )
    run.add_argument("--profile", choices=["quick", "full"], default="quick", help="parameter profile")
    run.add_argument("--data", default=None, help="corpora folder (default: $SER_DATA_DIR, data/, or demo)")
    run.add_argument("--only", nargs="*", default=None, help="notebook prefixes to run, e.g. 01 02")
    run.add_argument("--jobs", type=int, default=None, help="N_JOBS of every notebook that has it (default: theirs)")

    report = commands.add_parser(
        "report",
        help="re-render a run's HTML report, or (--readme) regenerate README's results section",
        epilog=EPILOG,
    )
    report.add_argument("--run", default=None, help="run folder under outputs/ (default: ravdess-tess)")
    report.add_argument("--readme", action="store_true", help="rewrite README.md between the results markers")
    report.add_argument("--profile", choices=["quick", "full"], default=None, help="the run's profile (HTML only)")

    yamnet = commands.add_parser(
        "yamnet-classify", help="top AudioSet classes of audio files with YAMNet", epilog=EPILOG
    )
    yamnet.add_argument("paths", nargs="+", type=Path, help="audio files or folders holding them")
    yamnet.add_argument("--top", type=int, default=5, help="classes to list per file")
    yamnet.add_argument("--yamnet-dir", type=Path, default=None, help=YAMNET_DIR_HELP)

    predict = commands.add_parser("predict", help="label audio files with a saved emotion model", epilog=EPILOG)
    predict.add_argument("paths", nargs="+", type=Path, help="audio files or folders holding them")
    predict.add_argument("--model", type=Path, required=True, help="model folder (holds model_card.json)")
    predict.add_argument("--out", type=Path, default=Path("predictions.csv"), help="output CSV")
    predict.add_argument("--jobs", type=int, default=2, help="parallel input preparation (at least 2 for features)")
    predict.add_argument("--yamnet-dir", type=Path, default=None, help=YAMNET_DIR_HELP + "; for YAMNet-based models")
    return parser


def _manifest(args) -> int:
    from ser_utils.data.manifest import build_manifest, summarize, write_manifest

    table, skipped = build_manifest(args.folders, n_jobs=args.jobs, progress=sys.stderr.isatty())
    skipped_path = write_manifest(table, skipped, out=args.out)
    print(summarize(table, skipped))
    print(f"wrote {args.out} and {skipped_path}")
    if not len(table):
        print(f"error: no usable clip under {', '.join(map(str, args.folders))}; see {skipped_path}", file=sys.stderr)
        return ExitCode.RUN_FAILED
    return ExitCode.OK


def _download(args) -> int:
    from ser_utils.data.download import CORPUS_SOURCES, count_corpus_files, download_corpus

    source = CORPUS_SOURCES[args.corpus]
    print(source.title)
    print(f"  licence: {source.licence}")
    print(f"  cite:    {source.citation}")
    root = download_corpus(args.corpus, dest=args.dest, n_jobs=args.jobs, progress=sys.stderr.isatty())
    expected = f" (the publisher lists {source.expected_files})" if source.expected_files else ""
    print(f"{count_corpus_files(args.corpus, dest=args.dest)} files at {root}/{source.layout}{expected}")
    return ExitCode.OK


def _download_yamnet(args) -> int:
    from ser_utils.yamnet.weights import MODEL_FILES, model_file

    for kind in MODEL_FILES:
        print(model_file(kind, model_dir=args.yamnet_dir))
    return ExitCode.OK


def _features(args) -> int:
    from ser_utils.data.manifest import read_manifest
    from ser_utils.features.extraction import extract_features, write_features

    try:
        manifest = read_manifest(args.manifest)
    except KeyError as error:
        raise ValueError(f"{args.manifest} lacks column {error}; write it with the manifest command") from error
    features = extract_features(
        manifest,
        feature_set=args.feature_set,
        cache_dir=args.cache or _default_cache_dir(args.out),
        n_jobs=args.jobs,
        progress=sys.stderr.isatty(),
    )
    written = write_features(features, out_dir=args.out)
    for row in features.failures.itertuples():
        print(f"error: {row.path}: {row.reason}", file=sys.stderr)
    print(
        f"{features.name}: {len(features.paths)} clips ({features.n_cached} from cache), "
        f"{len(features.failures)} failed; wrote {', '.join(map(str, written))}"
    )
    return ExitCode.RUN_FAILED if len(features.failures) or not len(features.paths) else ExitCode.OK


def _run(args) -> int:
    from ser_utils.pipeline.runner import run_pipeline

    index = run_pipeline(profile=args.profile, data_dir=args.data, only=args.only, n_jobs=args.jobs)
    print(f"report: {index}")
    return ExitCode.OK


def _report(args) -> int:
    from ser_utils.pipeline.report import README_RUN, run_data_label, update_readme, write_report
    from ser_utils.pipeline.workspace import project_root

    root = project_root()
    run_name = args.run or README_RUN
    outputs_dir = root / "outputs" / run_name
    if not outputs_dir.is_dir():
        raise ValueError(f"no run {run_name!r}: {outputs_dir} does not exist; pass --run with a folder of outputs/")
    if args.readme:
        changed = update_readme(root / "README.md", outputs_dir=outputs_dir, run_name=run_name)
        print(f"README.md results {'rewritten' if changed else 'already up to date'} from outputs/{run_name}/")
        return ExitCode.OK
    if args.profile is None:
        raise ValueError("say which profile the run used: --profile quick or --profile full")
    executed = sorted((outputs_dir / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise ValueError(f"no executed notebooks in {outputs_dir / 'notebooks'}; run them first (run command)")
    label = run_data_label(outputs_dir, run_name=run_name)
    index = write_report(executed, root=root, run_name=run_name, data_label=label, profile=args.profile)
    print(f"report: {index}")
    return ExitCode.OK


def _yamnet_classify(args) -> int:
    from ser_utils.yamnet.classify import classify_files

    table = classify_files(args.paths, top_k=args.top, model_dir=args.yamnet_dir)
    for path, rows in table.groupby("path", sort=False):
        if rows["error"].iloc[0]:
            print(f"error: {rows['error'].iloc[0]}", file=sys.stderr)
            continue
        print(path)
        for row in rows.itertuples():
            print(f"  {row.rank}. {row.class_name} ({row.score:.3f})")
    return ExitCode.RUN_FAILED if (table["error"] != "").any() else ExitCode.OK


def _predict(args) -> int:
    from ser_utils.io.atomic import atomic_path
    from ser_utils.serving.predictor import load_predictor
    from ser_utils.yamnet.weights import MODEL_DIR_ENV_VAR

    # The edge hands the folder to the weights resolver through the environment, which worker processes inherit.
    with _environment({MODEL_DIR_ENV_VAR: str(args.yamnet_dir)} if args.yamnet_dir is not None else {}):
        table = load_predictor(args.model).predict_files(args.paths, n_jobs=args.jobs)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    failed = table["error"].ne("")
    for row in table[failed].itertuples():
        print(f"error: {row.path}: {row.error}", file=sys.stderr)
    print(f"wrote {args.out}: {len(table)} files, {int(failed.sum())} errors")
    return ExitCode.RUN_FAILED if failed.any() else ExitCode.OK


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables for one command, then restore them (``main`` may run inside a longer process)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _fail(error: BaseException, code: ExitCode, *, name_type: bool = False) -> int:
    """Print ``error: <message>`` as one line (an unexpected error also names its type) and return ``code``."""
    message = " ".join(str(error).split())  # one line, whatever the message held
    if name_type or not message:
        message = f"{type(error).__name__}: {message}" if message else type(error).__name__
    print(f"error: {message}", file=sys.stderr)
    return code


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
    "download-yamnet": _download_yamnet,
    "run": _run,
    "report": _report,
    "yamnet-classify": _yamnet_classify,
    "predict": _predict,
    "features": _features,
}
