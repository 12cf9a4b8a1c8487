"""The command line: ``python -m ser_utils <command>``; each command calls one library function."""

import argparse
import contextlib
import os
import sys
from enum import IntEnum
from pathlib import Path

from ser_utils.io.console import quiet_libraries
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
    quiet_libraries()  # before any command imports TensorFlow
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
    _add_backend_options(manifest)

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
    _add_backend_options(features)

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
    predict.add_argument(
        "--enrol",
        action="append",
        type=Path,
        default=None,
        help="a folder (or file; repeat the option for more) of unlabelled clips of the same voice as the files, "
        "for a speaker-adaptive model (card section adaptation) or an ensemble (card section "
        "enrolled_pool); about 16 clips of varied speech are enough",
    )

    timeline = commands.add_parser(
        "timeline",
        help="emotions over time in long recordings: speech segments as CSV + JSON and a chart per file",
        epilog=EPILOG,
    )
    timeline.add_argument("paths", nargs="+", type=Path, help="audio files (any length) or folders holding them")
    timeline.add_argument("--model", type=Path, required=True, help="model folder (holds model_card.json)")
    timeline.add_argument("--out", type=Path, default=Path("timelines"), help="output folder")
    timeline.add_argument("--window", type=float, help="analysis window, seconds (default 3)")
    timeline.add_argument("--hop", type=float, help="step between windows, seconds (default 1)")
    timeline.add_argument("--context", type=float, help="pause kept each side of a short speech stretch, s (default 1)")
    timeline.add_argument("--smoothing", type=int, help="windows averaged over time (1: none; default 3)")
    timeline.add_argument("--no-chart", action="store_true", help="write the tables only")
    timeline.add_argument("--jobs", type=int, default=1, help="feature processes per batch of windows")
    timeline.add_argument("--yamnet-dir", type=Path, default=None, help=YAMNET_DIR_HELP + "; for YAMNet-based models")

    export = commands.add_parser("export", help="export a saved Keras model for edge devices (TFLite)", epilog=EPILOG)
    export.add_argument("--model", type=Path, required=True, help="Keras model folder (holds model_card.json)")
    export.add_argument("--format", choices=["tflite"], default="tflite", help="export format")
    export.add_argument(
        "--precision",
        nargs="+",
        choices=["float32", "int8"],
        default=["float32", "int8"],
        help="float32 and/or dynamic-range int8 (default: both)",
    )
    export.add_argument("--out", type=Path, default=None, help="output folder (default: <model>/export)")
    return parser


