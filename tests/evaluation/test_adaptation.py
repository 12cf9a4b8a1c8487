"""Tests for ser_utils.evaluation.adaptation: enrolment draws, left-out enrolment clips, the adaptive folds."""

import functools

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation import adaptation, protocol, results
from ser_utils.models.baselines import train_baseline

N_SPEAKERS, N_CLIPS = 6, 12


def _toy() -> tuple[pd.DataFrame, np.ndarray]:
    """Six speakers, 12 clips each, two emotions; each voice shifts its features by a large offset that
    swamps the emotion (±1 on feature 0) unless the speaker's mean is removed."""
    rng = np.random.default_rng(0)
    speakers = np.repeat([f"s{index}" for index in range(N_SPEAKERS)], N_CLIPS)
    emotion = np.tile(["happy", "sad"], N_SPEAKERS * N_CLIPS // 2)
    offsets = np.repeat(rng.normal(0, 5, size=(N_SPEAKERS, 2)), N_CLIPS, axis=0)
    inputs = offsets + np.column_stack([np.where(emotion == "happy", 1.0, -1.0), np.zeros(len(emotion))])
    inputs += rng.normal(0, 0.1, size=inputs.shape)
    manifest = pd.DataFrame(
        {
            "path": [f"clip{index}.wav" for index in range(len(speakers))],
            "corpus": "toy",
            "speaker": speakers,
            "gender": np.where(np.arange(len(speakers)) % 2, "female", "male"),
            "statement": 0,
            "emotion": emotion,
        }
    )
    return manifest, inputs


def test_enrolment_clips_are_drawn_per_speaker_and_never_scored():
    speakers = np.repeat(["a", "b"], 5)
    enrol, scored = protocol.enrolment_split(speakers, n_clips=2, seed=0)
    assert len(enrol) == 4 and len(scored) == 6 and not set(enrol) & set(scored)
    assert (pd.Series(speakers[enrol]).value_counts() == 2).all()
    # a speaker's draw does not depend on who else is present
    alone, _ = protocol.enrolment_split(speakers[5:], n_clips=2, seed=0)
    np.testing.assert_array_equal(alone + 5, enrol[speakers[enrol] == "b"])
    everything, scored_all = protocol.enrolment_split(speakers, n_clips=None, seed=0)
    assert sorted(everything) == sorted(scored_all) == list(range(10))
    with pytest.raises(ValueError, match="enrol fewer"):
        protocol.enrolment_split(speakers, n_clips=5, seed=0)


def test_labels_name_the_adaptation():
    assert [results.adaptation_label(k) for k in (0, 4, None)] == ["none", "enrol-4", "transductive"]


def test_adaptive_folds_score_only_unseen_clips_of_test_speakers_and_adaptation_pays():
    manifest, inputs = _toy()
    folds = protocol.speaker_folds(manifest, n_folds=3, n_val_speakers=1)
    train = functools.partial(train_baseline, kind="logistic_regression", n_jobs=1)
    evaluations, choices = adaptation.cross_validate_adaptive(
        train,
        name="lr",
        inputs=inputs,
        manifest=manifest,
        folds=folds,
        classes=["happy", "sad"],
        work_dir="unused",
        seed=0,
        enrol_sizes=(2, 4, 12, None),  # 12 would leave no clip to score: skipped
    )
    assert list(evaluations) == ["none", "enrol-2", "enrol-4", "transductive"]
    assert set(choices["fold"]) == {fold.name for fold in folds} and choices["chosen"].sum() == len(folds)
    for label, evaluation in evaluations.items():
        table = evaluation.predictions
        for fold in folds:  # no clip of a training or validation speaker is ever scored
            assert set(table.loc[table["fold"] == fold.name, "speaker"]) == set(fold.test_speakers)
        assert (table["adaptation"] == label).all()
    assert len(evaluations["enrol-4"].predictions) == N_SPEAKERS * (N_CLIPS - 4)
    curve = adaptation.adaptation_curve(evaluations, classes=["happy", "sad"]).set_index("adaptation")
    assert curve.loc["enrol-4", "uar"] == pytest.approx(1.0) and curve.loc["none", "uar"] < 0.9
