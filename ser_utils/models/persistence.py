"""Save and load a trained model folder: the model file plus ``model_card.json`` describing how to use it.

A model folder holds ``model.keras`` (Keras; its preprocessing, e.g. a Normalization layer, is inside)
or ``model.joblib`` (a scikit-learn pipeline whose scaler is inside), and ``model_card.json``:

    name, family ("keras" | "sklearn"), model_file, classes (class index order), sample_rate,
    input     {"kind": a predictor input kind, ...what that kind needs, e.g. feature_set, columns, config},
    protocol  {"name", "folds_file", "train_speakers", "val_speakers", ...},
    metrics   {"protocol", "pooled": {wa, uar, macro_f1}, "mean", "std", "per_fold": {fold: {...}}},
    training  {hyper-parameters, seed, ...},
    data      {"label", "corpora", "n_clips", "manifest_hash"},
    calibration {"temperature", "fitted_on", ...}: optional; the predictor divides log-probabilities by it,
    git_commit, created_utc, python, versions.
"""

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from ser_utils.io.atomic import atomic_write_text
from ser_utils.io.provenance import data_fingerprint, run_info

__all__ = [
    "CARD_FILE",
    "FOLDS_DIR",
    "KERAS_MODEL_FILE",
    "SKLEARN_MODEL_FILE",
    "model_card",
    "save_model",
    "read_card",
    "update_card",
    "deployable_models",
    "fold_model_families",
    "load_model",
    "predict_probabilities",
    "is_keras_model",
]

CARD_FILE = "model_card.json"
FOLDS_DIR = "folds"  # per-fold models live in <model dir>/folds/<fold>/
KERAS_MODEL_FILE = "model.keras"
SKLEARN_MODEL_FILE = "model.joblib"
CARD_SCHEMA_VERSION = 1
REQUIRED_CARD_KEYS = ("name", "classes", "sample_rate", "input")


def model_card(
    *,
    name: str,
    classes,
    sample_rate: int,
    input_spec: dict,
    manifest: pd.DataFrame,
    data_label: str,
    protocol: dict | None = None,
    metrics: dict | None = None,
    training: dict | None = None,
) -> dict:
    """A model card (schema in this module's docstring); ``input_spec`` must name its ``kind``."""
    if "kind" not in input_spec:
        raise ValueError("input_spec needs a 'kind' naming a predictor input kind, e.g. {'kind': 'tabular', ...}")
    info = run_info(data_label=data_label)
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "name": name,
        "classes": [str(label) for label in classes],
        "sample_rate": int(sample_rate),
        "input": input_spec,
        "protocol": protocol or {},
        "metrics": metrics or {},
        "training": training or {},
        "data": {
            "label": data_label,
            "corpora": sorted(set(manifest["corpus"])),
            "n_clips": len(manifest),
            "manifest_hash": data_fingerprint(manifest),  # the same fingerprint every results table records
        },
        **{key: info[key] for key in ("git_commit", "created_utc", "python", "versions")},
    }


def save_model(model, *, model_dir: Path, card: dict) -> Path:
    """Write ``model`` (a keras.Model or a fitted scikit-learn estimator) and ``card`` into ``model_dir``.

    The card's ``family`` and ``model_file`` are filled in here. Returns ``model_dir``.
    """
    missing = [key for key in REQUIRED_CARD_KEYS if key not in card]
    if missing:
        raise ValueError(f"model card lacks {missing}; build it with artifacts.model_card(...)")
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    if is_keras_model(model):
        family, model_file = "keras", KERAS_MODEL_FILE
        model.save(model_dir / model_file)
    elif hasattr(model, "predict_proba"):
        family, model_file = "sklearn", SKLEARN_MODEL_FILE
        joblib.dump(model, model_dir / model_file)
    else:
        raise ValueError(f"cannot save a {type(model).__name__}: pass a keras.Model or a fitted sklearn estimator")
    card = {**card, "family": family, "model_file": model_file}
    atomic_write_text(model_dir / CARD_FILE, json.dumps(card, indent=2, default=str))
    return model_dir