def _manifest(args) -> int:
    from ser_utils.data.manifest import build_manifest, summarize, write_manifest

    with _joblib_backend(args) as n_jobs:
        table, skipped = build_manifest(args.folders, n_jobs=n_jobs, progress=sys.stderr.isatty())
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
    with _joblib_backend(args) as n_jobs:
        features = extract_features(
            manifest,
            feature_set=args.feature_set,
            cache_dir=args.cache or _default_cache_dir(args.out),
            n_jobs=n_jobs,
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

    with _yamnet_dir(args.yamnet_dir):
        enrolment = {"enrol": args.enrol} if args.enrol else {}  # plain per-file prediction unless --enrol
        table = load_predictor(args.model).predict_files(args.paths, n_jobs=args.jobs, **enrolment)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    failed = table["error"].ne("")
    for row in table[failed].itertuples():
        print(f"error: {row.path}: {row.error}", file=sys.stderr)
    print(f"wrote {args.out}: {len(table)} files, {int(failed.sum())} errors")
    return ExitCode.RUN_FAILED if failed.any() else ExitCode.OK


def _timeline(args) -> int:
    from ser_utils.audio.loading import AudioError, expand_audio_paths
    from ser_utils.serving.predictor import load_predictor
    from ser_utils.serving.timeline import TimelineConfig, emotion_timeline, write_timeline

    knobs = {"window_s": args.window, "hop_s": args.hop, "context_s": args.context, "smoothing_windows": args.smoothing}
    config = TimelineConfig(**{name: value for name, value in knobs.items() if value is not None})
    paths = expand_audio_paths(args.paths)
    if not paths:
        raise ValueError("no audio files given (folders are searched for their audio files)")
    n_failed = 0
    with _yamnet_dir(args.yamnet_dir):
        predictor = load_predictor(args.model)
        for path in paths:
            try:
                timeline = emotion_timeline(path, predictor=predictor, config=config, n_jobs=args.jobs)
            except AudioError as error:
                print(f"error: {path}: {error.reason}", file=sys.stderr)
                n_failed += 1
                continue
            written = write_timeline(timeline, out_dir=args.out, model_name=predictor.card["name"])
            if not args.no_chart:
                written.append(_timeline_chart(timeline, out_dir=args.out, model_name=predictor.card["name"]))
            speech = float((timeline.regions[:, 1] - timeline.regions[:, 0]).sum()) if len(timeline.regions) else 0.0
            print(
                f"{path}: {timeline.duration:.1f} s, {speech:.1f} s speech, {len(timeline.segments)} segments; "
                f"wrote {', '.join(map(str, written))}"
            )
    return ExitCode.RUN_FAILED if n_failed else ExitCode.OK


def _timeline_chart(timeline, *, out_dir: Path, model_name: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ser_utils.plots.charts import save_chart
    from ser_utils.plots.timeline import plot_timeline

    name = Path(timeline.path).name
    fig = plot_timeline(timeline, title=f"{name}: emotions over time ({model_name})")
    path = save_chart(fig, f"{Path(timeline.path).stem}_timeline", charts_dir=out_dir, data_label=name)
    plt.close(fig)
    return path


def _export(args) -> int:
    from ser_utils.serving.export import export_tflite

    out = args.out if args.out is not None else args.model / "export"
    for precision in args.precision:
        folder = export_tflite(args.model, out_dir=out / f"{args.format}_{precision}", precision=precision)
        size = (folder / "model.tflite").stat().st_size
        print(f"wrote {folder} ({size / 1e6:.2f} MB, {precision})")
    return ExitCode.OK


def _yamnet_dir(folder: Path | None):
    """The edge hands ``--yamnet-dir`` to the weights resolver through the environment, which worker processes
    inherit; without the option nothing is set (and TensorFlow is not imported for a scikit-learn model)."""
    if folder is None:
        return contextlib.nullcontext()
    from ser_utils.yamnet.weights import MODEL_DIR_ENV_VAR

    return _environment({MODEL_DIR_ENV_VAR: str(folder)})


def _add_backend_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--backend",
        choices=["local", "dask"],
        default="local",
        help="where the work runs: local processes (--jobs), or a Dask cluster through joblib's dask backend",
    )
    command.add_argument("--scheduler", default=None, help="the Dask scheduler's address, e.g. tcp://10.0.0.5:8786")


@contextlib.contextmanager
def _joblib_backend(args):
    """Run the block under joblib's backend for ``--backend``; yields the ``n_jobs`` to pass.

    ``local``: joblib's default, ``--jobs`` workers. ``dask``: a ``distributed.Client`` of the scheduler at
    ``--scheduler`` and ``joblib.parallel_config(backend="dask")``, the same code path with every worker
    thread of the cluster (``n_jobs=-1``); the workers need this package, the audio and the cache folder at the
    same paths (README, "Running on a cluster").
    """
    if args.backend == "local":
        if args.scheduler:
            raise ValueError("--scheduler is for --backend dask; add --backend dask or drop --scheduler")
        yield args.jobs
        return
    if not args.scheduler:
        raise ValueError("--backend dask needs --scheduler ADDRESS, the Dask scheduler's (e.g. tcp://10.0.0.5:8786)")
    from distributed import Client
    from joblib import parallel_config

    with Client(args.scheduler), parallel_config(backend="dask"):
        yield -1


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
    "timeline": _timeline,
    "export": _export,
}
