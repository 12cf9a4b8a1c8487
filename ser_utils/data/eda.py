"""Descriptive tables of a manifest: counts, durations, recording formats and label confounds."""

import numpy as np
import pandas as pd

from ser_utils.data.taxonomy import EMOTIONS

__all__ = [
    "emotion_distribution",
    "dataset_distribution",
    "speaker_distribution",
    "format_distribution",
    "cramers_v",
    "confound_table",
    "example_clips",
]


def emotion_distribution(manifest: pd.DataFrame) -> pd.DataFrame:
    """Clips per emotion (rows, taxonomy order) and corpus (columns), plus total and share of all clips."""
    table = pd.crosstab(manifest["emotion"].replace("", "(excluded)"), manifest["corpus"])
    order = [e for e in EMOTIONS if e in table.index] + [e for e in table.index if e not in EMOTIONS]
    table = table.loc[order]
    table["total"] = table.sum(axis=1)
    table["share"] = (table["total"] / table["total"].sum()).round(4)
    return table.rename_axis("emotion").reset_index()


def dataset_distribution(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per corpus: clips, speakers by gender, emotions, hours, durations, rates, imbalance."""
    rows = []
    for corpus, part in manifest.groupby("corpus"):
        per_emotion = part.loc[part["emotion"] != "", "emotion"].value_counts()
        genders = part.drop_duplicates("speaker")["gender"].value_counts()
        rows.append(
            {
                "corpus": corpus,
                "clips": len(part),
                "speakers": part["speaker"].nunique(),
                "female_speakers": int(genders.get("female", 0)),
                "male_speakers": int(genders.get("male", 0)),
                "emotions": len(per_emotion),
                "hours": round(part["duration"].sum() / 3600, 3),
                "duration_median_s": round(part["duration"].median(), 3),
                "duration_min_s": round(part["duration"].min(), 3),
                "duration_max_s": round(part["duration"].max(), 3),
                "sample_rates": ",".join(map(str, sorted(part["sample_rate"].unique()))),
                "stereo_clips": int((part["channels"] > 1).sum()),
                "imbalance_ratio": round(per_emotion.max() / per_emotion.min(), 3),
                "excluded_from_training": int(part["excluded_reason"].ne("").sum()),
            }
        )
    return pd.DataFrame(rows)


def speaker_distribution(manifest: pd.DataFrame) -> pd.DataFrame:
    """Clips per speaker and emotion, with the speaker's corpus and gender."""
    counts = pd.crosstab(manifest["speaker"], manifest["emotion"])
    counts = counts[[e for e in EMOTIONS if e in counts.columns]]
    meta = manifest.drop_duplicates("speaker").set_index("speaker")[["corpus", "gender"]]
    return meta.join(counts).reset_index()


def format_distribution(manifest: pd.DataFrame) -> pd.DataFrame:
    """Clips per corpus, sample rate and channel count."""
    return manifest.groupby(["corpus", "sample_rate", "channels"]).size().rename("clips").reset_index()


def cramers_v(first: pd.Series, second: pd.Series) -> float:
    """Cramér's V between two categorical series: 0 independent, 1 one determines the other."""
    table = pd.crosstab(first, second).to_numpy(dtype=float)
    if min(table.shape) < 2:
        return float("nan")
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))


def confound_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """How much emotion labels depend on who speaks and where the clip comes from (Cramér's V)."""
    labelled = manifest[manifest["emotion"] != ""]
    rows = [
        {"scope": "all", "pair": "corpus~emotion", "cramers_v": cramers_v(labelled["corpus"], labelled["emotion"])},
        {"scope": "all", "pair": "speaker~emotion", "cramers_v": cramers_v(labelled["speaker"], labelled["emotion"])},
        {"scope": "all", "pair": "gender~emotion", "cramers_v": cramers_v(labelled["gender"], labelled["emotion"])},
    ]
    for corpus, part in labelled.groupby("corpus"):
        rows.append(
            {"scope": corpus, "pair": "speaker~emotion", "cramers_v": cramers_v(part["speaker"], part["emotion"])}
        )
    return pd.DataFrame(rows).round(4)


def example_clips(manifest: pd.DataFrame, *, per_emotion: int, seed: int) -> pd.DataFrame:
    """``per_emotion`` random clips of each emotion (taxonomy order), for listening and plotting."""
    labelled = manifest[manifest["emotion"] != ""]
    picks = [
        labelled[labelled["emotion"] == emotion].sample(n=min(per_emotion, count), random_state=seed)
        for emotion in EMOTIONS
        if (count := int((labelled["emotion"] == emotion).sum()))
    ]
    return pd.concat(picks, ignore_index=True)
