"""Score saved per-fold models on corrupted held-out audio: how far each family falls, how often labels flip.

For every fold model of a run (``<artifacts_dir>/<model>__<features>/folds/<fold>/``, input kind ``features``)
each test clip of a seeded, speaker-stratified subset is corrupted (``audio.corruption``), written as a 16-bit
FLAC keyed by the clean file's content, the condition, the severity and the seed, and run through the feature
extraction the predictor uses (the card's configs, ``features.extraction`` with its content-keyed cache), so a
re-run reads every corrupted clip and feature from disk. Babble for a fold is mixed from 4-7 of its training and
validation speakers, never its test speakers. ``robustness_table`` turns the per-clip predictions into the ser-tests
measures: ``delta_uar`` = UAR(corrupted) - UAR(clean) on the same clips, ``unchanged`` = the share of clips whose
label did not change. ``ensemble_predictions`` adds the saved ensemble of notebook 06: per fold, its members'
fold models' probabilities averaged with the weights chosen for that fold on the other folds.
"""

import json
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor

from ser_utils.audio.corruption import CONDITIONS, corrupt
from ser_utils.audio.loading import load_audio
from ser_utils.audio.prepare import prepare_waveform
from ser_utils.evaluation.fusion import ENSEMBLE, ENSEMBLE_FEATURES, log_linear_pool
from ser_utils.evaluation.metrics import score
from ser_utils.evaluation.protocol import Fold
from ser_utils.features.assembly import select_columns
from ser_utils.features.cache import HASH_MEMO_NAME, HashMemo
from ser_utils.features.extraction import default_config, extract_features
from ser_utils.models.persistence import CARD_FILE, FOLDS_DIR, load_model, predict_probabilities, read_card

__all__ = [
    "CLEAN",
    "SER_TESTS_THRESHOLDS",
    "FoldModel",
    "fold_models",
    "evaluation_subset",
    "babble_talkers",
    "corrupted_paths",
    "corrupt_subset",
    "condition_features",
    "set_key",
    "predict_conditions",
    "score_robustness",
    "ensemble_predictions",
    "robustness_table",
    "threshold_verdicts",
    "deployment_check",
]

CLEAN = ("clean", "")  # the (condition, severity) of the untouched clips every delta is taken against
TABLE_COLUMNS = ("model", "features", "condition", "severity", "n", "wa", "uar", "delta_uar", "unchanged")
# ser-tests' pass marks: (condition, severity) -> (minimum delta UAR, minimum share unchanged)
SER_TESTS_THRESHOLDS = {
    ("white_noise", "20.0"): (-0.05, 0.90),
    ("babble", "20.0"): (-0.05, 0.90),
    ("pink_noise", "20.0"): (-0.05, 0.90),
    ("telephone", "gsm"): (-0.05, 0.50),
    ("telephone", "ulaw"): (-0.05, 0.50),
    ("reverb", "0.3"): (-0.02, 0.80),
    ("reverb", "0.6"): (-0.02, 0.80),
    ("spectral_tilt", "-3.0"): (-0.02, 0.80),
    ("spectral_tilt", "3.0"): (-0.02, 0.80),
    **{("small_change", change): (-1.0, 0.95) for change in CONDITIONS["small_change"].severities},
}
PREDICTION_COLUMNS = ("model", "features", "condition", "severity", "fold", "path", "y_true", "y_pred")
PROBABILITY_PREFIX = "prob_"  # then the class name: one column per class, as in results.predictions_table
AUDIO_SUBTYPE = "PCM_16"
TENSORFLOW_SETS = ("yamnet",)  # feature sets whose extraction loads TensorFlow (yamnet, yamnet_trunk)
# The deployment bar: ser-tests' 20 dB noise marks, most labels kept through a phone, clean UAR near the best
DEPLOYMENT_NOISE = (("white_noise", "20.0"), ("babble", "20.0"))
DEPLOYMENT_PHONE = ("telephone", "gsm")
DEPLOYMENT_MIN_PHONE_UNCHANGED = 0.70
DEPLOYMENT_MAX_CLEAN_GAP = 0.02


