"""Rebuild a predictor from a saved model folder alone and label audio files with emotions.

The card's ``input`` section says how audio becomes model input. Its ``kind`` names an entry of
``INPUT_KINDS``: ``"module:function"`` of a function

    function(paths: list[str], *, spec: dict, n_jobs: int) -> (inputs, reasons)

that turns audio files (any format and rate ``audio.load_audio`` reads) into ``inputs`` (n_ok, ...) for
the usable files, in order, and ``reasons`` (one str per path: "" when usable, else why not). ``spec`` is
the card's ``input`` dict. Every kind prepares audio with ``audio.prepare.prepare_waveform``, the
training-time preparation, so a clip the model was trained on is never refused here. Entries are imported
only when a model needs them; a new input kind adds one line here. The ``features`` kind covers every set
of ``features.extraction`` (handcrafted, egemaps, logmel, yamnet); build its spec with ``feature_input_spec``;
the ``waveform`` kind is the fine-tuned YAMNet's.

``WINDOW_KINDS`` does the same for in-memory waveforms (``timeline``'s sliding windows):

    function(waveforms: list[np.ndarray], *, spec: dict, n_jobs: int) -> (inputs, reasons)
"""

import importlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from joblib import Parallel, delayed

from ser_utils.audio.loading import AudioError, expand_audio_paths
from ser_utils.audio.prepare import prepare_waveform
from ser_utils.evaluation.calibration import apply_temperature
from ser_utils.features.assembly import column_positions, select_columns
from ser_utils.features.speaker_adaptation import SpeakerPrior, speaker_offset
from ser_utils.features.threads import one_thread
from ser_utils.models.persistence import load_model, predict_probabilities, read_card

__all__ = [
    "INPUT_KINDS",
    "WINDOW_KINDS",
    "LONG_CLIP_S",
    "CardProperties",
    "Predictor",
    "input_function",
    "feature_input_spec",
    "feature_inputs",
    "feature_window_inputs",
    "waveform_window_inputs",
    "load_predictor",
    "audio_file_list",
    "require_usable_enrolment",
    "prediction_table",
]

# openSMILE aborts (malloc error) in a process that has loaded TensorFlow: there eGeMAPS is computed in worker
# processes. A scikit-learn model's predictor never imports TensorFlow, so one file is labelled in this process.
MIN_WORKERS = 2
LONG_CLIP_S = 20.0  # a file longer than this gets one label and a note pointing at ``timeline``

INPUT_KINDS: dict[str, str] = {
    "features": "ser_utils.serving.predictor:feature_inputs",
    "waveform": "ser_utils.models.yamnet_finetune:waveform_inputs",
}
WINDOW_KINDS: dict[str, str] = {
    "features": "ser_utils.serving.predictor:feature_window_inputs",
    "waveform": "ser_utils.serving.predictor:waveform_window_inputs",
}


class CardProperties:
    """What every predictor reads off its ``card``: the classes and the calibration temperature."""

    card: dict

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    @property
    def temperature(self) -> float | None:
        """The card's calibration temperature (notebook 06 fits it), or None: probabilities as the model gives."""
        return self.card.get("calibration", {}).get("temperature")


