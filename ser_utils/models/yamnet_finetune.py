"""Fine-tune YAMNet's top blocks for emotion: train on cached trunk activations, deploy on raw waveforms.

The model, end to end: 16 kHz waveform -> YAMNet front end -> (patches, 96, 64) log-mel patches -> blocks
1..k frozen (AudioSet weights) -> blocks k+1..13 fine-tuned -> global average pool per patch -> (patches, 1024)
-> mean over the clip's patches -> dropout -> softmax over the emotions.

Training it on a CPU: blocks 1..k are frozen and the waveform is not augmented, so their output for a clip
is the same every epoch. ``features_yamnet.trunk_features`` computes it once per clip (cached as the
``yamnet_trunk`` feature set) and ``build_finetune_classifier`` trains only blocks k+1..13 and the head on
it, through ``tf.data``. That is mathematically the same model and the same gradient updates as training
on waveforms with the lower blocks frozen; the only difference is that the cached activations are stored
as float16 (relative rounding <= 2**-11). ``waveform_classifier`` then puts the fine-tuned blocks and head
back on the full backbone and front end, giving one ``.keras`` model that reads raw waveforms.

Training follows the keras.io transfer-learning recipe: first the new head alone with the backbone frozen
(``head_learning_rate``; the frozen clip embeddings are computed once for it), then the top blocks and head
together at a low ``learning_rate``, with balanced class weights and early stopping on the validation
speakers (``training.fit_model``) in both phases. ``build_finetune_classifier`` returns an uncompiled model;
both phases compile with ``training.compile_classifier``.

The deployable model's card input kind is ``waveform`` (``waveform_inputs``): any file ``audio.load_audio``
reads, prepared by ``audio.prepare.prepare_waveform`` exactly as feature extraction prepared the cached
activations (resampled to 16 kHz, too-short and silent clips refused, edge silence trimmed), then cut or
repeated to the training window.
"""

from pathlib import Path

import keras
import numpy as np
from joblib import Parallel, delayed
from keras import layers

from ser_utils.audio.loading import AudioError
from ser_utils.audio.prepare import prepare_waveform
from ser_utils.features.yamnet import (
    YamnetTrunkConfig,
    fit_window,
    resolve_weights,
    trunk_shape,
    window_samples,
    yamnet_backbone,
)
from ser_utils.models.training import (
    compile_classifier,
    distribution_strategy,
    dtype_policy,
    fit_model,
    make_dataset,
    training_policy,
)
from ser_utils.yamnet.network import build_waveform_model

__all__ = [
    "HEAD_LAYERS",
    "WARMUP_DIR",
    "top_model",
    "build_finetune_classifier",
    "train_finetune",
    "waveform_classifier",
    "waveform_input_spec",
    "waveform_inputs",
]

HEAD_LAYERS = ("clip_embedding", "head_dropout", "emotion")  # shared by the trunk and waveform classifiers
WARMUP_DIR = "warmup"  # the head-only phase logs into <work_dir>/warmup/


def top_model(backbone: keras.Model, *, frozen_blocks: int) -> keras.Model:
    """YAMNet above block ``frozen_blocks``: (batch, rows, cols, channels) -> (batch, 1024) embeddings.

    Calls the backbone's own layers (blocks ``frozen_blocks`` + 1 .. 13 and the embedding pool) on a new
    input, so the two models share weights. ``backbone`` is a headless YAMNet, a chain of layers.
    """
    rows, cols, channels = trunk_shape(frozen_blocks=frozen_blocks)
    names = [layer.name for layer in backbone.layers]
    first = names.index(f"block{frozen_blocks}_pointwise_act") + 1
    activations = keras.Input(shape=(rows, cols, channels), name=f"block{frozen_blocks}_output")
    x = activations
    for layer in backbone.layers[first : names.index("embedding") + 1]:
        x = layer(x)
    return keras.Model(activations, x, name=f"yamnet_top_{frozen_blocks + 1}")


