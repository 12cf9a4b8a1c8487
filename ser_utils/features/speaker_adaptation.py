"""Speaker normalisation from a few unlabelled clips: a shrunk per-speaker mean that centres a voice's features.

A speaker's mean feature vector (pitch level, timbre, loudness …) is estimated from k enrolment clips and
subtracted from every clip of that speaker. With few clips the plain mean is noisy (mostly emotion, not voice),
so it is shrunk toward the training population's mean, per feature, as in an empirical-Bayes normal model::

    offset_j = (k · mean_j(enrolment) + tau_j · prior_mean_j) / (k + tau_j)

``tau_j`` (a pseudo-count of clips) is the within-speaker variance over the between-speaker variance of
feature j, estimated on training speakers; ``tau = 0`` gives the plain mean, k = 0 the prior mean. Only the
mean is adapted: a spread (z-score) estimated from a few clips measured worse than none below 16 clips.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["SpeakerPrior", "fit_speaker_prior", "speaker_offset", "centre_per_speaker"]

MAX_PSEUDO_COUNT = 1e6  # a feature whose speakers do not differ is never moved by its enrolment clips


@dataclass(frozen=True)
class SpeakerPrior:
    """The training population's mean speaker ``mean`` (d,) and per-feature ``pseudo_counts`` (d,) ≥ 0."""

    mean: np.ndarray
    pseudo_counts: np.ndarray

    def as_dict(self) -> dict:
        """JSON-ready lists, e.g. for a model card's ``adaptation`` section (``from_dict`` reads it back)."""
        return {"prior_mean": self.mean.tolist(), "pseudo_counts": self.pseudo_counts.tolist()}

    @classmethod
    def from_dict(cls, section: dict) -> "SpeakerPrior":
        """The prior recorded by ``as_dict``; raises ValueError when its two vectors differ in length."""
        mean = np.asarray(section["prior_mean"], dtype=np.float64)
        pseudo_counts = np.asarray(section["pseudo_counts"], dtype=np.float64)
        if mean.shape != pseudo_counts.shape or mean.ndim != 1:
            raise ValueError(f"prior_mean {mean.shape} and pseudo_counts {pseudo_counts.shape} must be equal (d,)")
        return cls(mean=mean, pseudo_counts=pseudo_counts)


def fit_speaker_prior(inputs: np.ndarray, speakers, *, pseudo_count: float | None = None) -> SpeakerPrior:
    """The prior of the training speakers in ``inputs`` (n, d) with speaker ids ``speakers`` (n,).

    ``mean``: the mean of the speakers' means. ``pseudo_count=None`` estimates one per feature (empirical
    Bayes, method of moments): pooled within-speaker variance / (variance of the speaker means − within
    variance / clips per speaker), capped at ``MAX_PSEUDO_COUNT``; a number uses that pseudo-count for every
    feature (0: the plain enrolment mean). Needs at least two speakers (one when ``pseudo_count`` is given).
    """
    inputs, speakers = _check(inputs, speakers)
    names = np.unique(speakers)
    if len(names) < (1 if pseudo_count is not None else 2):
        raise ValueError(
            f"a speaker prior needs at least two training speakers (one with a pseudo_count), got {len(names)}"
        )
    means = np.stack([inputs[speakers == name].mean(axis=0) for name in names])
    if pseudo_count is not None:
        if pseudo_count < 0:
            raise ValueError(f"pseudo_count must be >= 0 (0: plain mean), got {pseudo_count}")
        return SpeakerPrior(mean=means.mean(axis=0), pseudo_counts=np.full(inputs.shape[1], float(pseudo_count)))
    within = np.mean([inputs[speakers == name].var(axis=0) for name in names], axis=0)
    clips_per_speaker = len(inputs) / len(names)
    between = means.var(axis=0, ddof=1) - within / clips_per_speaker
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(between > 0, within / np.where(between > 0, between, 1.0), MAX_PSEUDO_COUNT)
    return SpeakerPrior(mean=means.mean(axis=0), pseudo_counts=np.clip(ratio, 0.0, MAX_PSEUDO_COUNT))


def speaker_offset(enrolment: np.ndarray, *, prior: SpeakerPrior) -> np.ndarray:
    """The shrunk speaker mean (d,) from ``enrolment`` (k, d) features of one speaker's clips; k = 0 gives
    ``prior.mean``, pseudo-counts of 0 the plain mean of the k clips."""
    enrolment = np.asarray(enrolment, dtype=np.float64).reshape(-1, len(prior.mean))
    n_clips = len(enrolment)
    total = enrolment.sum(axis=0) + prior.pseudo_counts * prior.mean
    weight = n_clips + prior.pseudo_counts
    return np.where(weight > 0, total / np.where(weight > 0, weight, 1.0), prior.mean)


def centre_per_speaker(inputs: np.ndarray, speakers, *, prior: SpeakerPrior) -> np.ndarray:
    """(n, d) float32: each speaker's clips minus ``speaker_offset`` of all that speaker's clips — how
    training speakers are normalised (their every clip is available)."""
    inputs, speakers = _check(inputs, speakers)
    centred = np.empty_like(inputs)
    for name in np.unique(speakers):
        rows = speakers == name
        centred[rows] = inputs[rows] - speaker_offset(inputs[rows], prior=prior)
    return centred.astype(np.float32)


def _check(inputs, speakers) -> tuple[np.ndarray, np.ndarray]:
    inputs, speakers = np.asarray(inputs, dtype=np.float64), np.asarray(speakers)
    if inputs.ndim != 2 or len(inputs) != len(speakers):
        raise ValueError(f"need (n, d) inputs and n speaker ids; got {inputs.shape} and {speakers.shape}")
    return inputs, speakers
