"""Tests for ser_utils.evaluation.feature_analysis on small synthetic tables with known structure."""

import numpy as np
import pytest

from ser_utils.evaluation import feature_analysis
from ser_utils.features.handcrafted import handcrafted_columns


def _two_speaker_design(seed=0):
    """40 clips: 4 speakers x 2 emotions x 5 clips; column 0 carries emotion, column 1 speaker, 2 is noise."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat([f"s{i}" for i in range(4)], 10)
    emotions = np.tile(np.repeat(["angry", "sad"], 5), 4)
    values = np.column_stack(
        [
            (emotions == "angry") * 3.0 + rng.normal(size=40),
            np.repeat(np.arange(4) * 8.0, 10) + rng.normal(size=40),
            rng.normal(size=40),
        ]
    )
    return values, emotions, speakers


def test_every_handcrafted_column_has_a_family_and_summary_is_readable():
    columns = handcrafted_columns()
    families = {feature_analysis.feature_family(column) for column in columns}
    assert {"pitch", "energy", "rate", "voice quality", "MFCC mean", "mel band"} <= families
    summary = feature_analysis.summary_columns(columns)
    assert "f0_mean_hz" in summary and "mfcc_mean_13" in summary
    assert not any(column.startswith(("mel_mean", "chroma", "mfcc_mean_14")) for column in summary)


def test_mutual_information_ranks_the_informative_column_first():
    values, emotions, _ = _two_speaker_design()
    ranking = feature_analysis.mutual_information_ranking(
        values, emotions, columns=["emotion", "speaker", "noise"], seed=0
    )
    assert ranking["feature"].iloc[0] == "emotion" and ranking["rank"].tolist() == [1, 2, 3]


def test_grouped_cross_validation_scores_unseen_speakers():
    values, emotions, speakers = _two_speaker_design()
    table = feature_analysis.cross_validated_scores(values, emotions, groups=speakers, folds=4, seed=0)
    assert table["fold"].tolist()[-3:] == ["pooled", "mean", "std"]
    assert table.set_index("fold").loc["mean", "uar"] > 0.8


def test_variant_comparison_pairs_folds_against_the_first_variant():
    values, emotions, speakers = _two_speaker_design()
    scores = feature_analysis.compare_feature_variants(
        {"all": values, "same": values.copy(), "noise only": values[:, 2:]},
        emotions,
        groups=speakers,
        folds=4,
        seed=0,
    )
    assert scores["uar_diff_vs_first"].tolist()[:2] == [0.0, 0.0]
    assert scores["uar_diff_vs_first"].iloc[2] < 0


def test_neighbour_agreement_and_speaker_scores_see_the_speaker():
    values, emotions, speakers = _two_speaker_design()
    agreement = feature_analysis.neighbour_agreement(values[:, 1:2], {"speaker": speakers}, k=5).iloc[0]
    assert agreement["neighbour_agreement"] > 0.8 and agreement["chance"] == pytest.approx(0.25)
    scores = feature_analysis.speaker_and_emotion_scores(values, emotions=emotions, speakers=speakers, folds=4, seed=0)
    speaker_task = scores.iloc[0]
    assert speaker_task["task"].startswith("speaker") and speaker_task["wa"] > 2 * speaker_task["chance"]


def test_tsne_gives_two_coordinates_per_clip_even_for_few_clips():
    values, _, _ = _two_speaker_design()
    embedding = feature_analysis.tsne_embedding(values[:12], perplexity=30.0, seed=0)
    assert embedding.shape == (12, 2) and np.isfinite(embedding).all()
