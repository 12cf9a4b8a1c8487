"""YAMNet's MobileNet-v1 backbone in Keras 3: (96, 64) log-mel patches -> 1024-d embeddings and scores.

Layout (Google's ``yamnet.py``): a 3x3/2 conv with 32 filters, then 13 depthwise-separable blocks
(3x3 depthwise conv, 1x1 pointwise conv), "same" padding throughout, each conv followed by its
activation; global average pooling gives the 1024-d embedding; an optional dense + sigmoid head
gives the 521 AudioSet scores.

Layer names, for fine-tuning and sub-models: ``stem_conv`` / ``stem_act``;
``block{1..13}_depthwise``, ``block{n}_depthwise_act``, ``block{n}_pointwise``, ``block{n}_pointwise_act``
(plus ``..._bn`` layers with ``batch_norm=True``); ``embedding``; ``logits`` and ``scores`` for the head.
"""

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ser_utils.yamnet import frontend
from ser_utils.yamnet import weights as yamnet_weights

__all__ = [
    "BLOCKS",
    "EMBEDDING_SIZE",
    "build_yamnet",
    "yamnet_from_tflite",
    "embedding_model",
    "unfreeze_top_blocks",
    "build_waveform_model",
    "embed_waveform",
    "compiled_patch_model",
]

STEM_FILTERS = 32  # the 3x3/2 conv before the separable blocks
BLOCKS = (  # (depthwise stride, pointwise filters) for blocks 1..13
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
)
EMBEDDING_SIZE = 1024
BATCHNORM_EPSILON = 1e-4  # Google's float release: BatchNorm(center=True, scale=False, epsilon=1e-4)


def build_yamnet(
    *, activation: str = "relu6", batch_norm: bool = False, include_head: bool = True, name: str = "yamnet"
) -> keras.Model:
    """YAMNet with random weights. Input (batch, 96, 64) log-mel patches (see ``yamnet_frontend``).

    ``activation``: any Keras activation name; "relu6" for the Coral weights, "relu" for Google's
    float release. ``batch_norm``: False gives conv layers with biases (BatchNorm folded, the form the
    Coral weights need); True gives bias-free convs each followed by BatchNormalization.
    Output: (batch, 1024) embeddings when ``include_head`` is False; otherwise a dict
    ``{"embeddings": (batch, 1024), "scores": (batch, 521)}`` with sigmoid scores in [0, 1].
    """
    patches = keras.Input(shape=(frontend.PATCH_FRAMES, frontend.N_MELS), name="log_mel_patches")
    x = keras.layers.Reshape((frontend.PATCH_FRAMES, frontend.N_MELS, 1), name="add_channel")(patches)
    # "same" padding as Google's (TF-style: the extra row/column of a stride-2 conv goes at the end);
    # with BatchNorm the conv needs no bias, BatchNorm's beta is the offset
    conv = {"padding": "same", "use_bias": not batch_norm}
    after_conv = {"activation": activation, "batch_norm": batch_norm}
    x = keras.layers.Conv2D(STEM_FILTERS, 3, strides=2, name="stem_conv", **conv)(x)
    x = _normalize_and_activate(x, name="stem", **after_conv)
    for block, (stride, filters) in enumerate(BLOCKS, start=1):
        x = keras.layers.DepthwiseConv2D(3, strides=stride, name=f"block{block}_depthwise", **conv)(x)
        x = _normalize_and_activate(x, name=f"block{block}_depthwise", **after_conv)
        x = keras.layers.Conv2D(filters, 1, name=f"block{block}_pointwise", **conv)(x)
        x = _normalize_and_activate(x, name=f"block{block}_pointwise", **after_conv)
    embeddings = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    if not include_head:
        return keras.Model(patches, embeddings, name=name)
    logits = keras.layers.Dense(yamnet_weights.N_CLASSES, name="logits")(embeddings)
    scores = keras.layers.Activation("sigmoid", name="scores")(logits)
    return keras.Model(patches, {"embeddings": embeddings, "scores": scores}, name=name)


def yamnet_from_tflite(
    path: Path | str | None = None, *, include_head: bool = True, model_dir: Path | str | None = None
) -> keras.Model:
    """``build_yamnet(activation="relu6")`` with the AudioSet weights of the Coral TFLite file.

    ``path``: the .tflite file; by default ``yamnet_spectra_in.tflite`` in ``model_dir`` (resolved and,
    when missing, downloaded by ``yamnet_weights.model_file``).
    """
    if path is None:
        path = yamnet_weights.model_file("tflite", model_dir=model_dir)
    model = build_yamnet(activation="relu6", batch_norm=False, include_head=include_head)
    yamnet_weights.load_tflite_weights(model, path=path)
    return model