def read_card(model_dir: Path) -> dict:
    """The ``model_card.json`` of a folder written by ``save_model``."""
    card_path = Path(model_dir) / CARD_FILE
    if not card_path.is_file():
        raise ValueError(f"{model_dir} holds no {CARD_FILE}; pass a folder written by artifacts.save_model")
    return json.loads(card_path.read_text())


def update_card(model_dir: Path, **sections) -> dict:
    """Replace or add top-level ``sections`` of a saved model's card (e.g. ``calibration={...}``) atomically;
    the model file is untouched. Returns the new card."""
    card = {**read_card(model_dir), **sections}
    missing = [key for key in REQUIRED_CARD_KEYS if key not in card]
    if missing:
        raise ValueError(f"an updated card still needs {missing}")
    atomic_write_text(Path(model_dir) / CARD_FILE, json.dumps(card, indent=2, default=str))
    return card


def deployable_models(artifacts_dir: Path) -> pd.DataFrame:
    """The deployable model folders of a run: every ``<artifacts_dir>/<folder>/`` holding a model card
    (per-fold models under ``folds/`` are not listed). Columns: name (the card's), features (the card's
    ``training.features`` when recorded, else ""), model_dir."""
    rows = [
        {
            "name": card["name"],
            "features": str(card.get("training", {}).get("features", "")),
            "model_dir": card_path.parent,
        }
        for card_path in sorted(Path(artifacts_dir).glob(f"*/{CARD_FILE}"))
        for card in [json.loads(card_path.read_text())]
    ]
    return pd.DataFrame(rows, columns=["name", "features", "model_dir"])


def fold_model_families(artifacts_dir: Path) -> dict[str, str]:
    """{model name: family ("keras" | "sklearn")} of the cross-validation fold models of a run, read from the
    cards under ``<artifacts_dir>/*/folds/*/`` (named ``"<model> (<fold>)"``)."""
    families = {}
    for card_path in sorted(Path(artifacts_dir).glob(f"*/folds/*/{CARD_FILE}")):
        card = json.loads(card_path.read_text())
        families[card["name"].rsplit(" (", 1)[0]] = card["family"]
    return families


def load_model(model_dir: Path) -> tuple[object, dict]:
    """Read (model, card) from a folder written by ``save_model``."""
    model_dir = Path(model_dir)
    card = read_card(model_dir)
    model_path = model_dir / card.get("model_file", "")
    if not model_path.is_file():
        raise ValueError(f"{model_dir}: the card names model file {card.get('model_file')!r}, which is missing")
    if card["family"] == "keras":
        import keras  # only here: a scikit-learn model's predictor never loads TensorFlow (cold start)

        return keras.saving.load_model(model_path), card
    return joblib.load(model_path), card


def predict_probabilities(model, inputs: np.ndarray, *, n_classes: int, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (n, n_classes) for ``inputs`` (n, ...) from a Keras model or sklearn estimator.

    A scikit-learn estimator trained on integer labels that lacked some classes gets zero columns for them.
    """
    if len(inputs) == 0:
        return np.zeros((0, n_classes))
    if is_keras_model(model):  # direct calls: no per-model predict-function tracing
        import keras

        inputs = np.asarray(inputs, dtype=np.float32)
        batches = [
            model(inputs[start : start + batch_size], training=False) for start in range(0, len(inputs), batch_size)
        ]
        return np.concatenate([keras.ops.convert_to_numpy(batch) for batch in batches]).astype(float)
    probabilities = np.zeros((len(inputs), n_classes))
    probabilities[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(inputs)
    return probabilities


def is_keras_model(model) -> bool:
    """Whether ``model`` is a keras.Model, without importing Keras (a process that never imported it holds none)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)