@dataclass(frozen=True)
class FoldModel:
    """One saved fold model: family ``model``, its feature view ``features``, ``fold`` and folder."""

    model: str
    features: str
    fold: str
    model_dir: Path

    @property
    def card(self) -> dict:
        return json.loads((self.model_dir / CARD_FILE).read_text())


def fold_models(artifacts_dir: Path, *, models: list[str] | None = None) -> list[FoldModel]:
    """Every fold model under ``<artifacts_dir>/<folder>/folds/<fold>/`` fed plain features (the predictor's
    ``features`` input kind; speaker-standardised research variants are left out), optionally only the model
    names in ``models``. ``features`` is the folder's ``__<features>`` suffix, else its feature sets joined."""
    found = []
    for card_path in sorted(Path(artifacts_dir).glob(f"*/folds/*/{CARD_FILE}")):
        card = json.loads(card_path.read_text())
        name = card["name"].rsplit(" (", 1)[0]
        if card["input"].get("kind") != "features" or (models is not None and name not in models):
            continue
        folder = card_path.parents[2].name
        features = folder.split("__", 1)[1] if "__" in folder else "+".join(card["input"]["feature_sets"])
        found.append(FoldModel(name, features, card_path.parent.name, card_path.parent))
    return found


def evaluation_subset(
    manifest: pd.DataFrame, folds: list[Fold], *, fraction: float | None, seed: int, exclude=()
) -> pd.DataFrame:
    """A seeded ``fraction`` (0, 1] of every test speaker's clips (at least one each), in manifest order, with
    a ``fold`` column naming the fold that tests the speaker. Clips whose path is in ``exclude`` are never drawn
    (a second subset disjoint from a first: the count per speaker is still ``fraction`` of all their clips);
    ``fraction`` None takes every clip that is not excluded."""
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"fraction is a share of each speaker's clips in (0, 1], got {fraction}")
    fold_of = {speaker: fold.name for fold in folds for speaker in fold.test_speakers}
    rows = manifest[manifest["speaker"].isin(fold_of)]
    excluded = rows["path"].isin(set(exclude))
    picked = []
    for speaker, group in rows.groupby("speaker", sort=True):
        free = group[~excluded.loc[group.index]]
        n_clips = len(free) if fraction is None else max(1, round(fraction * len(group)))
        if len(free) < n_clips:
            raise ValueError(f"speaker {speaker} has {len(free)} clips left to draw, fewer than {n_clips}")
        picked.append(free.sample(n=n_clips, random_state=seed).index)
    subset = rows.loc[sorted(np.concatenate(picked))].reset_index(drop=True)
    return subset.assign(fold=subset["speaker"].map(fold_of))


def babble_talkers(
    manifest: pd.DataFrame, speakers, *, sr: int, seed: int, n_talkers: tuple[int, int] = (4, 7)
) -> list[np.ndarray]:
    """Waveforms (edge silence trimmed) of 4-7 (``n_talkers``, inclusive) random clips of distinct ``speakers``:
    babble sources. Pass speakers who are not evaluated (a fold's training and validation speakers). With fewer
    speakers than talkers (the demo corpus) a speaker lends more than one clip."""
    rng = np.random.default_rng(seed)
    speakers = sorted(set(speakers) & set(manifest["speaker"]))
    if not speakers:
        raise ValueError("babble needs speakers outside the evaluated ones; none of them is in the manifest")
    count = int(rng.integers(n_talkers[0], n_talkers[1] + 1))
    chosen = rng.choice(speakers, size=count, replace=len(speakers) < count)
    clips = manifest[manifest["speaker"].isin(chosen)]
    paths = [rng.choice(clips.loc[clips["speaker"].eq(speaker), "path"].to_numpy()) for speaker in chosen]
    return [prepare_waveform(path, sr=sr, trim_db=30.0) for path in paths]


