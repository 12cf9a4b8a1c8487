"""Analyses of notebook 02: which features carry emotion, how much they carry the speaker, and whether the
extractor's deliberate departures from the seeds cost accuracy (speaker-grouped cross-validation).

The estimators run single-threaded: on a shared 2-core machine, OpenMP and BLAS threads spinning against
other processes made t-SNE and logistic regression up to a hundred times slower, for at most a 2x gain
on an idle machine.
"""

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.feature_selection import mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ser_utils.evaluation.metrics import METRICS, score_predictions

__all__ = [
    "PROFILE_COLUMNS",
    "summary_columns",
    "feature_family",
    "mutual_information_ranking",
    "tsne_embedding",
    "neighbour_agreement",
    "cross_validated_scores",
    "compare_feature_variants",
    "speaker_and_emotion_scores",
]

# One column each for pitch, energy and rate, then the first MFCCs (overall level, spectral tilt, shape).
PROFILE_COLUMNS = ("f0_mean_hz", "rms_mean", "onset_rate", "mfcc_mean_01", "mfcc_mean_02", "mfcc_mean_03")
# Feature families of the handcrafted set, by column-name prefix (first match wins).
_FAMILIES = (
    ("mfcc_mean", "MFCC mean"),
    ("mfcc_std", "MFCC std"),
    ("mfcc_delta", "MFCC delta std"),
    ("chroma", "chroma"),
    ("mel_mean", "mel band"),
    ("contrast", "spectral contrast"),
    ("tonnetz", "tonnetz"),
    ("rms", "energy"),
    ("onset_rate", "rate"),
    ("voiced_segment", "rate"),
    ("f0_", "pitch"),
    ("voiced_fraction", "pitch"),
    ("jitter", "voice quality"),
    ("shimmer", "voice quality"),
    ("hnr", "voice quality"),
)
_SUMMARY_PREFIXES = (
    "contrast_mean",
    "zcr",
    "rolloff",
    "centroid",
    "bandwidth",
    "flatness",
    "rms_",
    "onset",
    "f0_",
    "voiced",
    "jitter",
    "shimmer",
    "hnr",
)


def summary_columns(columns, *, n_mfcc: int = 13) -> list[str]:
    """The readable part of the handcrafted set: the first ``n_mfcc`` MFCC means and every spectral,
    energy, prosodic and voice-quality summary (no mel bands, chroma or higher MFCCs)."""
    mfccs = [f"mfcc_mean_{index:02d}" for index in range(1, n_mfcc + 1)]
    return [c for c in columns if c in mfccs or c.startswith(_SUMMARY_PREFIXES)]


def feature_family(column: str) -> str:
    """The family of a handcrafted column ("pitch", "energy", "MFCC mean" …); "spectral shape" otherwise."""
    return next((family for prefix, family in _FAMILIES if column.startswith(prefix)), "spectral shape")


def mutual_information_ranking(values: np.ndarray, labels, *, columns, seed: int) -> pd.DataFrame:
    """Columns ranked by their mutual information with ``labels`` (nats, k-NN estimate), highest first.

    ``values`` is (n_clips, n_columns); returns rank, feature, family (``feature_family``) and
    mutual_information.
    """
    with threadpool_limits(limits=1):
        scores = mutual_info_classif(StandardScaler().fit_transform(values), np.asarray(labels), random_state=seed)
    table = pd.DataFrame({"feature": list(columns), "mutual_information": scores})
    table["family"] = table["feature"].map(feature_family)
    table = table.sort_values("mutual_information", ascending=False, ignore_index=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table[["rank", "feature", "family", "mutual_information"]]


def tsne_embedding(values: np.ndarray, *, seed: int, perplexity: float) -> np.ndarray:
    """2-D t-SNE map (n_clips, 2) of standardised features, reduced to at most 50 PCA components first.

    Perplexity is capped below a third of the clips so small quick runs still work.
    """
    standardised = StandardScaler().fit_transform(values)
    n_components = min(50, *standardised.shape)
    perplexity = min(perplexity, max(2.0, (len(values) - 1) / 3))
    with threadpool_limits(limits=1):
        reduced = PCA(n_components=n_components, random_state=seed).fit_transform(standardised)
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)


