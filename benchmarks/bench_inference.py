"""Benchmark inference of every saved model family: load time, warm latency, throughput, timeline speed, memory.

Each model runs in its own fresh process (so its peak memory and its start-up are its own):

- ``import_s``: importing the predictor; ``load_s``: median time to rebuild the predictor from its folder;
- ``latency_ms``: warm end-to-end latency of one 3-s clip (features + model, ``Predictor.predict_waveforms``),
  ``model_ms``: the model alone on that clip's inputs, ``features_ms``: the difference; medians of ``--repeats``;
- ``batch_clips_per_s``: end-to-end throughput on ``--batch`` 3-s clips at once (one process);
- ``timeline_rtf``: seconds of compute per second of audio of ``timeline`` on ``--long-file``;
- ``peak_rss_mb``: the process's peak resident memory (``resource.getrusage``);
- ``size_mb``: the model file's size.

Keras models are also exported to TFLite (float32 and dynamic-range int8) into a scratch folder and measured
the same way. ``--hour`` also runs ``timeline`` with the first model on a 60-minute file built from the long
file's clips and reports its peak memory. Writes ``<out>/bench_inference.csv`` and prints a markdown table.

Usage (from the project root; the long file is assembled from RAVDESS clips when missing):
    .venv/bin/python benchmarks/bench_inference.py --artifacts artifacts/ravdess-tess \\
        --clips ../shared/data/ravdess/Actor_2[1-4] --out outputs/ravdess-tess [--hour]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = [
    "model", "family", "size_mb", "import_s", "load_s", "latency_ms", "features_ms", "model_ms",
    "batch_clips_per_s", "timeline_rtf", "peak_rss_mb",
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts/ravdess-tess"), help="a run's model folders")
    parser.add_argument("--models", nargs="*", default=None, help="model folder names (default: every deployable one)")
    parser.add_argument("--clips", nargs="+", type=Path, required=True, help="audio files or folders of short clips")
    parser.add_argument("--n-clips", type=int, default=16, help="clips in the long file and the batch")
    parser.add_argument("--long-file", type=Path, default=Path(tempfile.gettempdir()) / "ser_bench_long.wav")
    parser.add_argument("--repeats", type=int, default=15, help="repeats per latency (the median is reported)")
    parser.add_argument("--batch", type=int, default=32, help="clips per batched call")
    parser.add_argument("--out", type=Path, required=True, help="folder for bench_inference.csv")
    parser.add_argument("--hour", action="store_true", help="also a 60-minute timeline (peak memory)")
    parser.add_argument("--one", type=Path, default=None, help=argparse.SUPPRESS)  # child: one model folder
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(_measure(args.one, long_file=args.long_file, repeats=args.repeats, batch=args.batch)))
        return 0

    from ser_utils.audio.loading import expand_audio_paths
    from ser_utils.models.persistence import deployable_models
    from ser_utils.serving.assemble import assemble_recording

    clips = [str(path) for path in expand_audio_paths(args.clips)][
        :: max(1, len(expand_audio_paths(args.clips)) // args.n_clips)
    ]
    clips = clips[: args.n_clips]
    if not args.long_file.is_file():
        assemble_recording(clips, out_path=args.long_file, sr=16_000, gap_s=2.5)
    folders = [Path(folder) for folder in deployable_models(args.artifacts)["model_dir"]]
    if args.models:
        folders = [folder for folder in folders if folder.name in args.models]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for folder in folders:
            rows.append(_child(folder, args))
            if rows[-1]["family"] != "keras":
                continue
            for precision in ("float32", "int8"):
                exported = Path(scratch) / f"{folder.name}_{precision}"
                command = [
                    sys.executable,
                    "-m",
                    "ser_utils",
                    "export",
                    "--model",
                    str(folder),
                    "--precision",
                    precision,
                ]
                try:
                    _run([*command, "--out", str(exported)])
                except RuntimeError as error:  # e.g. the fine-tuned YAMNet: its patch loop is no TFLite builtin
                    print(f"{folder.name}: no TFLite {precision} ({str(error).strip().splitlines()[-1][:200]})",
                          file=sys.stderr)  # fmt: skip
                    break
                rows.append(_child(exported / f"tflite_{precision}", args))
    table = pd.DataFrame(rows, columns=COLUMNS)
    if args.hour:
        table.attrs["hour"] = _hour(folders[0], clips=clips, args=args)
    args.out.mkdir(parents=True, exist_ok=True)
    from ser_utils.io.provenance import run_info, write_table

    info = run_info(data_label=f"{len(clips)} clips of {', '.join(map(str, args.clips))}")
    info["benchmark"] = {"repeats": args.repeats, "batch": args.batch, "long_file": args.long_file.name, **table.attrs}
    write_table(table, "bench_inference", outputs_dir=args.out, info=info)
    print(_markdown(table))
    if "hour" in table.attrs:
        print(f"\n60-minute timeline: {json.dumps(table.attrs['hour'])}")
    return 0


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table, numbers to three significant figures."""
    cells = [[f"{value:.3g}" if isinstance(value, float) else str(value) for value in row] for row in table.values]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def _child(folder: Path, args) -> dict:
    """Measure one model folder in a fresh process."""
    output = _run([sys.executable, __file__, "--one", str(folder), "--long-file", str(args.long_file),
                   "--repeats", str(args.repeats), "--batch", str(args.batch), "--clips", *map(str, args.clips),
                   "--out", str(args.out)])  # fmt: skip
    row = json.loads(output.strip().splitlines()[-1])
    print(f"{row['model']}: {row['latency_ms']:.1f} ms per clip, RTF {row['timeline_rtf']:.3f}", file=sys.stderr)
    return row


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed: {result.stderr[-2000:]}")
    return result.stdout


