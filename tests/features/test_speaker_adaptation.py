"""Tests for ser_utils.features.speaker_adaptation: the shrunk speaker mean and per-speaker centring."""

import numpy as np
import pytest

from ser_utils.features.speaker_adaptation import (
    SpeakerPrior,
    centre_per_speaker,
    fit_speaker_prior,
    speaker_offset,
)

SPEAKERS = np.repeat(["a", "b", "c"], 4)
# speaker means 0, 10, 20 on feature 0; feature 1 is the same constant for everyone
INPUTS = np.column_stack([np.repeat([0.0, 10.0, 20.0], 4) + np.tile([-1.0, 1.0, -1.0, 1.0], 3), np.ones(12)])


def test_zero_pseudo_count_gives_the_plain_mean():
    prior = fit_speaker_prior(INPUTS, SPEAKERS, pseudo_count=0.0)
    enrolment = np.array([[3.0, 1.0], [5.0, 1.0]])
    np.testing.assert_allclose(speaker_offset(enrolment, prior=prior), [4.0, 1.0])


def test_no_enrolment_gives_the_prior_mean_and_pseudo_counts_weigh_it():
    prior = SpeakerPrior(mean=np.array([10.0, 1.0]), pseudo_counts=np.array([2.0, 2.0]))
    np.testing.assert_allclose(speaker_offset(np.empty((0, 2)), prior=prior), [10.0, 1.0])
    # two clips at 4 and a pseudo-count of 2 at 10: (2 * 4 + 2 * 10) / 4 = 7
    np.testing.assert_allclose(speaker_offset(np.array([[4.0, 1.0], [4.0, 1.0]]), prior=prior), [7.0, 1.0])


def test_empirical_bayes_shrinks_little_where_speakers_differ_and_fully_where_they_do_not():
    prior = fit_speaker_prior(INPUTS, SPEAKERS)
    np.testing.assert_allclose(prior.mean, [10.0, 1.0])
    # within variance 1, between variance 100 - 1/4: pseudo-count 1 / 99.75
    assert prior.pseudo_counts[0] == pytest.approx(1 / 99.75)
    assert prior.pseudo_counts[1] >= 1e5  # identical speakers: the prior wins


def test_centring_removes_each_speakers_mean_and_the_prior_round_trips():
    prior = fit_speaker_prior(INPUTS, SPEAKERS, pseudo_count=0.0)
    centred = centre_per_speaker(INPUTS, SPEAKERS, prior=prior)
    for name in "abc":
        np.testing.assert_allclose(centred[SPEAKERS == name].mean(axis=0), 0.0, atol=1e-6)
    again = SpeakerPrior.from_dict(prior.as_dict())
    np.testing.assert_allclose(again.mean, prior.mean) and np.testing.assert_allclose(again.pseudo_counts, 0.0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="two training speakers"):
        fit_speaker_prior(INPUTS[:4], SPEAKERS[:4])
    with pytest.raises(ValueError, match="pseudo_count"):
        fit_speaker_prior(INPUTS, SPEAKERS, pseudo_count=-1.0)
    with pytest.raises(ValueError, match="equal"):
        SpeakerPrior.from_dict({"prior_mean": [0.0, 1.0], "pseudo_counts": [1.0]})