def corrupted_paths(
    paths: list[str],
    *,
    condition: str,
    severity,
    audio_dir: Path,
    sr: int,
    seed: int,
    n_jobs: int,
    talkers: list[np.ndarray] | None = None,
    talkers_label: str = "",
) -> list[str]:
    """The corrupted copy of every clip of ``paths``, in order: ``<audio_dir>/<condition>/<severity>[/<talkers_label>]/
    <ab>/<sha256>-<seed>.flac``, written only when missing. Each clip's seed mixes ``seed`` with its content hash,
    so a clip gets the same corruption in every run. ``talkers_label`` names the babble sources (e.g. a fold)."""
    memo = HashMemo(Path(audio_dir) / HASH_MEMO_NAME)
    digests = [memo.sha256(path) for path in paths]
    memo.save()
    folder = Path(audio_dir) / condition / str(severity) / talkers_label
    targets = [folder / digest[:2] / f"{digest}-{seed}.flac" for digest in digests]
    missing = [index for index, target in enumerate(targets) if not target.is_file()]
    jobs = (
        delayed(_write_corrupted)(
            paths[index], targets[index], condition, severity, sr, _clip_seed(seed, digests[index]), talkers
        )
        for index in missing
    )
    Parallel(n_jobs=n_jobs)(jobs)
    return [str(target) for target in targets]


def corrupt_subset(
    subset: pd.DataFrame,
    *,
    manifest: pd.DataFrame,
    folds: list[Fold],
    conditions: list[tuple[str, object]],
    audio_dir: Path,
    sr: int,
    seed: int,
    n_jobs: int,
) -> dict[tuple[str, str], list[str]]:
    """{(condition, severity as text): corrupted paths aligned with ``subset`` rows}, ``CLEAN`` first (the clean
    paths). Babble is mixed per fold (``babble_talkers`` of its training speakers, seeded by ``seed``)."""
    paths = {CLEAN: list(subset["path"])}
    for condition, severity in conditions:
        corrupted = np.empty(len(subset), dtype=object)
        groups = subset.groupby("fold", sort=True) if CONDITIONS[condition].needs_talkers else [("", subset)]
        for fold_name, rows in groups:
            talkers = None
            if fold_name:
                fold = next(fold for fold in folds if fold.name == fold_name)
                talkers = babble_talkers(manifest, fold.train_speakers + fold.val_speakers, sr=sr, seed=seed)
            corrupted[rows.index] = corrupted_paths(
                list(rows["path"]),
                condition=condition,
                severity=severity,
                audio_dir=audio_dir,
                sr=sr,
                seed=seed,
                n_jobs=n_jobs,
                talkers=talkers,
                talkers_label=fold_name,
            )
        paths[(condition, str(severity))] = list(corrupted)
    return paths


def condition_features(
    paths_by_condition: dict[tuple[str, str], list[str]], *, specs: list[dict], cache_dir: Path | None, n_jobs: int
) -> dict[tuple[str, str], tuple[list[str], dict]]:
    """{(condition, severity): (paths, {``set_key``: ``extraction.FeatureSet``})} for every feature set and config
    named in the model cards' input ``specs`` (two models may read one set with different configs, e.g. two
    trims), extracted with the card's config (what ``serving.predictor`` does), through the cache. Sets that run
    TensorFlow go last and their worker processes are shut down afterwards: openSMILE aborts in a process that has
    loaded TensorFlow, and joblib reuses its workers. Warns about failed clips."""
    configs = {}
    for spec in specs:
        for name in spec["feature_sets"]:
            configs[set_key(name, spec["configs"][name])] = (name, type(default_config(name))(**spec["configs"][name]))
    features = {key: (paths, {}) for key, paths in paths_by_condition.items()}
    for key in sorted(configs, key=lambda key: configs[key][0].startswith(TENSORFLOW_SETS)):
        name, config = configs[key]
        for condition, (paths, sets) in features.items():
            sets[key] = extract_features(
                paths, feature_set=name, cache_dir=cache_dir, config=config, n_jobs=n_jobs, progress=False
            )
            if len(sets[key].failures):
                reasons = sets[key].failures["reason"].value_counts().head(2).to_dict()
                warnings.warn(
                    f"{name} failed on {len(sets[key].failures)} clips under {condition}: {reasons}", stacklevel=2
                )
    get_reusable_executor().shutdown(wait=True)
    return features