def embedding_model(model: keras.Model) -> keras.Model:
    """The (batch, 96, 64) -> (batch, 1024) part of a YAMNet model, sharing its layers and weights."""
    return keras.Model(model.inputs, model.get_layer("embedding").output, name=f"{model.name}_embedding")


def unfreeze_top_blocks(model: keras.Model, *, n_blocks: int) -> None:
    """Make only the top ``n_blocks`` separable blocks (13 - n_blocks + 1 .. 13) and the head trainable.

    ``n_blocks`` = 0 freezes the whole backbone (a fixed feature extractor); 13 unfreezes every block
    but keeps the stem conv frozen (set ``model.trainable = True`` to train everything). Frozen
    BatchNormalization layers run in inference mode. Recompile the model afterwards.
    """
    if not 0 <= n_blocks <= len(BLOCKS):
        raise ValueError(f"n_blocks must be between 0 and {len(BLOCKS)}, got {n_blocks}")
    model.trainable = True
    first_trainable = len(BLOCKS) - n_blocks + 1
    for layer in model.layers:
        if layer.name.startswith("stem_"):
            layer.trainable = False
        elif layer.name.startswith("block"):
            block = int(layer.name[len("block") :].split("_")[0])
            layer.trainable = block >= first_trainable


def build_waveform_model(backbone: keras.Model, *, n_samples: int | None = None) -> keras.Model:
    """Wrap a patch -> embedding ``backbone`` into (batch, samples) 16 kHz waveform -> (batch, patches, 1024).

    ``backbone`` maps (batch, 96, 64) to one (batch, D) tensor, e.g. ``embedding_model(yamnet)`` or
    ``yamnet_from_tflite(include_head=False)``; its weights are shared. ``n_samples`` fixes the clip
    length (and so the number of patches, ``yamnet_frontend.num_patches``); None accepts any length.

    Example, a clip classifier to fine-tune:

    ```python
    backbone = yamnet_from_tflite(include_head=False)
    unfreeze_top_blocks(backbone, n_blocks=2)
    waveform_model = build_waveform_model(backbone, n_samples=48_000)
    clip_embedding = keras.layers.GlobalAveragePooling1D()(waveform_model.output)
    emotion = keras.layers.Dense(8, activation="softmax")(clip_embedding)
    classifier = keras.Model(waveform_model.input, emotion)
    ```
    """
    waveforms = keras.Input(shape=(n_samples,), name="waveforms")
    patches = frontend.YamnetFrontend(name="log_mel_frontend")(waveforms)
    embeddings = keras.layers.TimeDistributed(backbone, name="patch_embeddings")(patches)
    return keras.Model(waveforms, embeddings, name=f"{backbone.name}_waveform")


def embed_waveform(waveform: np.ndarray, *, backbone: keras.Model) -> np.ndarray:
    """Per-patch embeddings (patches, D) float32 of one (samples,) 16 kHz waveform in [-1, 1].

    patches = ``yamnet_frontend.num_patches(samples)``; average over axis 0 for one clip vector.
    """
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"waveform must have shape (samples,), got {waveform.shape}")
    patches = frontend.waveform_to_patches(waveform.astype(np.float32, copy=False))
    return keras.ops.convert_to_numpy(backbone(patches, training=False))


def compiled_patch_model(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """``model`` applied to the YAMNet patches of one (samples,) 16 kHz waveform, front end included, as one compiled
    TensorFlow graph: (samples,) float32 -> numpy output (patches, ...). The same numbers as ``embed_waveform``'s
    eager layers for a backbone, several times faster per clip (TensorFlow runs the graph without Python per layer),
    so extraction over many clips builds it once and calls it per clip."""
    graph = tf.function(
        lambda waveform: model(frontend.waveform_to_patches(waveform), training=False),
        input_signature=[tf.TensorSpec([None], tf.float32)],
    )

    def apply(waveform: np.ndarray) -> np.ndarray:
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.ndim != 1:
            raise ValueError(f"waveform must have shape (samples,), got {waveform.shape}")
        return graph(waveform).numpy()

    return apply


def _normalize_and_activate(x, *, name: str, activation: str, batch_norm: bool):
    """The BatchNorm (when not folded) and activation that follow every YAMNet conv."""
    if batch_norm:
        batch_norm_layer = keras.layers.BatchNormalization(scale=False, epsilon=BATCHNORM_EPSILON, name=f"{name}_bn")
        x = batch_norm_layer(x)
    return keras.layers.Activation(activation, name=f"{name}_act")(x)