def _measure(folder: Path, *, long_file: Path, repeats: int, batch: int) -> dict:
    """One model's figures, in this (fresh) process."""
    started = time.perf_counter()
    from ser_utils.serving.latency import measure_inference
    from ser_utils.serving.predictor import load_predictor

    import_s = time.perf_counter() - started
    loads = []
    for _ in range(3):
        started = time.perf_counter()
        predictor = load_predictor(folder)
        loads.append(time.perf_counter() - started)
    speed = measure_inference(predictor, recording=long_file, repeats=repeats, batch=batch)
    return {
        "model": predictor.card["name"],
        "family": predictor.card["family"],
        "size_mb": _size_mb(Path(folder), predictor.card),
        "import_s": import_s,
        "load_s": float(np.median(loads)),
        **speed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _size_mb(folder: Path, card: dict) -> float:
    """The model file's size; an ensemble's is the sum of its members'."""
    if card["family"] != "ensemble":
        return (folder / card["model_file"]).stat().st_size / 1e6
    members = [folder / member["model_dir"] for member in card["members"]]
    return sum(_size_mb(member, json.loads((member / "model_card.json").read_text())) for member in members)


def _hour(folder: Path, *, clips: list[str], args) -> dict:
    """Timeline of a 60-minute file (the clips repeated) in a fresh process: RTF and peak memory."""
    from ser_utils.serving.assemble import assemble_recording

    hour_file = args.long_file.with_name(args.long_file.stem + "_60min.flac")
    if not hour_file.is_file():
        per_pass = 2.5 * (len(clips) + 1) + 3.5 * len(clips)
        assemble_recording(clips, out_path=hour_file, sr=16_000, gap_s=2.5, repeats=int(np.ceil(3600 / per_pass)))
    script = (
        "import json, resource, sys, time\n"
        "from ser_utils.serving.predictor import load_predictor\n"
        "from ser_utils.serving.timeline import emotion_timeline\n"
        f"predictor = load_predictor({str(folder)!r})\n"
        "started = time.perf_counter()\n"
        f"timeline = emotion_timeline({str(hour_file)!r}, predictor=predictor)\n"
        "seconds = time.perf_counter() - started\n"
        "print(json.dumps({'model': predictor.card['name'], 'duration_s': timeline.duration, 'compute_s': seconds,\n"
        "    'rtf': seconds / timeline.duration, 'segments': len(timeline.segments),\n"
        "    'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    return json.loads(_run([sys.executable, "-c", script]).strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