def build_finetune_classifier(
    *, config: YamnetTrunkConfig, n_classes: int, dropout_rate: float = 0.3, backbone: keras.Model | None = None
) -> keras.Model:
    """Uncompiled: (batch, n_patches × rows × cols, channels) trunk activations (``trunk_features``) ->
    (batch, n_classes).

    Blocks above ``config.frozen_blocks`` start from ``backbone`` (default: a fresh YAMNet with the AudioSet
    weights ``config`` names); patch embeddings are averaged over the clip, then dropout and a softmax
    (float32, safe under mixed precision). The patch model is the layer ``patch_embeddings``.
    """
    if n_classes < 2 or not 0 <= dropout_rate < 1:
        raise ValueError(f"need n_classes >= 2 and 0 <= dropout_rate < 1; got {n_classes}, {dropout_rate}")
    backbone = yamnet_backbone(expected_sha256=config.weights_sha256) if backbone is None else backbone
    rows, cols, channels = trunk_shape(frozen_blocks=config.frozen_blocks)
    inputs = keras.Input(shape=(config.n_frames, channels), name="trunk_activations")
    x = layers.Reshape((config.n_patches, rows, cols, channels), name="patches")(inputs)
    x = layers.TimeDistributed(top_model(backbone, frozen_blocks=config.frozen_blocks), name="patch_embeddings")(x)
    x = layers.GlobalAveragePooling1D(name=HEAD_LAYERS[0])(x)
    x = layers.Dropout(dropout_rate, name=HEAD_LAYERS[1])(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name=HEAD_LAYERS[2])(x)
    return keras.Model(inputs, outputs, name="yamnet_finetune")


def train_finetune(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    n_classes: int,
    work_dir: Path,
    config: YamnetTrunkConfig,
    warmup_epochs: int,
    epochs: int,
    batch_size: int,
    head_learning_rate: float,
    learning_rate: float,
    patience: int,
    seed: int,
    precision: str = "float32",
) -> keras.Model:
    """Fit ``build_finetune_classifier`` on trunk activations (n, frames, channels) with integer labels (n,).

    Phase 1 (``warmup_epochs``, 0 skips it): the head alone at ``head_learning_rate``. With the top blocks
    frozen, each clip's pooled embedding is fixed, so it is computed once and the head (dropout + softmax, the
    very layers of the model) is fitted on it: the same training as through the frozen blocks, at a fraction
    of the cost. Logged in ``<work_dir>/warmup/``. Phase 2 (``epochs``): the top blocks and head together at
    ``learning_rate`` (Adam), logged in ``work_dir``. Both phases use balanced class weights and stop early on
    ``x_val`` (validation speakers only), keeping the best weights. The head's dropout is the builder's.
    ``precision`` (``training.PRECISIONS``; ``auto``: bfloat16 on a CPU with bfloat16 units, where it trains about
    1.5x faster) is the arithmetic of both phases; the returned model computes in float32 either way (the trained
    weights, which mixed precision keeps in float32, copied into a float32 build).
    Fits the experiment loop's training-function contract (bind ``config`` and the knobs with
    ``functools.partial``).
    """
    if len(x_val) == 0:
        raise ValueError("fine-tuning stops early on validation clips; give the fold validation speakers")
    strategy = distribution_strategy()
    policy = training_policy(precision)
    with dtype_policy(policy), strategy.scope():
        model = build_finetune_classifier(config=config, n_classes=n_classes)
    fit = {"train_labels": y_train, "n_classes": n_classes, "patience": patience}
    if warmup_epochs:
        embed = keras.Model(model.inputs, model.get_layer(HEAD_LAYERS[0]).output)
        train_embeddings, val_embeddings = (
            embed.predict(x, batch_size=batch_size, verbose=0) for x in (x_train, x_val)
        )
        with strategy.scope():
            head = compile_classifier(_head_model(model), learning_rate=head_learning_rate)
        fit_model(
            head,
            train=make_dataset(train_embeddings, y_train, batch_size=batch_size, shuffle=True, seed=seed),
            val=make_dataset(val_embeddings, y_val, batch_size=batch_size),
            epochs=warmup_epochs,
            work_dir=Path(work_dir) / WARMUP_DIR,
            label="fine-tune, head",
            **fit,
        )
    with strategy.scope():
        compile_classifier(model, learning_rate=learning_rate)
    fit_model(
        model,
        train=make_dataset(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed),
        val=make_dataset(x_val, y_val, batch_size=batch_size),
        epochs=epochs,
        work_dir=Path(work_dir),
        label=f"fine-tune, blocks {config.frozen_blocks + 1}+ and head",
        **fit,
    )
    if policy == "float32":
        return model
    with dtype_policy("float32"), strategy.scope():
        full_precision = compile_classifier(
            build_finetune_classifier(config=config, n_classes=n_classes), learning_rate=learning_rate
        )
    full_precision.set_weights(model.get_weights())
    return full_precision