def set_key(name: str, config: dict) -> str:
    """A feature set and its config (a card's ``input.configs`` entry) as one key: equal keys, equal features."""
    return f"{name} {json.dumps(config, sort_keys=True)}"


def predict_conditions(
    fold_model: FoldModel, *, rows: pd.DataFrame, features_by_condition: dict, classes
) -> pd.DataFrame:
    """Per-clip labels of ``fold_model`` on its fold's ``rows`` (the subset rows with ``fold`` == its fold,
    ``path`` the clean file) under every (condition, severity) of ``features_by_condition`` (values: (paths
    aligned with the subset, {feature set: FeatureSet})). Columns: model, features, condition, severity, fold,
    path, y_true, y_pred and prob_<class> (uncalibrated). Clips whose features failed under a condition are left
    out of it."""
    fold_rows = rows[rows["fold"].eq(fold_model.fold)]
    if fold_rows.empty:  # a fold the saved protocol no longer has (a stale folder): nothing to score
        return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    model, card = load_model(fold_model.model_dir)
    test_speakers = set(card["protocol"]["test_speakers"])
    if set(fold_rows["speaker"]) - test_speakers:
        raise ValueError(
            f"{fold_model.model_dir} was not tested on speakers {sorted(set(fold_rows['speaker']) - test_speakers)} "
            "of its fold: the saved folds changed since it was trained; rerun notebooks 03-05"
        )
    tables = []
    for (condition, severity), (paths, feature_sets) in features_by_condition.items():
        inputs, kept = _inputs(np.asarray(paths)[fold_rows.index], spec=card["input"], feature_sets=feature_sets)
        if not len(inputs):
            continue
        probabilities = predict_probabilities(model, inputs, n_classes=len(classes))
        kept_rows = fold_rows[kept]
        tables.append(
            pd.DataFrame(
                {
                    "model": fold_model.model,
                    "features": fold_model.features,
                    "condition": condition,
                    "severity": str(severity),
                    "fold": fold_model.fold,
                    "path": kept_rows["path"].to_numpy(),
                    "y_true": kept_rows["emotion"].to_numpy(),
                    "y_pred": np.asarray(classes)[probabilities.argmax(axis=1)],
                    **{f"{PROBABILITY_PREFIX}{name}": probabilities[:, i] for i, name in enumerate(classes)},
                }
            )
        )
    return pd.concat(tables, ignore_index=True)


def score_robustness(
    subset: pd.DataFrame,
    *,
    models: list[FoldModel],
    paths_by_condition: dict[tuple[str, str], list[str]],
    classes,
    cache_dir: Path | None,
    n_jobs: int,
) -> pd.DataFrame:
    """Per-clip labels (``predict_conditions`` columns) of every fold model in ``models`` on ``subset`` under
    every entry of ``paths_by_condition`` (``corrupt_subset``); features extracted once per condition."""
    specs = [fold_model.card["input"] for fold_model in models]
    features_by_condition = condition_features(paths_by_condition, specs=specs, cache_dir=cache_dir, n_jobs=n_jobs)
    tables = [
        predict_conditions(fold_model, rows=subset, features_by_condition=features_by_condition, classes=classes)
        for fold_model in models
    ]
    return pd.concat([table for table in tables if len(table)], ignore_index=True)


