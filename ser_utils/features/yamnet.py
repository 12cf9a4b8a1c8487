"""YAMNet features of one clip: pooled AudioSet embeddings, and the frozen trunk's activations for fine-tuning.

Two feature sets of ``feature_extraction`` (so both go through its content-keyed cache and the predictor's
``features`` input kind):

* ``yamnet``: the clip's 1024-d patch embeddings (0.96 s patches every 0.48 s, ``yamnet_frontend``) pooled
  over patches into mean, max and standard deviation: (3072,) float32, columns ``yamnet_mean_0000`` …
  ``yamnet_max_…`` … ``yamnet_std_…``. Every patch of the trimmed clip counts, whatever its length.
* ``yamnet_trunk``: the output of the frozen lower blocks (1 .. ``frozen_blocks``) for a fixed window of
  ``n_patches`` patches, stored as (patches × positions, channels) float16, e.g. 4 patches × 6 × 4 positions
  × 512 channels after block 11. Fine-tuning the blocks above reads these instead of the waveform
  (``yamnet_finetune``): frozen layers without augmentation compute the same output every epoch.

Silence: ``feature_extraction`` drops digitally silent clips and, with ``trim_db`` (default 30 dB, as the
log-mel set), trims leading and trailing audio quieter than that many dB below the clip's peak before these
functions see it. RAVDESS clips carry about a second of room tone around each sentence; untrimmed it would
fill a third of the patches with the embedding of "Silence" and dilute the mean. The trunk window then
centre-crops a long clip or repeats a short one (``fit_window``), so every patch holds speech.

Both configs record the sha256 of the YAMNet weights file, so other weights get other cache entries, and
extraction refuses to run when the local file differs from the one a config (or a saved model) names.
Building a config does no I/O: ``weights_sha256=None`` (the default) means "the local file", and
``resolve_weights`` fills in its hash; ``extract_features`` does that before keying the cache.

TensorFlow is imported inside the functions, when a YAMNet config is checked or a feature computed:
``feature_extraction`` imports this module, and its workers should not load TensorFlow for other sets.
"""

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ser_utils.audio.loading import SAMPLE_RATE
from ser_utils.audio.prepare import TRIM_DB
from ser_utils.features.cache import file_sha256

__all__ = [
    "STATISTICS",
    "YamnetConfig",
    "YamnetTrunkConfig",
    "tflite_sha256",
    "resolve_weights",
    "yamnet_backbone",
    "window_samples",
    "fit_window",
    "pool_embeddings",
    "yamnet_columns",
    "yamnet_features",
    "trunk_shape",
    "trunk_model",
    "trunk_columns",
    "trunk_features",
]

STATISTICS = ("mean", "max", "std")  # pooled over patches, in this order


def tflite_sha256(*, model_dir: Path | str | None = None) -> str:
    """SHA-256 of the YAMNet TFLite weights file in use (found or downloaded by ``yamnet_weights.model_file``)."""
    from ser_utils.yamnet.weights import model_file

    path = model_file("tflite", model_dir=model_dir)
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class YamnetConfig:
    """Every setting that changes the pooled embeddings; bump ``version`` when the code changes them."""

    sr: int = SAMPLE_RATE  # must be YAMNet's 16 kHz; files are resampled on loading
    trim_db: float | None = TRIM_DB  # trim edge silence this many dB below the peak (None: keep)
    noise_floor_db: float | None = None  # white noise this many dB below the trimmed clip's power (None: none)
    phone_codec: str | None = None  # "gsm" / "ulaw": heard through that telephone chain first (None: as recorded)
    weights_sha256: str | None = None  # the TFLite file the embeddings come from; None: the local file's
    version: int = 1

    def __post_init__(self):
        _check_rate(self.sr)