@dataclass(frozen=True)
class Predictor(CardProperties):
    """A loaded model with its card; ``predict_files`` labels audio files."""

    model: object
    card: dict

    @property
    def speaker_prior(self) -> SpeakerPrior | None:
        """The card's ``adaptation`` prior of a speaker-adaptive model (inputs are centred by a speaker mean
        before the model sees them), or None for a model that takes each clip on its own."""
        section = self.card.get("adaptation")
        return SpeakerPrior.from_dict(section) if section else None

    def enrolment_offset(self, paths: Iterable[Path | str], *, n_jobs: int) -> tuple[np.ndarray, int]:
        """(offset (d,), clips used): the shrunk speaker mean (``speaker_adaptation.speaker_offset``) of the
        usable enrolment files ``paths`` (unlabelled clips of one voice; folders expanded). Raises ValueError for a
        model that is not speaker-adaptive or when no enrolment file is usable."""
        prior = self.speaker_prior
        if prior is None:
            raise ValueError(f"model {self.card.get('name')!r} is not speaker-adaptive (its card has no adaptation)")
        paths = audio_file_list(paths, what="enrolment audio")
        make_inputs = input_function(self.card["input"]["kind"])
        inputs, reasons = make_inputs(paths, spec=self.card["input"], n_jobs=max(1, min(n_jobs, len(paths))))
        require_usable_enrolment(reasons)
        return speaker_offset(inputs, prior=prior), len(inputs)

    def predict_files(
        self, paths: Iterable[Path | str], *, n_jobs: int, enrol: Iterable[Path | str] | None = None
    ) -> pd.DataFrame:
        """One row per file (folders expanded to every entry under them named like audio, broken links and
        folders included), in order: path, emotion, confidence, prob_<class> for every class, error ("" when
        fine; otherwise the reason, and NaN scores), note (a file over ``LONG_CLIP_S`` seconds: use ``timeline``).
        Probabilities are calibrated with the card's temperature when it has one (the label never changes).
        ``enrol``: unlabelled clips of the same voice for a speaker-adaptive model (``enrolment_offset``); the
        ``adaptation`` column says ``enrol-<k>`` then, else ``none`` (an adaptive model uses its prior mean).

        Up to ``n_jobs`` processes compute the inputs (worth it for many files; one file is done here).
        Raises ValueError when no file is given (a folder holding no audio gives none).
        """
        paths = audio_file_list(paths)
        offset, n_enrolled = self.enrolment_offset(enrol, n_jobs=n_jobs) if enrol is not None else (None, 0)
        make_inputs = input_function(self.card["input"]["kind"])
        inputs, reasons = make_inputs(paths, spec=self.card["input"], n_jobs=min(n_jobs, len(paths)))
        probabilities = self.probabilities(inputs, offset=offset) if len(inputs) else None
        adaptation = f"enrol-{n_enrolled}" if n_enrolled else "none"
        return prediction_table(paths, reasons, probabilities, classes=self.classes, adaptation=adaptation)

    def predict_waveforms(self, waveforms: list[np.ndarray], *, n_jobs: int = 1) -> tuple[np.ndarray, list[str]]:
        """Calibrated probabilities (n, n_classes) of in-memory mono float32 (samples,) waveforms at the card's
        ``sample_rate``, each prepared like a file (``prepare_waveform``); rows of unusable waveforms (silent,
        too short) are NaN and their reason is in the returned list ("" when usable)."""
        probabilities = np.full((len(waveforms), len(self.classes)), np.nan)
        if not waveforms:
            return probabilities, []
        make_inputs = window_function(self.card["input"]["kind"])
        inputs, reasons = make_inputs(list(waveforms), spec=self.card["input"], n_jobs=n_jobs)
        usable = np.array([not reason for reason in reasons], dtype=bool)
        if usable.any():
            probabilities[usable] = self.probabilities(inputs)
        return probabilities, reasons

    def probabilities(self, inputs: np.ndarray, *, offset: np.ndarray | None = None) -> np.ndarray:
        """Calibrated class probabilities (n, n_classes) of model inputs (n, ...) (the card's temperature).
        A speaker-adaptive model's inputs are first centred by ``offset`` (d,) (``enrolment_offset``), or by its
        prior mean when none is given."""
        prior = self.speaker_prior
        if prior is not None:
            inputs = (inputs - (prior.mean if offset is None else offset)).astype(np.float32)
        elif offset is not None:
            raise ValueError("an enrolment offset needs a speaker-adaptive model (its card has no adaptation)")
        # One thread: a request is a clip or a few, where OpenMP's start-up and spinning (HistGradientBoosting)
        # cost more than they save (8x slower on a busy 2-core machine). TensorFlow's own pool is not affected.
        with one_thread():
            probabilities = predict_probabilities(self.model, inputs, n_classes=len(self.classes))
        if self.temperature is not None:
            probabilities = apply_temperature(probabilities, self.temperature)
        return probabilities


def input_function(kind: str) -> Callable[..., tuple[np.ndarray, list[str]]]:
    """The registered input function of ``kind`` (imported on first use)."""
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}; known: {sorted(INPUT_KINDS)} (register it in INPUT_KINDS)")
    module, function = INPUT_KINDS[kind].split(":")
    return getattr(importlib.import_module(module), function)