def waveform_classifier(classifier: keras.Model, *, config: YamnetTrunkConfig) -> keras.Model:
    """The deployable model: (batch, samples) 16 kHz waveforms in [-1, 1] -> (batch, n_classes) probabilities.

    Front end + a fresh YAMNet whose blocks above ``config.frozen_blocks`` take ``classifier``'s fine-tuned
    weights (the blocks below keep the AudioSet weights they were frozen at) + ``classifier``'s head layers.
    Built in float32 whatever the global precision policy, for inference anywhere. Any clip length works;
    feed clips prepared like the training windows (``waveform_inputs``) to get the evaluated behaviour.
    """
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        backbone = yamnet_backbone(expected_sha256=config.weights_sha256)
        for layer in classifier.get_layer("patch_embeddings").layer.layers:
            if layer.weights:
                backbone.get_layer(layer.name).set_weights(layer.get_weights())
        patch_embeddings = build_waveform_model(backbone)
        x = patch_embeddings.output
        for name in HEAD_LAYERS:
            x = classifier.get_layer(name)(x)
        return keras.Model(patch_embeddings.input, x, name="yamnet_finetuned")
    finally:
        keras.config.set_dtype_policy(policy)


def waveform_input_spec(config: YamnetTrunkConfig) -> dict:
    """The card ``input`` section of a ``waveform_classifier``: kind ``waveform`` and how clips were prepared
    (``weights_sha256``: the config's, or the local weights file's when it names none)."""
    config = resolve_weights(config)
    return {
        "kind": "waveform",
        "sample_rate": config.sr,
        "trim_db": config.trim_db,
        "n_samples": window_samples(config.n_patches),
        "weights_sha256": config.weights_sha256,
    }


def waveform_inputs(paths: list[str], *, spec: dict, n_jobs: int) -> tuple[np.ndarray, list[str]]:
    """The ``waveform`` input kind: each file through ``audio.prepare.prepare_waveform`` at
    ``spec["sample_rate"]`` with ``spec["trim_db"]`` (the training-time preparation), then cut or repeated
    to ``n_samples``, on ``n_jobs`` threads. Returns (float32 (n_ok, n_samples), reasons): one reason per path,
    "" when usable, else the reason feature extraction would record (undecodable, too short, silent)."""
    jobs = (delayed(_prepared_waveform)(path, spec) for path in paths)
    prepared = Parallel(n_jobs=n_jobs, prefer="threads")(jobs)
    kept = [waveform for waveform, reason in prepared if not reason]
    inputs = np.stack(kept) if kept else np.zeros((0, spec["n_samples"]), np.float32)
    return inputs, [reason for _, reason in prepared]


def _head_model(classifier: keras.Model) -> keras.Model:
    """(batch, 1024) pooled clip embeddings -> probabilities, through ``classifier``'s own head layers."""
    embeddings = keras.Input(shape=classifier.get_layer(HEAD_LAYERS[0]).output.shape[1:], name="clip_embeddings")
    x = embeddings
    for name in HEAD_LAYERS[1:]:
        x = classifier.get_layer(name)(x)
    return keras.Model(embeddings, x, name="emotion_head")


def _prepared_waveform(path: str, spec: dict) -> tuple[np.ndarray | None, str]:
    try:
        waveform = prepare_waveform(path, sr=spec["sample_rate"], trim_db=spec["trim_db"])
    except AudioError as error:
        return None, error.reason
    return fit_window(waveform, n_samples=spec["n_samples"]), ""