@dataclass(frozen=True)
class YamnetTrunkConfig:
    """Every setting that changes the cached trunk activations; bump ``version`` when the code changes them."""

    sr: int = SAMPLE_RATE  # must be YAMNet's 16 kHz; files are resampled on loading
    trim_db: float | None = TRIM_DB  # trim edge silence this many dB below the peak (None: keep)
    noise_floor_db: float | None = None  # white noise this many dB below the trimmed clip's power (None: none)
    phone_codec: str | None = None  # "gsm" / "ulaw": heard through that telephone chain first (None: as recorded)
    n_patches: int = 4  # patches per clip window: 4 patches = 2.415 s
    frozen_blocks: int = 11  # blocks 1..frozen_blocks are the frozen trunk; the blocks above are fine-tuned
    weights_sha256: str | None = None  # the TFLite file the activations come from; None: the local file's
    version: int = 1

    def __post_init__(self):
        _check_rate(self.sr)
        if self.n_patches < 1:
            raise ValueError(f"n_patches must be >= 1, got {self.n_patches}")
        trunk_shape(frozen_blocks=self.frozen_blocks)

    @property
    def n_frames(self) -> int:
        """Rows per clip, patches × trunk positions (the name ``feature_extraction`` reads for sequence sets)."""
        rows, cols, _ = trunk_shape(frozen_blocks=self.frozen_blocks)
        return self.n_patches * rows * cols


def resolve_weights(config: YamnetConfig | YamnetTrunkConfig) -> YamnetConfig | YamnetTrunkConfig:
    """``config`` with ``weights_sha256`` set: unchanged when it names a hash, else the local file's
    (``tflite_sha256``; finds the file, downloading it when missing)."""
    if config.weights_sha256 is not None:
        return config
    return replace(config, weights_sha256=tflite_sha256())


def yamnet_backbone(*, expected_sha256: str | None = None):
    """A fresh YAMNet ``keras.Model`` without its AudioSet head, (batch, 96, 64) patches -> (batch, 1024).

    With ``expected_sha256``, raises ValueError unless the local weights file has exactly that hash.
    """
    from ser_utils.yamnet.network import yamnet_from_tflite
    from ser_utils.yamnet.weights import MODEL_DIR_ENV_VAR, model_file

    path = model_file("tflite")
    if expected_sha256 is not None:
        found = tflite_sha256()
        if found != expected_sha256:
            raise ValueError(
                f"the YAMNet weights at {path} have sha256 {found}, but these features or this model "
                f"were made with {expected_sha256}; point ${MODEL_DIR_ENV_VAR} at that file, or "
                "re-extract and retrain with the weights you have"
            )
    return yamnet_from_tflite(path, include_head=False)


def window_samples(n_patches: int) -> int:
    """Samples of a 16 kHz waveform that gives exactly ``n_patches`` patches with no padding:
    15,600 + (n_patches - 1) × 7,680 (``yamnet_frontend``)."""
    from ser_utils.yamnet.frontend import MIN_SAMPLES, PATCH_HOP_SAMPLES

    if n_patches < 1:
        raise ValueError(f"n_patches must be >= 1, got {n_patches}")
    return MIN_SAMPLES + (n_patches - 1) * PATCH_HOP_SAMPLES


def fit_window(waveform: np.ndarray, *, n_samples: int) -> np.ndarray:
    """Centre-crop a longer (samples,) waveform to ``n_samples``, or repeat a shorter one from its start until
    it fills ``n_samples`` (so a short clip's window holds speech, not padding). Returns float32 (n_samples,)."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1 or waveform.size == 0:
        raise ValueError(f"waveform must be a non-empty 1-D array, got shape {waveform.shape}")
    if waveform.size >= n_samples:
        start = (waveform.size - n_samples) // 2
        return waveform[start : start + n_samples]
    return np.resize(waveform, n_samples)


def pool_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """Pool (patches, D) embeddings over patches: float32 (3 × D,) = mean, max, standard deviation (ddof 0)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"embeddings must be (patches >= 1, D), got shape {embeddings.shape}")
    return np.concatenate([embeddings.mean(axis=0), embeddings.max(axis=0), embeddings.std(axis=0)])


def yamnet_columns(config: YamnetConfig | None = None) -> tuple[str, ...]:
    """Names of the pooled embedding: ``yamnet_mean_0000`` … ``yamnet_std_1023`` (3 × 1024)."""
    from ser_utils.yamnet.network import EMBEDDING_SIZE

    return tuple(f"yamnet_{statistic}_{index:04d}" for statistic in STATISTICS for index in range(EMBEDDING_SIZE))


