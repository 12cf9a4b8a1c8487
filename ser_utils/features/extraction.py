"""Extract a feature set for every clip of a manifest: decode once, in parallel, through the feature cache.

``extract_features(manifest, feature_set="handcrafted", cache_dir=ws.cache_dir)`` returns a
``FeatureSet`` whose rows follow the manifest's order (failed clips left out, listed in ``.failures``).
A clip already in the cache (same bytes, same config, same library versions) is read, not recomputed;
a clip that cannot be used (undecodable, silent, extractor error) is listed with its reason and never
stops the batch.
"""

import gc
import io
import json
import multiprocessing
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from joblib.parallel import BACKENDS, get_active_backend
from tqdm.auto import tqdm

from ser_utils.audio.loading import AudioError
from ser_utils.audio.prepare import prepare_waveform
from ser_utils.features.cache import HASH_MEMO_NAME, FeatureCache, HashMemo, config_key
from ser_utils.features.egemaps import EgemapsConfig, egemaps_columns, egemaps_features
from ser_utils.features.handcrafted import HandcraftedConfig, handcrafted_columns, handcrafted_features
from ser_utils.features.logmel import LogmelConfig, logmel_columns, logmel_features
from ser_utils.features.threads import one_thread
from ser_utils.features.yamnet import (
    YamnetConfig,
    YamnetTrunkConfig,
    resolve_weights,
    trunk_columns,
    trunk_features,
    yamnet_columns,
    yamnet_features,
)
from ser_utils.io.atomic import atomic_write_bytes

__all__ = [
    "FEATURE_SETS",
    "FAILURE_COLUMNS",
    "FeatureSet",
    "default_config",
    "extract_features",
    "feature_columns",
    "waveform_features",
    "waveform_feature_sets",
    "write_features",
    "stop_workers",
]

FAILURE_COLUMNS = ("path", "reason")
TASKS_PER_WORKER_ROUND = 16  # clips handed to each worker per round: the progress bar moves once per round


@dataclass(frozen=True)
class _Extractor:
    """How one feature set is configured, named, computed and stored."""

    config_type: type
    columns: Callable
    compute: Callable
    libraries: tuple[str, ...]
    dtype: type
    sequence: bool = False  # True: each clip gives (n_frames, n_columns) rather than (n_columns,)
    resolve: Callable | None = None  # fills a config's open fields (e.g. a weights hash) before it is keyed
    fork_safe: bool = False  # True: NumPy / librosa / Praat only, so workers may be forked from a warm process