def neighbour_agreement(embedding: np.ndarray, labels: dict, *, k: int = 10) -> pd.DataFrame:
    """For each labelling (name -> (n,) labels): the share of each clip's ``k`` nearest neighbours on the
    map that carry its label, against the share expected by chance (sum of squared label frequencies)."""
    k = min(k, len(embedding) - 1)
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(embedding).kneighbors(embedding)
    rows = []
    for name, label in labels.items():
        label = np.asarray(label)
        agreement = (label[neighbours[:, 1:]] == label[:, None]).mean()
        frequencies = pd.Series(label).value_counts(normalize=True)
        rows.append(
            {
                "label": name,
                "classes": len(frequencies),
                "neighbour_agreement": float(agreement),
                "chance": float((frequencies**2).sum()),
            }
        )
    return pd.DataFrame(rows)


def cross_validated_scores(
    values: np.ndarray, labels, *, groups=None, folds: int, seed: int, classes=None
) -> pd.DataFrame:
    """Scores of a standardised logistic regression under k-fold cross-validation.

    With ``groups`` (e.g. speakers) no group is split across train and test (GroupKFold); without,
    folds are stratified by label. Returns ``metrics.score_predictions``'s table (per fold, pooled,
    mean, std of WA, UAR, macro-F1).
    """
    labels = np.asarray(labels)
    classes = sorted(set(labels)) if classes is None else list(classes)
    if groups is not None:
        folds = min(folds, len(set(groups)))
        splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        splits = splitter.split(values, labels, groups)
    else:
        folds = min(folds, int(pd.Series(labels).value_counts().min()))
        splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(values, labels)
    if folds < 2:
        raise ValueError("cross-validation needs at least two groups (or two clips per class)")
    predictions = []
    for fold, (train, test) in enumerate(splits):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        with threadpool_limits(limits=1):
            model.fit(values[train], labels[train])
        predictions.append(pd.DataFrame({"fold": fold, "y_true": labels[test], "y_pred": model.predict(values[test])}))
    return score_predictions(pd.concat(predictions, ignore_index=True), labels=classes)


def compare_feature_variants(variants: dict, labels, *, groups, folds: int, seed: int, classes=None) -> pd.DataFrame:
    """Speaker-grouped scores of each variant (name -> (n_clips, d) values) on the SAME folds.

    Returns one row per variant: mean and std over folds of WA, UAR and macro-F1, and the mean
    per-fold UAR difference to the first variant with its std (paired: same train/test clips).
    """
    rows, baseline = [], None
    for name, values in variants.items():
        table = cross_validated_scores(values, labels, groups=groups, folds=folds, seed=seed, classes=classes)
        per_fold = table[~table["fold"].isin(["pooled", "mean", "std"])].reset_index(drop=True)
        baseline = per_fold if baseline is None else baseline
        difference = per_fold["uar"] - baseline["uar"]
        row = {"variant": name, "columns": values.shape[1], "folds": len(per_fold)}
        for metric in METRICS:
            row[f"{metric}_mean"] = per_fold[metric].mean()
            row[f"{metric}_std"] = per_fold[metric].std(ddof=0)
        row["uar_diff_vs_first"] = difference.mean()
        row["uar_diff_std"] = difference.std(ddof=0)
        rows.append(row)
    return pd.DataFrame(rows)


def speaker_and_emotion_scores(values: np.ndarray, *, emotions, speakers, folds: int, seed: int) -> pd.DataFrame:
    """How much the features say about who speaks versus what they feel.

    Three logistic-regression tasks: speaker identity (clips of every speaker on both sides),
    emotion with speakers mixed across train and test (the optimistic split) and emotion on
    unseen speakers (speaker-grouped). One row per task: WA, UAR and chance (1 / classes).
    """
    tasks = {
        "speaker (seen speakers)": (speakers, None),
        "emotion (speakers mixed, optimistic)": (emotions, None),
        "emotion (unseen speakers)": (emotions, speakers),
    }
    rows = []
    for task, (labels, groups) in tasks.items():
        table = cross_validated_scores(values, labels, groups=groups, folds=folds, seed=seed)
        mean = table.set_index("fold").loc["mean"]
        rows.append(
            {
                "task": task,
                "classes": len(set(labels)),
                "wa": mean["wa"],
                "uar": mean["uar"],
                "chance": 1 / len(set(labels)),
            }
        )
    return pd.DataFrame(rows)