def window_function(kind: str) -> Callable[..., tuple[np.ndarray, list[str]]]:
    """The registered in-memory-waveform input function of ``kind`` (imported on first use)."""
    if kind not in WINDOW_KINDS:
        raise ValueError(f"input kind {kind!r} has no waveform inputs; known: {sorted(WINDOW_KINDS)}")
    module, function = WINDOW_KINDS[kind].split(":")
    return getattr(importlib.import_module(module), function)


def feature_input_spec(feature_sets: list, *, columns: Iterable[str] | None = None) -> dict:
    """The card ``input`` section of a model fed ``feature_extraction.FeatureSet``s concatenated on their last
    axis, optionally reduced to ``columns`` (in that order): set names, configs, library versions, columns."""
    names = [column for features in feature_sets for column in features.columns]
    columns = names if columns is None else list(columns)
    column_positions(names, columns)  # raises ValueError naming unknown columns
    return {
        "kind": "features",
        "feature_sets": [features.name for features in feature_sets],
        "configs": {features.name: features.config["config"] for features in feature_sets},
        "libraries": {features.name: features.config["libraries"] for features in feature_sets},
        "columns": columns,
    }


def feature_inputs(paths: list[str], *, spec: dict, n_jobs: int) -> tuple[np.ndarray, list[str]]:
    """The ``features`` input kind: every set in ``spec`` extracted with its saved config (no cache; ``n_jobs``
    processes, one means this one), concatenated on the last axis and reduced to ``spec["columns"]``
    (``features.assembly.select_columns``). Returns (inputs (n_ok, ...), reasons).
    """
    from ser_utils.features.extraction import default_config, extract_features

    reasons, blocks, names = [""] * len(paths), [], []
    for name in spec["feature_sets"]:
        config = type(default_config(name))(**spec["configs"][name])
        features = extract_features(
            paths, feature_set=name, cache_dir=None, config=config, n_jobs=max(n_jobs, 1), progress=False
        )
        failed = dict(zip(features.failures["path"], features.failures["reason"], strict=True))
        reasons = [reason or failed.get(path, "") for path, reason in zip(paths, reasons, strict=True)]
        blocks.append((features.values, [path not in failed for path in paths]))
        names += list(features.columns)
    usable = np.array([not reason for reason in reasons], dtype=bool)
    values = np.concatenate([block[usable[np.asarray(kept)]] for block, kept in blocks], axis=-1)
    try:
        inputs, _ = select_columns(values, names=names, columns=spec["columns"])
    except ValueError as error:
        raise ValueError(f"the model's feature sets changed since training: {error}; retrain the model") from None
    return inputs.astype(np.float32), reasons


def feature_window_inputs(waveforms: list[np.ndarray], *, spec: dict, n_jobs: int) -> tuple[np.ndarray, list[str]]:
    """The ``features`` kind for in-memory waveforms at the sets' rate: like ``feature_inputs``, each window
    prepared as a file's clip would be. Runs here when ``n_jobs`` is 1 and openSMILE can (no TensorFlow loaded),
    else on worker processes (kept alive between calls). Returns (inputs (n_ok, ...), reasons)."""
    from ser_utils.features.extraction import default_config, feature_columns

    configs = {name: type(default_config(name))(**spec["configs"][name]) for name in spec["feature_sets"]}
    needs_workers = "egemaps" in configs and "tensorflow" in sys.modules
    n_jobs = max(min(n_jobs, len(waveforms)), MIN_WORKERS if needs_workers else 1)
    if n_jobs == 1:
        rows = [_window_features(waveform, configs) for waveform in waveforms]
    else:
        rows = Parallel(n_jobs=n_jobs)(delayed(_window_features)(waveform, configs) for waveform in waveforms)
    reasons = [reason for _, reason in rows]
    names = [column for name, config in configs.items() for column in feature_columns(name, config)]
    kept = [values for values, reason in rows if not reason]
    if not kept:
        return np.zeros((0, len(spec["columns"])), np.float32), reasons
    inputs, _ = select_columns(np.stack(kept), names=names, columns=spec["columns"])
    return inputs.astype(np.float32), reasons