_EXTRACTORS = {
    "handcrafted": _Extractor(
        config_type=HandcraftedConfig,
        columns=handcrafted_columns,
        compute=handcrafted_features,
        libraries=("librosa", "praat-parselmouth", "numpy"),
        dtype=np.float32,
        fork_safe=True,
    ),
    "egemaps": _Extractor(
        config_type=EgemapsConfig,
        columns=egemaps_columns,
        compute=egemaps_features,
        libraries=("opensmile",),
        dtype=np.float32,
    ),
    "logmel": _Extractor(
        config_type=LogmelConfig,
        columns=logmel_columns,
        compute=logmel_features,
        libraries=("librosa", "numpy"),
        dtype=np.float16,
        sequence=True,
        fork_safe=True,
    ),
    "yamnet": _Extractor(
        config_type=YamnetConfig,
        columns=yamnet_columns,
        compute=yamnet_features,
        libraries=("tensorflow", "keras", "librosa", "numpy"),
        dtype=np.float32,
        resolve=resolve_weights,
    ),
    "yamnet_trunk": _Extractor(
        config_type=YamnetTrunkConfig,
        columns=trunk_columns,
        compute=trunk_features,
        libraries=("tensorflow", "keras", "librosa", "numpy"),
        dtype=np.float16,
        sequence=True,
        resolve=resolve_weights,
    ),
}
FEATURE_SETS = tuple(_EXTRACTORS)


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """One feature set for the clips of a manifest.

    ``values`` is float32 (n_clips, n_columns) for tabular sets, float16 (n_clips, n_frames, n_mels)
    for ``logmel``; row i belongs to ``paths[i]`` (the manifest's ``path`` strings, in manifest order,
    failed clips left out). ``columns`` names the last axis. ``failures`` lists (path, reason).
    ``config`` records the feature set, its config fields and library versions; ``cache_key`` names
    the cache folder. ``n_cached`` rows came from the cache, ``n_computed`` were extracted this call.
    """

    name: str
    paths: tuple[str, ...]
    values: np.ndarray
    columns: tuple[str, ...]
    failures: pd.DataFrame
    config: dict
    cache_key: str
    n_cached: int
    n_computed: int

    def frame(self) -> pd.DataFrame:
        """The tabular set as a DataFrame: ``path`` then one column per feature."""
        if self.values.ndim != 2:
            shape = self.values.shape[1:]
            raise ValueError(f"{self.name} holds sequences of shape {shape}; use .values, not .frame()")
        table = pd.DataFrame(self.values, columns=list(self.columns))
        table.insert(0, "path", list(self.paths))
        return table

    def aligned(self, manifest: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """(rows, values): the manifest rows that have features, in manifest order, and their values.

        ``values[i]`` belongs to ``rows.iloc[i]``; rows whose clip failed or was not extracted are dropped.
        """
        position = {path: index for index, path in enumerate(self.paths)}
        keep = manifest["path"].map(position)
        rows = manifest[keep.notna()].reset_index(drop=True)
        return rows, self.values[keep.dropna().astype(int).to_numpy()]


def default_config(feature_set: str):
    """The project's default config (a frozen dataclass) of ``feature_set``."""
    return _extractor(feature_set).config_type()


def extract_features(
    manifest: pd.DataFrame | Iterable[str],
    *,
    feature_set: str,
    cache_dir: Path | str | None,
    config=None,
    n_jobs: int,
    progress: bool = True,
) -> FeatureSet:
    """Extract ``feature_set`` ("handcrafted", "egemaps" or "logmel") for every clip of ``manifest``.

    ``manifest`` is a DataFrame with a ``path`` column (or a list of paths). ``cache_dir`` is the
    workspace's cache folder (``ws.cache_dir``); entries go under ``cache_dir/features``; None disables
    the cache. ``config`` defaults to ``default_config(feature_set)``; a YAMNet config without a weights
    hash gets the local weights file's here. Every clip goes through ``audio.prepare.prepare_waveform``
    (the serving path's preparation too). Clips not yet cached are decoded once and extracted on ``n_jobs``
    processes, each result stored as soon as it is ready, so an interrupted run keeps its finished clips.
    Identical files (same bytes) are extracted once.
    """
    extractor = _extractor(feature_set)
    config = extractor.config_type() if config is None else config
    if not isinstance(config, extractor.config_type):
        raise ValueError(
            f"config for {feature_set!r} must be a {extractor.config_type.__name__}, got {type(config).__name__}"
        )
    if extractor.resolve is not None:
        config = extractor.resolve(config)
    paths = _manifest_paths(manifest)
    key, description = config_key(feature_set, config, libraries=extractor.libraries)
    cache = None
    if cache_dir is not None:
        cache = FeatureCache(root=Path(cache_dir) / "features", key=key)
        cache.describe(description)
    arrays, failures, pending = _read_cache(paths, cache=cache, extractor=extractor, config=config)
    n_cached = len(arrays)
    computed = _compute(
        paths, pending, feature_set=feature_set, config=config, cache=cache, n_jobs=n_jobs, progress=progress
    )
    for digest, (array, reason) in computed:
        for index in pending[digest]:
            if array is None:
                failures[index] = reason
            else:
                arrays[index] = array
    kept = sorted(arrays)
    shape = _row_shape(extractor, config)
    values = np.stack([arrays[index] for index in kept]) if kept else np.empty((0, *shape), extractor.dtype)
    failure_rows = [(paths[index], failures[index]) for index in sorted(failures)]
    n_computed = sum(len(indices) for indices in pending.values())
    return FeatureSet(
        name=feature_set,
        paths=tuple(paths[index] for index in kept),
        values=values,
        columns=tuple(extractor.columns(config)),
        failures=pd.DataFrame(failure_rows, columns=list(FAILURE_COLUMNS)),
        config=description,
        cache_key=key,
        n_cached=n_cached,
        n_computed=n_computed,
    )


def feature_columns(feature_set: str, config) -> tuple[str, ...]:
    """The column names of ``feature_set`` under ``config`` (the last axis of its values)."""
    return tuple(_extractor(feature_set).columns(config))


def waveform_features(waveform: np.ndarray, *, feature_set: str, config) -> np.ndarray:
    """``feature_set`` of one in-memory (samples,) waveform at ``config.sr`` Hz, prepared exactly as a file's
    clips are (``prepare_waveform``): (n_columns,) or (n_frames, n_columns). No cache; one BLAS thread.
    Raises AudioError (too short, silent) like a file's extraction would record. Serving's sliding windows use it.
    """
    with one_thread():
        return _waveform_set(waveform, feature_set, config)


def waveform_feature_sets(waveform: np.ndarray, *, configs: dict) -> list[np.ndarray]:
    """``waveform_features`` of several sets ({name: config}) of one waveform, in ``configs``' order, computed side
    by side on threads (openSMILE and most of librosa's numerics release the GIL): a clip's latency is its slowest
    set's, not their sum. Raises the first set's AudioError like ``waveform_features``."""
    if len(configs) == 1:  # nothing to overlap: no thread (a TFLite model runs slower off the main thread)
        return [waveform_features(waveform, feature_set=name, config=config) for name, config in configs.items()]
    with one_thread(), ThreadPoolExecutor(max_workers=len(configs)) as pool:
        futures = [pool.submit(_waveform_set, waveform, name, config) for name, config in configs.items()]
        return [future.result() for future in futures]


def _waveform_set(waveform: np.ndarray, feature_set: str, config) -> np.ndarray:
    extractor = _extractor(feature_set)
    return np.asarray(extractor.compute(_prepare(waveform, config), config=config), dtype=extractor.dtype)


def _prepare(source, config) -> np.ndarray:
    """``source`` (a path or a waveform at ``config.sr``) prepared the way feature set ``config`` says."""
    return prepare_waveform(
        source,
        sr=config.sr,
        trim_db=config.trim_db,
        noise_floor_db=config.noise_floor_db,
        phone_codec=config.phone_codec,
    )


def write_features(features: FeatureSet, *, out_dir: Path | str) -> list[Path]:
    """Write ``features`` into ``out_dir`` and return the paths written (each atomically).

    Tabular sets: ``<set>.csv`` (path + named columns). Sequences: ``<set>.npz`` with ``paths``
    (n_clips,), ``values`` (n_clips, n_frames, n_mels) float16, ``columns`` and ``config`` (JSON).
    Always ``<set>_failures.csv`` (path, reason).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if features.values.ndim == 2:
        path = out_dir / f"{features.name}.csv"
        atomic_write_bytes(path, features.frame().to_csv(index=False).encode())
    else:
        path = out_dir / f"{features.name}.npz"
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            paths=np.array(features.paths, dtype=str),
            values=features.values,
            columns=np.array(features.columns, dtype=str),
            config=np.array(json.dumps(features.config, default=str)),
        )
        atomic_write_bytes(path, buffer.getvalue())
    written.append(path)
    failures_path = out_dir / f"{features.name}_failures.csv"
    atomic_write_bytes(failures_path, features.failures.to_csv(index=False).encode())
    written.append(failures_path)
    return written


def _extractor(feature_set: str) -> _Extractor:
    if feature_set not in _EXTRACTORS:
        raise ValueError(f"unknown feature set {feature_set!r}; use one of {', '.join(FEATURE_SETS)}")
    return _EXTRACTORS[feature_set]


def _manifest_paths(manifest) -> list[str]:
    if isinstance(manifest, pd.DataFrame):
        if "path" not in manifest.columns:
            raise ValueError("the manifest has no 'path' column; pass one from ws.manifest()")
        return [str(path) for path in manifest["path"]]
    if isinstance(manifest, str | Path):
        raise ValueError("pass a manifest DataFrame or a list of paths, not a single path")
    return [str(path) for path in manifest]


def _row_shape(extractor: _Extractor, config) -> tuple[int, ...]:
    n_columns = len(extractor.columns(config))
    return (config.n_frames, n_columns) if extractor.sequence else (n_columns,)


def _read_cache(paths: list[str], *, cache: FeatureCache | None, extractor: _Extractor, config):
    """Hash every file (memoised) and read cached rows: (arrays, failures, pending digest -> indices)."""
    memo = HashMemo(cache.root / HASH_MEMO_NAME if cache is not None else None)
    shape = _row_shape(extractor, config)
    arrays, failures, pending = {}, {}, {}
    for index, path in enumerate(paths):
        try:
            digest = memo.sha256(path) if cache is not None else f"clip-{index}"  # no cache: no hashing
        except OSError as error:
            failures[index] = f"unreadable: {error.strerror or error}"
            continue
        cached = cache.load(digest) if cache is not None else None
        if cached is not None and cached.shape == shape:
            arrays[index] = cached
        else:
            pending.setdefault(digest, []).append(index)
    memo.save()
    return arrays, failures, pending


def _compute(paths: list[str], pending: dict, *, feature_set: str, config, cache, n_jobs: int, progress: bool):
    """Yield (digest, (array or None, reason or None)) for every pending content digest, in parallel.

    One task per distinct content: the first path holding those bytes is decoded. Sets that are safe to fork go
    to ``_forked_workers`` (kept for later calls, results streamed as they come); otherwise tasks go out in rounds
    of ``TASKS_PER_WORKER_ROUND`` per worker, through one joblib pool kept for the whole call (every joblib
    backend runs a round; not every one can stream results one by one).
    """
    if not pending:
        return
    digests = list(pending)
    tasks = [(paths[pending[digest][0]], digest, feature_set, config, cache) for digest in digests]
    if feature_set == "egemaps" and "tensorflow" in sys.modules:
        n_jobs = max(n_jobs, 2)  # openSMILE aborts in a process that has loaded TensorFlow: use workers
    workers = _forked_workers(n_jobs, feature_set=feature_set, config=config) if n_jobs != 1 else None
    with tqdm(total=len(digests), desc=f"{feature_set} features", disable=not progress) as bar:
        if workers is not None:
            try:
                for digest, result in zip(digests, workers.map(_extract_task, tasks, chunksize=4), strict=True):
                    bar.update()
                    yield digest, result
            except BrokenProcessPool:
                _FORKED.pop(effective_n_jobs(n_jobs), None)  # the next call forks new workers
                raise
            return
        round_size = TASKS_PER_WORKER_ROUND * effective_n_jobs(n_jobs)
        with Parallel(n_jobs=n_jobs) as parallel:
            for start in range(0, len(tasks), round_size):
                chunk = digests[start : start + round_size]
                yield from zip(
                    chunk,
                    parallel(delayed(_extract_task)(task) for task in tasks[start : start + round_size]),
                    strict=True,
                )
                bar.update(len(chunk))


_FORKED: dict[int, ProcessPoolExecutor] = {}  # worker count -> workers forked from this process, kept for reuse


def _forked_workers(n_jobs: int, *, feature_set: str, config) -> ProcessPoolExecutor | None:
    """Worker processes forked from this warm process, created on first use and kept for later calls; None when
    joblib's default backend is not the active one (e.g. Dask) or forking is unsafe.

    loky starts fresh interpreters, and each one spends seconds importing librosa and compiling its Numba
    kernels before its first clip, about as long as 100 clips take; forked workers inherit this process's
    imports instead, once it has extracted one synthetic clip itself, and keeping them spares the next call
    the fork (0.2 s) and its first touches of the inherited memory. Forking is unsafe after TensorFlow has
    started its threads, and openSMILE and YAMNet are not fork-tested, so those cases keep joblib's loky;
    workers forked before TensorFlow was loaded are reused.
    """
    active, _ = get_active_backend()
    forkable = _EXTRACTORS[feature_set].fork_safe and "fork" in multiprocessing.get_all_start_methods()
    if type(active) is not BACKENDS["loky"] or not forkable:
        return None
    n_workers = effective_n_jobs(n_jobs)
    if n_workers in _FORKED:
        return _FORKED[n_workers]
    if "tensorflow" in sys.modules:
        return None
    warm_up = np.sin(np.arange(config.sr) * 2 * np.pi * 220 / config.sr).astype(np.float32)  # 1 s at 220 Hz
    _EXTRACTORS[feature_set].compute(warm_up, config=config)
    workers = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork"))
    with _gc_frozen():  # forked now: the workers start with this process's objects out of the collector's scans
        workers.submit(int).result()
    _FORKED[n_workers] = workers
    return workers


def stop_workers() -> None:
    """Stop the forked worker processes that extraction keeps between calls (they also stop when this process
    exits); the next parallel extraction forks new ones."""
    while _FORKED:
        _, workers = _FORKED.popitem()
        workers.shutdown(wait=True)


@contextmanager
def _gc_frozen():
    """Keep the objects alive now out of the garbage collector's scans while workers are forked: a forked worker
    whose collector walks the inherited objects copies their memory pages. Unfrozen afterwards."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _extract_task(task: tuple):
    """``_extract_one`` of one (path, digest, feature set, config, cache) task."""
    return _extract_one(*task)


def _extract_one(path: str, digest: str, feature_set: str, config, cache: FeatureCache | None):
    """Decode ``path`` once, extract, store in the cache: (array, None) or (None, reason)."""
    extractor = _EXTRACTORS[feature_set]
    try:
        # One BLAS thread per clip: a matrix product's rounding depends on the thread count, so without this
        # a clip's float32 values would change with n_jobs (worker processes get fewer threads than this one).
        with one_thread():
            waveform = _prepare(path, config)
            array = np.asarray(extractor.compute(waveform, config=config), dtype=extractor.dtype)
    except AudioError as error:
        return None, error.reason
    except Exception as error:  # one clip's failure must not stop the batch; it is reported instead
        return None, f"extraction failed: {type(error).__name__}: {error}"
    if not np.isfinite(array).all():
        return None, "extraction gave non-finite values"
    if cache is not None:
        cache.store(digest, array)
    return array, None
