"""Shared Keras training helpers: device strategy, precision, the one compile step, tf.data input, class
weights, callbacks. Builders return uncompiled models; every training function compiles with
``compile_classifier``."""

import contextlib
import os
import time
from functools import lru_cache
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

__all__ = [
    "parallel_trainings",
    "limit_threads",
    "HISTORY_FILE",
    "distribution_strategy",
    "configure_precision",
    "PRECISIONS",
    "cpu_has_bfloat16",
    "training_policy",
    "dtype_policy",
    "compile_classifier",
    "class_weights",
    "make_dataset",
    "shard_by_worker",
    "EpochTimer",
    "training_callbacks",
    "fit_model",
]

HISTORY_FILE = "training_history.csv"


def distribution_strategy() -> tf.distribute.Strategy:
    """The strategy models are built and trained under; build and compile inside ``with ….scope():``.

    ``TF_CONFIG`` set (a cluster of workers, this process's task in it): ``MultiWorkerMirroredStrategy``,
    one per process, each worker training a replica on its share of every batch (README, "Running on a
    cluster"). Otherwise ``MirroredStrategy`` over all GPUs when there is more than one, else the default
    (one device) strategy.
    """
    if os.environ.get("TF_CONFIG"):
        return _multi_worker_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def parallel_trainings(n_jobs: int) -> int:
    """How many trainings may run side by side: ``n_jobs`` on CPUs alone (a small model's training keeps barely more
    than one core busy, so two at once on two cores nearly double the throughput), 1 with a GPU or ``TF_CONFIG``
    (one training at a time then has the accelerator or the cluster)."""
    if os.environ.get("TF_CONFIG") or tf.config.list_physical_devices("GPU"):
        return 1
    return max(1, n_jobs)


def limit_threads(n_threads: int) -> None:
    """Run this process's TensorFlow ops on ``n_threads`` threads (intra- and inter-op). Takes effect only before
    TensorFlow runs its first op; a later call leaves the setting as it is."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(n_threads)
    except RuntimeError:  # TensorFlow is initialised: the process keeps its threads
        pass


def configure_precision() -> str:
    """Use ``mixed_float16`` when a GPU is present, ``float32`` otherwise; returns the policy name.

    Sets Keras's global policy, so call it before building models. Models keep their softmax
    output in float32 (``dtype="float32"`` on the last layer) so losses stay numerically stable.
    """
    policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


@lru_cache(maxsize=1)
def cpu_has_bfloat16() -> bool:
    """Whether this CPU has bfloat16 arithmetic units (x86 AVX512-BF16 or AMX, as Linux lists them in
    ``/proc/cpuinfo``); False where that file does not exist. Without them bfloat16 is emulated and slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def training_policy(precision: str) -> str:
    """The Keras dtype policy one training uses for ``precision`` (one of PRECISIONS).

    ``auto``: ``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU with bfloat16 units (``cpu_has_bfloat16``),
    ``float32`` otherwise; any other value names the policy itself.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"


@contextlib.contextmanager
def dtype_policy(policy: str):
    """Build layers under Keras's global dtype ``policy`` inside the block; the previous policy returns after."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def compile_classifier(
    model: keras.Model, *, learning_rate: float, one_hot: bool = False, label_smoothing: float = 0.0
) -> keras.Model:
    """Compile a (batch, n_classes) softmax classifier: Adam at ``learning_rate``, cross-entropy, accuracy.

    Integer labels (n,) by default (sparse categorical cross-entropy); ``one_hot=True`` for (n, n_classes)
    targets (categorical cross-entropy, with ``label_smoothing``, which needs one-hot targets). Compile
    inside the strategy scope the model was built in. Returns ``model``.
    """
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if label_smoothing and not one_hot:
        raise ValueError("label_smoothing needs one-hot targets: pass one_hot=True")
    if one_hot:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    else:
        loss = "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    return model