def waveform_window_inputs(waveforms: list[np.ndarray], *, spec: dict, n_jobs: int) -> tuple[np.ndarray, list[str]]:
    """The ``waveform`` kind (fine-tuned YAMNet) for in-memory waveforms at ``spec["sample_rate"]``: prepared,
    then cut or repeated to ``spec["n_samples"]`` as ``models.yamnet_finetune.waveform_inputs`` does files."""
    from ser_utils.features.yamnet import fit_window

    kept, reasons = [], []
    for waveform in waveforms:
        try:
            prepared = prepare_waveform(waveform, sr=spec["sample_rate"], trim_db=spec["trim_db"])
        except AudioError as error:
            reasons.append(error.reason)
            continue
        kept.append(fit_window(prepared, n_samples=spec["n_samples"]))
        reasons.append("")
    inputs = np.stack(kept) if kept else np.zeros((0, spec["n_samples"]), np.float32)
    return inputs, reasons


def load_predictor(model_dir: Path | str) -> Predictor:
    """A ``Predictor`` from a folder written by ``artifacts.save_model`` or ``serving.export`` (nothing else is
    needed), or an ``serving.ensemble.EnsemblePredictor`` from one written by ``save_ensemble``. TensorFlow is
    imported only for a Keras (or TFLite) model."""
    card = read_card(Path(model_dir))
    if card.get("family") == "ensemble":
        from ser_utils.serving.ensemble import load_ensemble

        return load_ensemble(model_dir, card)
    if card.get("family") == "tflite":
        from ser_utils.serving.export import load_tflite

        model = load_tflite(Path(model_dir) / card["model_file"], n_classes=len(card["classes"]))
        return Predictor(model=model, card=card)
    input_function(card["input"]["kind"])  # imports the kind's module: its custom layers
    model, card = load_model(Path(model_dir))
    return Predictor(model=model, card=card)


def _window_features(waveform: np.ndarray, configs: dict) -> tuple[np.ndarray | None, str]:
    """One window's feature sets concatenated on the last axis, or (None, reason) when it is unusable."""
    from ser_utils.features.extraction import waveform_feature_sets

    try:
        blocks = waveform_feature_sets(waveform, configs=configs)
    except AudioError as error:
        return None, error.reason
    if not all(np.isfinite(block).all() for block in blocks):
        return None, "extraction gave non-finite values"
    return np.concatenate(blocks, axis=-1), ""


def audio_file_list(paths: Iterable[Path | str], *, what: str = "audio") -> list[str]:
    """The files ``paths`` name, folders expanded (``audio.loading.expand_audio_paths``); ValueError naming
    ``what`` files when there are none."""
    paths = [str(path) for path in expand_audio_paths(paths)]
    if not paths:
        raise ValueError(f"no {what} files given (folders are searched for their audio files)")
    return paths


def require_usable_enrolment(reasons: list[str]) -> None:
    """ValueError naming why when no enrolment file was usable (each of ``reasons`` non-empty)."""
    if all(reasons):
        raise ValueError(f"no usable enrolment clip among {len(reasons)} files ({'; '.join(set(reasons))})")


def prediction_table(
    paths: list[str], reasons: list[str], probabilities: np.ndarray | None, *, classes, adaptation: str
) -> pd.DataFrame:
    """``predict_files``'s table: one row per path with its reason ("" when usable); ``probabilities``
    (n_usable, n_classes) fill the usable rows in order (None when there are none)."""
    probability_columns = [f"prob_{name}" for name in classes]
    table = pd.DataFrame(
        {
            "path": paths,
            "emotion": "",
            "confidence": np.nan,
            **{column: np.nan for column in probability_columns},
            "error": reasons,
            "note": ["" if reason else _long_clip_note(path) for path, reason in zip(paths, reasons, strict=True)],
            "adaptation": adaptation,
        }
    )
    ok = table.index[table["error"].eq("")]
    if len(ok):
        table.loc[ok, probability_columns] = probabilities
        table.loc[ok, "confidence"] = probabilities.max(axis=1)
        table.loc[ok, "emotion"] = np.asarray(classes)[probabilities.argmax(axis=1)]
    return table


def _long_clip_note(path: str) -> str:
    """A hint for a file much longer than a model's window ("" otherwise or when its header is unreadable)."""
    try:
        seconds = sf.info(path).duration
    except (sf.LibsndfileError, RuntimeError, OSError):
        return ""
    if seconds <= LONG_CLIP_S:
        return ""
    return (
        f"{seconds:.0f} s is much longer than the model's few-second clips: this is one label for the whole file; "
        "use `python -m ser_utils timeline` for emotions over time"
    )
