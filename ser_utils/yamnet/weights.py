"""Find YAMNet's files and turn the Coral TFLite file's int8 tensors into float Keras weights.

The weights are Google's AudioSet-trained YAMNet as Coral publishes it (google-coral/coralmicro,
``models/yamnet_spectra_in.tflite``, Apache-2.0): int8 per-channel quantised, BatchNorm folded into
the convolutions (so each conv has a bias), ReLU6 activations. Dequantising gives
``(q - zero_point) * scale`` per output channel for kernels, and ``q * input_scale * weight_scale``
for the int32 biases (the file stores that product as the bias scale).

Files are looked up in one folder, chosen in this order by ``resolve_model_dir`` (the only code that reads
the environment for them): the ``model_dir`` argument, ``$SER_YAMNET_DIR``, ``<project>/../shared/models/yamnet``
when it exists, else ``~/.cache/ser_utils/yamnet``. A missing file is downloaded there from its public
source (checked against its sha256, renamed into place only when complete); offline, ``YamnetFilesError``
(a ``NeedsUserAction``: the command line exits 3) names the path, the URL and the ways to fix it.
"""

import csv
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ser_utils.io.errors import NeedsUserAction
from ser_utils.io.http import DownloadError, download_file

__all__ = [
    "MODEL_DIR_ENV_VAR",
    "MODEL_FILES",
    "ModelFile",
    "YamnetFilesError",
    "resolve_model_dir",
    "model_file",
    "load_class_names",
    "read_tflite_weights",
    "load_tflite_weights",
]

MODEL_DIR_ENV_VAR = "SER_YAMNET_DIR"
SHARED_MODEL_DIR = Path(__file__).resolve().parents[3] / "shared" / "models" / "yamnet"  # <project>/../shared
N_CLASSES = 521


@dataclass(frozen=True)
class ModelFile:
    """One published YAMNet file: its name in the model folder, public URL, size and sha256."""

    name: str
    url: str
    size: int
    sha256: str


MODEL_FILES = {
    "tflite": ModelFile(
        name="yamnet_spectra_in.tflite",
        url="https://raw.githubusercontent.com/google-coral/coralmicro/main/models/yamnet_spectra_in.tflite",
        size=4_047_424,
        sha256="0a266465c46718f3fcc4137366be82882a8c93bfcc4f0278581a11d11dddcdf9",
    ),
    "class_map": ModelFile(
        name="yamnet_class_map.csv",
        url="https://raw.githubusercontent.com/tensorflow/models/master/research/audioset/yamnet/yamnet_class_map.csv",
        size=14_096,
        sha256="cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2",
    ),
}

# TFLite builtin op -> the Keras layer class its weights go into
_KERAS_LAYER_FOR_OP = {
    "CONV_2D": keras.layers.Conv2D,
    "DEPTHWISE_CONV_2D": keras.layers.DepthwiseConv2D,
    "FULLY_CONNECTED": keras.layers.Dense,
}


class YamnetFilesError(NeedsUserAction):
    """A YAMNet file is missing and could not be downloaded; the message says how to get it and where to put it."""


def resolve_model_dir(model_dir: Path | str | None = None) -> Path:
    """The folder YAMNet's files are read from (see the module docstring for the order)."""
    if model_dir is not None:
        return Path(model_dir)
    if os.environ.get(MODEL_DIR_ENV_VAR):
        return Path(os.environ[MODEL_DIR_ENV_VAR])
    if SHARED_MODEL_DIR.is_dir():
        return SHARED_MODEL_DIR
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "ser_utils" / "yamnet"


def model_file(kind: str, *, model_dir: Path | str | None = None, download: bool = True) -> Path:
    """Path of YAMNet file ``kind`` ("tflite" or "class_map"), downloading it when missing.

    Raises ValueError for an unknown kind and YamnetFilesError when the file is absent and
    ``download`` is False or the download fails.
    """
    if kind not in MODEL_FILES:
        raise ValueError(f"unknown YAMNet file '{kind}'; choose one of: {', '.join(MODEL_FILES)}")
    spec = MODEL_FILES[kind]
    path = resolve_model_dir(model_dir) / spec.name
    if path.is_file():
        return path
    hint = (
        f"fetch it with `python -m ser_utils download-yamnet --yamnet-dir {path.parent}` when online, "
        f"or download {spec.url} (sha256 {spec.sha256}) to {path} by hand, "
        f"or point --yamnet-dir or ${MODEL_DIR_ENV_VAR} at a folder holding {spec.name}"
    )
    if not download:
        raise YamnetFilesError(f"{path} not found; {hint}")
    try:
        return download_file(spec.url, dest=path, expected_size=spec.size, sha256=spec.sha256, progress=False)
    except (DownloadError, OSError) as error:
        raise YamnetFilesError(f"{path} not found and the download failed ({error}); {hint}") from error