def class_weights(labels: np.ndarray, *, n_classes: int) -> dict[int, float]:
    """Balanced class weights ``n / (n_present * count)`` from integer training labels of shape (n,).

    Classes absent from ``labels`` get weight 0 (they contribute no loss anyway).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D integer array, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}); got {labels.min()}..{labels.max()}")
    counts = np.bincount(labels, minlength=n_classes)
    present = np.count_nonzero(counts)
    return {index: (len(labels) / (present * count) if count else 0.0) for index, count in enumerate(counts)}


def make_dataset(
    inputs: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data.Dataset`` of ``inputs`` (n, ...) and optional int ``labels`` (n,).

    Pipeline: from_tensor_slices → shuffle (whole set, reshuffled each epoch, if ``shuffle``; needs ``seed``)
    → batch → prefetch(AUTOTUNE).
    """
    if shuffle and seed is None:
        raise ValueError("a shuffled dataset needs a seed, e.g. the fold's training seed")
    inputs = np.asarray(inputs, dtype=np.float32)
    if labels is not None and len(labels) != len(inputs):
        raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels; pass one label per input row")
    tensors = inputs if labels is None else (inputs, np.asarray(labels, dtype=np.int32))
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        dataset = dataset.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    return shard_by_worker(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE))


def shard_by_worker(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` set to shard by data: under ``MultiWorkerMirroredStrategy`` each of N workers takes every
    N-th batch of the same in-memory pipeline (the automatic policy would look for files to split first, then
    fall back to this with a warning). No effect on a single machine."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` to the epoch logs (CSVLogger records it); prints it every ``every`` epochs."""

    def __init__(self, *, every: int = 1, label: str = ""):
        super().__init__()
        self.every = every
        self.label = label
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        if logs is not None:
            logs["epoch_seconds"] = seconds
        if self.every and (epoch + 1) % self.every == 0:
            losses = ", ".join(f"{key} {logs[key]:.3f}" for key in ("loss", "val_loss") if logs and key in logs)
            print(f"{self.label} epoch {epoch + 1}: {seconds:.2f} s/epoch, {losses}".strip())


def training_callbacks(
    *, history_path: Path, patience: int, print_every: int = 10, label: str = ""
) -> list[keras.callbacks.Callback]:
    """Callbacks watching ``val_loss`` on the validation speakers.

    EpochTimer, EarlyStopping (``patience`` epochs; at the end of training, stopped early or not, the model gets
    back the weights of its best epoch, kept in memory), ReduceLROnPlateau (halves the rate after
    ``patience // 2`` flat epochs) and CSVLogger to ``history_path`` (one row per epoch). No checkpoint file:
    the caller saves the finished model (``persistence.save_model``); writing a .keras file at every
    improvement cost up to a fifth of an MLP's training time.
    """
    Path(history_path).parent.mkdir(parents=True, exist_ok=True)
    return [
        EpochTimer(every=print_every, label=label),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, patience // 2)),
        keras.callbacks.CSVLogger(str(history_path)),
    ]


def fit_model(
    model: keras.Model,
    *,
    train: tf.data.Dataset,
    val: tf.data.Dataset,
    epochs: int,
    train_labels: np.ndarray,
    n_classes: int,
    work_dir: Path,
    patience: int,
    print_every: int = 10,
    label: str = "",
) -> pd.DataFrame:
    """Fit a compiled ``model`` with balanced class weights and ``training_callbacks``; returns the history.

    ``train_labels`` (n,) are the integer labels inside ``train`` (for the class weights). Writes the
    per-epoch log to ``<work_dir>/training_history.csv``. The model ends with the weights of the epoch with
    the lowest validation loss.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    work_dir = Path(work_dir)
    callbacks = training_callbacks(
        history_path=work_dir / HISTORY_FILE,
        patience=patience,
        print_every=print_every,
        label=label,
    )
    history = model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
        class_weight=class_weights(train_labels, n_classes=n_classes),
    )
    return pd.DataFrame(history.history).rename_axis("epoch").reset_index()


@lru_cache(maxsize=1)
def _multi_worker_strategy() -> tf.distribute.Strategy:
    """One per process: TensorFlow sets up its cross-worker collectives once, from ``TF_CONFIG``."""
    return _MultiWorkerStrategy()


class _MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy whose ``reduce`` takes what Keras 3's ``fit`` hands it with several workers.

    Keras 3 (to 3.11 at least, keras-team/keras#20585) calls ``reduce`` with a whole (inputs, labels)
    batch, which the collective reduce rejects, and with ``axis=0`` on each step's scalar loss and metrics,
    which have no axis 0. Here a structure is reduced tensor by tensor, and a scalar over the replicas
    (``axis=None``): the means Keras asks for.
    """

    def reduce(self, reduce_op, value, axis):
        reduce_one = super().reduce

        def reduce_tensor(tensor):
            rank = self.experimental_local_results(tensor)[0].shape.rank
            return reduce_one(reduce_op, tensor, axis=None if rank == 0 else axis)

        return tf.nest.map_structure(reduce_tensor, value)
