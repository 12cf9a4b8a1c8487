"""Benchmark training speed: seconds per epoch of each trained family, by threads, side-by-side processes, precision.

Each setting runs in its own fresh process (TensorFlow fixes its thread pools and precision policy at start-up)
through the project's own training functions on seeded synthetic inputs of the full profile's shapes: one
RAVDESS fold's training and validation clips, as log-mel spectrograms (frames, mel bands) for the CNN-LSTM, YAMNet
trunk activations for the fine-tuned top block, tabular features for the MLP. Settings:

- ``1 thread``: one training alone on one TensorFlow thread;
- ``2 threads``: one training alone on two;
- ``2 side by side``: two trainings at once in two worker processes of one thread each
  (``experiment.train_side_by_side``, as the notebooks train folds), seconds per epoch of each;
- ``bf16``: one thread under Keras's ``mixed_bfloat16`` policy (fast only on CPUs with bfloat16 units);
- ``bf16, 2 side by side``: two bfloat16 trainings at once, as notebook 05 fine-tunes its folds on such CPUs
  (``FINETUNE_PRECISION="auto"``).

``s_per_epoch`` is the median over epochs after the first (which traces the graph); ``epochs_per_s`` is the
machine's throughput in that setting (side by side: both trainings together). Writes ``<out>/bench_training.csv``
(the README's speed section shows it) and prints it.

Usage (from the project root; needs the YAMNet weights for the fine-tuning rows):
    .venv/bin/python benchmarks/bench_training.py --out outputs/ravdess-tess [--epochs 8]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

N_TRAIN, N_VAL, N_CLASSES = 1080, 120, 8  # a RAVDESS fold: 18 training and 2 validation actors of 60 clips
LOGMEL_SHAPE, N_TABULAR = (150, 64), 383  # notebook 04's log-mel window; notebook 03's handcrafted + eGeMAPS
SETTINGS = {  # name: (TensorFlow threads per training, trainings side by side, Keras precision policy)
    "1 thread": (1, 1, "float32"),
    "2 threads": (2, 1, "float32"),
    "2 side by side": (1, 2, "float32"),
    "bf16": (1, 1, "mixed_bfloat16"),
    "bf16, 2 side by side": (1, 2, "mixed_bfloat16"),
}
FAMILIES = {
    "cnn_lstm": ("1 thread", "2 threads", "2 side by side", "bf16"),
    "yamnet_finetune": ("1 thread", "2 side by side", "bf16", "bf16, 2 side by side"),
    "mlp_tuned": ("1 thread", "2 side by side"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for bench_training.csv")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per training (the first is not timed)")
    parser.add_argument("--one", nargs=2, default=None, help=argparse.SUPPRESS)  # child: family, setting
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(_measure(*args.one, epochs=args.epochs)))
        return 0
    rows = []
    for family, settings in FAMILIES.items():
        for setting in settings:
            command = [sys.executable, __file__, "--one", family, setting, "--epochs", str(args.epochs)]
            result = subprocess.run([*command, "--out", str(args.out)], capture_output=True, text=True)
            if result.returncode:
                raise RuntimeError(f"{family} / {setting} failed: {result.stderr[-2000:]}")
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
            print(f"{family}, {setting}: {rows[-1]['s_per_epoch']:.2f} s/epoch", file=sys.stderr)
    table = pd.DataFrame(rows)
    alone = table[table["setting"].eq("1 thread")].set_index("family")["epochs_per_s"]
    table["throughput_vs_1_thread"] = table["epochs_per_s"] / table["family"].map(alone)
    args.out.mkdir(parents=True, exist_ok=True)
    from ser_utils.io.provenance import run_info, write_table

    info = run_info(data_label="synthetic inputs of the full profile's shapes")
    info["benchmark"] = {"epochs": args.epochs, "n_train": N_TRAIN, "n_val": N_VAL}
    write_table(table, "bench_training", outputs_dir=args.out, info=info)
    print(table.round(3).to_string(index=False))
    return 0


def _measure(family: str, setting: str, *, epochs: int) -> dict:
    """One family's seconds per epoch in one setting, in this (fresh) process."""
    threads, side_by_side, precision = SETTINGS[setting]
    import keras

    from ser_utils.evaluation.experiment import train_side_by_side
    from ser_utils.models.training import HISTORY_FILE, limit_threads

    if side_by_side == 1:
        limit_threads(threads)  # side by side, each worker takes (cores // 2) threads itself
    keras.mixed_precision.set_global_policy(precision)  # this process; the fine-tuning also gets it as an argument
    train_fn, shape = _family(family, epochs=epochs, precision=precision)
    rng = np.random.default_rng(0)
    data = (
        _inputs(family, (N_TRAIN, *shape), rng),
        rng.integers(0, N_CLASSES, N_TRAIN),
        _inputs(family, (N_VAL, *shape), rng),
        rng.integers(0, N_CLASSES, N_VAL),
    )
    with tempfile.TemporaryDirectory() as scratch:
        work_dirs = [Path(scratch) / f"run{index}" for index in range(side_by_side)]
        train_side_by_side(
            train_fn, [data] * side_by_side, work_dirs=work_dirs, n_classes=N_CLASSES, seed=0, n_jobs=side_by_side
        )
        seconds = [pd.read_csv(folder / HISTORY_FILE)["epoch_seconds"].iloc[1:].median() for folder in work_dirs]
    s_per_epoch = float(np.mean(seconds))
    return {
        "family": family,
        "setting": setting,
        "threads": threads,
        "side_by_side": side_by_side,
        "precision": precision,
        "s_per_epoch": s_per_epoch,
        "epochs_per_s": side_by_side / s_per_epoch,
    }


def _family(family: str, *, epochs: int, precision: str):
    """(training function of the experiment-loop contract, input shape per example) of a family; the YAMNet
    fine-tuning takes ``precision`` as its own argument, so that worker processes train under it too."""
    if family == "cnn_lstm":
        from ser_utils.models.cnn_lstm import CnnLstmSettings, train_cnn_lstm

        settings = CnnLstmSettings(learning_rate=1e-3, batch_size=32, patience=epochs, n_seeds=1)  # notebook 04's
        return partial(train_cnn_lstm, settings=settings, epochs=epochs), LOGMEL_SHAPE
    if family == "yamnet_finetune":
        from ser_utils.features.yamnet import YamnetTrunkConfig, trunk_shape
        from ser_utils.models.yamnet_finetune import train_finetune

        config = YamnetTrunkConfig(n_patches=4, frozen_blocks=12)  # notebook 05's: block 13 fine-tuned
        train_fn = partial(
            train_finetune,
            config=config,
            warmup_epochs=0,
            epochs=epochs,
            batch_size=32,
            head_learning_rate=1e-3,
            learning_rate=1e-4,
            patience=epochs,
            precision=precision,
        )
        return train_fn, (config.n_frames, trunk_shape(frozen_blocks=config.frozen_blocks)[2])
    from ser_utils.models.dense_mlp import train_mlp

    train_fn = partial(train_mlp, variant="tuned", epochs=epochs, batch_size=32, learning_rate=1e-3, patience=epochs)
    return train_fn, (N_TABULAR,)


def _inputs(family: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Seeded inputs in each family's range: dB spectrograms, non-negative activations, standard features."""
    values = rng.normal(size=shape)
    if family == "cnn_lstm":
        values = 10 * values - 40
    elif family == "yamnet_finetune":
        values = np.abs(values)
    return values.astype(np.float32)


if __name__ == "__main__":
    sys.exit(main())