def ensemble_predictions(
    predictions: pd.DataFrame,
    *,
    models: list[FoldModel],
    ensemble_dir: Path,
    classes,
    name: str = ENSEMBLE,
    features: str = ENSEMBLE_FEATURES,
) -> pd.DataFrame:
    """A saved ensemble's per-clip labels (``predict_conditions`` columns, model ``name``, ``features``) under every
    condition of ``predictions``: in each fold, the log-linear pool of its members' fold-model probabilities, with
    the weights of that fold in the card's ``fold_members`` (fitted on the other folds' speakers, notebook 06).
    ``models`` are the scored fold models, which name each member folder's (model, features). A clip counts under
    a condition when every member labelled it. Raises ValueError when the card has no per-fold weights or a
    member's fold model was not scored."""
    card = read_card(ensemble_dir)
    if "fold_members" not in card:
        raise ValueError(f"{ensemble_dir} has no per-fold weights; rerun notebook 06")
    scored = {fold_model.model_dir.resolve(): (fold_model.model, fold_model.features) for fold_model in models}
    probability_columns = [f"{PROBABILITY_PREFIX}{name}" for name in classes]
    key = ["condition", "severity", "fold", "path", "y_true"]
    tables = []
    for fold, members in card["fold_members"].items():
        parts = []
        for member in members:
            fold_dir = (Path(ensemble_dir) / member["model_dir"] / FOLDS_DIR / fold).resolve()
            if fold_dir not in scored:
                raise ValueError(f"ensemble member {member['model_dir']} ({fold}) was not scored; score every family")
            member_model, member_features = scored[fold_dir]
            rows = predictions[predictions["model"].eq(member_model) & predictions["features"].eq(member_features)]
            parts.append(rows[rows["fold"].eq(fold)].set_index(key)[probability_columns])
        labelled_by_all = parts[0].index
        for part in parts[1:]:
            labelled_by_all = labelled_by_all.intersection(part.index)
        stacked = np.stack([part.loc[labelled_by_all].to_numpy() for part in parts])
        pooled = log_linear_pool(stacked, [member["weight"] for member in members])
        table = pd.DataFrame(pooled, index=labelled_by_all, columns=probability_columns).reset_index()
        table["y_pred"] = np.asarray(classes)[pooled.argmax(axis=1)]
        tables.append(table.assign(model=name, features=features))
    return pd.concat(tables, ignore_index=True)[[*PREDICTION_COLUMNS, *probability_columns]]