def load_class_names(*, model_dir: Path | str | None = None) -> list[str]:
    """The 521 AudioSet display names in YAMNet's output order ("Speech", "Child speech, ...", ...)."""
    path = model_file("class_map", model_dir=model_dir)
    with open(path, newline="", encoding="utf-8") as handle:
        names = [row["display_name"] for row in csv.DictReader(handle)]
    if len(names) != N_CLASSES:
        raise ValueError(f"{path} lists {len(names)} classes, expected {N_CLASSES}")
    return names


def read_tflite_weights(path: Path | str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Dequantised (op, kernel, bias) for every conv/dense op of a TFLite file, in execution order.

    ``op`` is "CONV_2D", "DEPTHWISE_CONV_2D" or "FULLY_CONNECTED". Kernels come in Keras layout,
    float32: Conv2D (H, W, in, out) from TFLite's (out, H, W, in); DepthwiseConv2D (H, W, C, 1) from
    (1, H, W, C); Dense (in, out) from (out, in). Biases are float32 (out,).
    """
    with warnings.catch_warnings():  # tf.lite.Interpreter warns it will move to ai_edge_litert; still works
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=str(path))
    tensors = {details["index"]: details for details in interpreter.get_tensor_details()}
    weights = []
    # _get_ops_details is the interpreter's only way to list ops with their types and inputs.
    for op in interpreter._get_ops_details():
        if op["op_name"] not in _KERAS_LAYER_FOR_OP:
            continue
        _, kernel_index, bias_index = op["inputs"]
        kernel = _dequantize(tensors[kernel_index], interpreter.get_tensor(kernel_index))
        bias = _dequantize(tensors[bias_index], interpreter.get_tensor(bias_index))
        axes = (1, 0) if kernel.ndim == 2 else (1, 2, 3, 0)
        weights.append((op["op_name"], np.transpose(kernel, axes), bias))
    return weights


def load_tflite_weights(model: keras.Model, *, path: Path | str) -> None:
    """Set every Conv2D/DepthwiseConv2D/Dense of ``model``, in layer order, from the TFLite file.

    ``model`` must be ``build_yamnet(batch_norm=False, ...)`` (the file has BatchNorm folded into the
    conv biases); without the 521-way head the file's last (dense) tensor is left unused.
    Raises ValueError when the layer types, their number or any shape do not match the file.
    """
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
        raise ValueError("the TFLite weights have BatchNorm folded into the convs; build with batch_norm=False")
    layers = [layer for layer in model.layers if isinstance(layer, tuple(_KERAS_LAYER_FOR_OP.values()))]
    weights = read_tflite_weights(path)
    if len(layers) not in (len(weights), len(weights) - 1):
        raise ValueError(f"{model.name} has {len(layers)} conv/dense layers but {path} holds {len(weights)}")
    for layer, (op, kernel, bias) in zip(layers, weights, strict=False):
        if type(layer) is not _KERAS_LAYER_FOR_OP[op]:
            raise ValueError(f"layer {layer.name} is a {type(layer).__name__} but {path} has a {op} there")
        wanted, found = [tuple(weight.shape) for weight in layer.weights], [kernel.shape, bias.shape]
        if wanted != found:
            raise ValueError(f"layer {layer.name} wants shapes {wanted} but {path} has {found}")
        layer.set_weights([kernel, bias])


def _dequantize(details: dict, values: np.ndarray) -> np.ndarray:
    """Float32 values of a quantised tensor: (q - zero_point) * scale, per channel when the file says so."""
    quantization = details["quantization_parameters"]
    scales, zero_points = quantization["scales"], quantization["zero_points"]
    if scales.size == 0:
        return values.astype(np.float32)
    shape = [1] * values.ndim
    if scales.size > 1:
        shape[quantization["quantized_dimension"]] = scales.size
    if zero_points.size == 1:  # some converters store one zero point for all channels
        zero_points = np.full(scales.size, zero_points[0])
    centred = values.astype(np.float32) - zero_points.reshape(shape)
    return (centred * scales.reshape(shape)).astype(np.float32)
