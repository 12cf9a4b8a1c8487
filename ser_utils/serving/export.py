"""Export a saved Keras model folder to TensorFlow Lite (float32 or dynamic-range int8) and run it back.

An exported folder is a model folder like any other: ``model.tflite`` plus a ``model_card.json`` copied from the
Keras model's card with ``family: "tflite"``, ``model_file`` and an ``export`` section (source folder, precision,
size). ``serving.predictor.load_predictor`` reads it, so ``predict`` and ``timeline`` run the exported model with
the same input preparation (features are computed as for the Keras model; only the network is replaced).
"""

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ser_utils.io.atomic import atomic_write_bytes, atomic_write_text
from ser_utils.models.persistence import CARD_FILE, read_card

__all__ = ["PRECISIONS", "TFLITE_MODEL_FILE", "TfliteModel", "export_tflite", "load_tflite"]

PRECISIONS = ("float32", "int8")  # int8: dynamic-range quantisation (int8 weights, float activations)
TFLITE_MODEL_FILE = "model.tflite"


class TfliteModel:
    """A TFLite interpreter with the scikit-learn face ``models.persistence.predict_probabilities`` uses:
    ``classes_`` and ``predict_proba(inputs (n, ...)) -> (n, n_classes)``. Exported graphs take one clip at a
    time (batch 1: what an edge device does, and the only shape the fused LSTM kernels take), so rows are run
    one after another."""

    def __init__(self, content: bytes, *, n_classes: int):
        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter warns that it moves to ai_edge_litert
            warnings.simplefilter("ignore")
            self._interpreter = tf.lite.Interpreter(model_content=content, num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self.classes_ = np.arange(n_classes)
        self.size_bytes = len(content)

    def predict_proba(self, inputs: np.ndarray) -> np.ndarray:
        """Class probabilities (n, n_classes) of float32 ``inputs`` (n, ...), one interpreter call per row."""
        inputs = np.asarray(inputs, dtype=np.float32)
        rows = []
        for row in inputs:
            self._interpreter.set_tensor(self._input, row[None])
            self._interpreter.invoke()
            rows.append(self._interpreter.get_tensor(self._output)[0].astype(float))
        return np.stack(rows) if rows else np.zeros((0, len(self.classes_)))


def export_tflite(model_dir: Path | str, *, out_dir: Path | str, precision: str) -> Path:
    """Convert the Keras model of ``model_dir`` to TFLite at ``precision`` ("float32" or "int8") and write
    ``out_dir`` (``model.tflite`` + card). Returns ``out_dir``. Raises ValueError for a non-Keras model."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    card = read_card(model_dir)
    if card.get("family") != "keras":
        raise ValueError(
            f"{model_dir} holds a {card.get('family')!r} model; TFLite export takes Keras models "
            "(a scikit-learn model is already small and fast: serve it as it is)"
        )
    import tensorflow as tf

    from ser_utils.serving.predictor import load_predictor

    model = load_predictor(model_dir).model  # registers the input kind's custom layers before loading
    # A fixed batch of one keeps every op a TFLite builtin (an LSTM with a free batch needs TensorFlow's ops).
    signature = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    with tempfile.TemporaryDirectory() as saved_model:
        model.export(saved_model, format="tf_saved_model", input_signature=[signature], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        if precision == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
        try:
            content = converter.convert()
        except Exception as error:  # the converter raises its own types with pages of MLIR locations
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(
                f"{model_dir}: TFLite cannot convert this model with builtin ops ({first_line[:300]})"
            ) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / TFLITE_MODEL_FILE, content)
    exported = {
        **card,
        "name": f"{card['name']} (tflite {precision})",
        "family": "tflite",
        "model_file": TFLITE_MODEL_FILE,
        "export": {"from": str(model_dir), "precision": precision, "size_bytes": len(content)},
    }
    atomic_write_text(out_dir / CARD_FILE, json.dumps(exported, indent=2, default=str))
    return out_dir


def load_tflite(path: Path | str, *, n_classes: int) -> TfliteModel:
    """A ``TfliteModel`` for the ``.tflite`` file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is missing; export the model again (python -m ser_utils export)")
    return TfliteModel(path.read_bytes(), n_classes=n_classes)