def robustness_table(predictions: pd.DataFrame, *, classes) -> pd.DataFrame:
    """One row per model, features, condition and severity: n clips, wa, uar, delta_uar (minus the same model's
    clean UAR on the same clips) and unchanged (share of those clips whose label equals the clean one)."""
    key = ["model", "features"]
    clean = predictions[predictions["condition"].eq(CLEAN[0])]
    if clean.empty:
        raise ValueError("the predictions hold no clean condition to compare against; score CLEAN too")
    merged = predictions.merge(
        clean[[*key, "path", "y_pred"]].rename(columns={"y_pred": "clean_pred"}), on=[*key, "path"], how="inner"
    )
    rows = []
    for (model, features, condition, severity), group in merged.groupby([*key, "condition", "severity"], sort=False):
        scores = score(group["y_true"], group["y_pred"], labels=classes)
        clean_uar = score(group["y_true"], group["clean_pred"], labels=classes)["uar"]
        rows.append(
            {
                "model": model,
                "features": features,
                "condition": condition,
                "severity": severity,
                "n": len(group),
                "wa": scores["wa"],
                "uar": scores["uar"],
                "delta_uar": scores["uar"] - clean_uar,
                "unchanged": float(np.mean(group["y_pred"].to_numpy() == group["clean_pred"].to_numpy())),
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def threshold_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``robustness_table`` that ser-tests sets a threshold for, with ``min_delta_uar``,
    ``min_unchanged`` and ``passes`` (both met)."""
    marks = pd.DataFrame(
        [(c, s, d, u) for (c, s), (d, u) in SER_TESTS_THRESHOLDS.items()],
        columns=["condition", "severity", "min_delta_uar", "min_unchanged"],
    )
    judged = table.merge(marks, on=["condition", "severity"], how="inner")
    return judged.assign(
        passes=judged["delta_uar"].ge(judged["min_delta_uar"]) & judged["unchanged"].ge(judged["min_unchanged"])
    )


def _inputs(paths: np.ndarray, *, spec: dict, feature_sets: dict) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (n_ok, ...), kept (n,) bool): the spec's feature sets (``feature_sets`` keyed by ``set_key``) for
    ``paths``, concatenated and reduced to its columns; clips any set failed on are dropped."""
    blocks, names = [], []
    kept = np.ones(len(paths), dtype=bool)
    for name in spec["feature_sets"]:
        features = feature_sets[set_key(name, spec["configs"][name])]
        position = {path: index for index, path in enumerate(features.paths)}
        kept &= np.array([path in position for path in paths], dtype=bool)
        blocks.append((features, position))
        names += list(features.columns)
    values = np.concatenate(
        [features.values[[position[path] for path in paths[kept]]] for features, position in blocks], axis=-1
    )
    inputs, _ = select_columns(values, names=names, columns=spec["columns"])
    return inputs.astype(np.float32), kept


def _clip_seed(seed: int, digest: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(digest.encode())) % (2**32)


def _write_corrupted(source: str, target: Path, condition: str, severity, sr: int, seed: int, talkers) -> None:
    waveform = load_audio(source, sr=sr)
    corrupted = corrupt(waveform, sr=sr, condition=condition, severity=severity, seed=seed, talkers=talkers)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{seed}.partial.flac")
    sf.write(partial, corrupted, sr, subtype=AUDIO_SUBTYPE)
    partial.replace(target)


def deployment_check(table: pd.DataFrame, clean_uar: pd.DataFrame) -> pd.DataFrame:
    """Per model and features of ``table``: ``clean_uar`` (columns model, features, uar: each model's UAR on every
    held-out clip, e.g. results.csv's pooled rows), its gap to the best of them, delta UAR and unchanged share at
    white noise and babble at 20 dB and through the GSM phone chain, and ``meets``: ser-tests' 20 dB noise marks
    (delta UAR >= -0.05, >= 90 % unchanged), >= 70 % unchanged through the phone and a gap of at most 2 points.
    Conditions the table lacks give NaN and fail."""
    key = ["model", "features"]
    if clean_uar.duplicated(key).any():
        raise ValueError("clean_uar holds several rows of one model and features; pass one (e.g. adaptation none)")
    check = clean_uar[[*key, "uar"]].rename(columns={"uar": "clean_uar"})
    check = check[check.set_index(key).index.isin(table.set_index(key).index)].reset_index(drop=True)
    check["clean_gap"] = check["clean_uar"].max() - check["clean_uar"]
    indexed = table.set_index([*key, "condition", "severity"])
    for condition, severity in (*DEPLOYMENT_NOISE, DEPLOYMENT_PHONE):
        for measure in ("delta_uar", "unchanged"):
            check[f"{condition}_{severity}_{measure}"] = [
                indexed[measure].get((model, features, condition, severity), np.nan)
                for model, features in zip(check["model"], check["features"], strict=True)
            ]
    noise_ok = np.logical_and.reduce(
        [
            check[f"{c}_{s}_delta_uar"].ge(SER_TESTS_THRESHOLDS[(c, s)][0])
            & check[f"{c}_{s}_unchanged"].ge(SER_TESTS_THRESHOLDS[(c, s)][1])
            for c, s in DEPLOYMENT_NOISE
        ]
    )
    phone_ok = check["{}_{}_unchanged".format(*DEPLOYMENT_PHONE)].ge(DEPLOYMENT_MIN_PHONE_UNCHANGED)
    check["meets"] = noise_ok & phone_ok & check["clean_gap"].le(DEPLOYMENT_MAX_CLEAN_GAP + 1e-9)
    return check.sort_values("clean_uar", ascending=False, ignore_index=True)