def yamnet_features(waveform: np.ndarray, *, config: YamnetConfig) -> np.ndarray:
    """Pooled embeddings (3072,) float32 of a (trimmed) mono (samples,) waveform at 16 kHz in [-1, 1]."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1 or waveform.size == 0:
        raise ValueError(f"waveform must be a non-empty 1-D array, got shape {waveform.shape}")
    return pool_embeddings(_cached_embedder(config.weights_sha256)(waveform))


def trunk_shape(*, frozen_blocks: int) -> tuple[int, int, int]:
    """(rows, cols, channels) of one patch after block ``frozen_blocks``, e.g. (6, 4, 512) after block 11."""
    shapes = _block_output_shapes()
    if frozen_blocks not in shapes or frozen_blocks == len(shapes):
        raise ValueError(
            f"frozen_blocks must be 1..{len(shapes) - 1} (at least one block left to fine-tune), got {frozen_blocks}"
        )
    return shapes[frozen_blocks]


def trunk_model(backbone, *, frozen_blocks: int):
    """The (batch, 96, 64) -> (batch, rows, cols, channels) part of a YAMNet ``backbone`` up to block
    ``frozen_blocks`` (its activation output): a ``keras.Model`` sharing the backbone's layers and weights."""
    import keras

    trunk_shape(frozen_blocks=frozen_blocks)
    output = backbone.get_layer(f"block{frozen_blocks}_pointwise_act").output
    return keras.Model(backbone.inputs, output, name=f"yamnet_trunk_{frozen_blocks}")


def trunk_columns(config: YamnetTrunkConfig) -> tuple[str, ...]:
    """Names of the last axis of ``trunk_features``: the trunk's channels, ``block11_ch000`` … ``block11_ch511``."""
    channels = trunk_shape(frozen_blocks=config.frozen_blocks)[2]
    return tuple(f"block{config.frozen_blocks}_ch{index:03d}" for index in range(channels))


def trunk_features(waveform: np.ndarray, *, config: YamnetTrunkConfig) -> np.ndarray:
    """Trunk activations of a (trimmed) mono (samples,) 16 kHz waveform: float16 (n_patches × rows × cols,
    channels), patch-major, then rows, then cols; reshape to (n_patches, rows, cols, channels) to use them.

    The waveform is first cut or repeated to ``window_samples(n_patches)`` (``fit_window``).
    """
    window = fit_window(waveform, n_samples=window_samples(config.n_patches))
    activations = _cached_trunk(config.weights_sha256, config.frozen_blocks)(window)
    return activations.reshape(-1, activations.shape[-1]).astype(np.float16)


def _check_rate(sr: int) -> None:
    if sr != SAMPLE_RATE:
        raise ValueError(f"YAMNet reads {SAMPLE_RATE} Hz audio; got sr={sr} (audio is resampled on loading)")


@lru_cache(maxsize=1)
def _block_output_shapes() -> dict[int, tuple[int, int, int]]:
    """Block number -> (rows, cols, channels) of its output for one patch, read off an untrained YAMNet."""
    from ser_utils.yamnet.network import BLOCKS, build_yamnet

    model = build_yamnet(include_head=False)
    return {
        block: tuple(model.get_layer(f"block{block}_pointwise_act").output.shape[1:])
        for block in range(1, len(BLOCKS) + 1)
    }


@lru_cache(maxsize=4)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """Hash of a file, remembered per (path, size, mtime) so configs built in a loop hash it once."""
    return file_sha256(path)


@lru_cache(maxsize=2)
def _cached_backbone(sha256: str):
    """One backbone per process and weights file, for extraction only (never trained)."""
    return yamnet_backbone(expected_sha256=sha256)


@lru_cache(maxsize=2)
def _cached_embedder(sha256: str):
    """The backbone's compiled waveform -> (patches, 1024) embeddings function (``compiled_patch_model``)."""
    from ser_utils.yamnet.network import compiled_patch_model

    return compiled_patch_model(_cached_backbone(sha256))


@lru_cache(maxsize=2)
def _cached_trunk(sha256: str, frozen_blocks: int):
    """The trunk's compiled waveform -> (patches, rows, cols, channels) activations function."""
    from ser_utils.yamnet.network import compiled_patch_model

    return compiled_patch_model(trunk_model(_cached_backbone(sha256), frozen_blocks=frozen_blocks))
