"""Per-speaker feature normalisation: a research variant that removes much of what identifies a voice."""

import numpy as np

__all__ = ["standardize_per_speaker"]


def standardize_per_speaker(inputs: np.ndarray, speakers) -> np.ndarray:
    """Z-score every feature within each speaker: (n, d) inputs, (n,) speaker ids → (n, d) float32.

    Speaker normalisation removes much of what identifies a voice (pitch level, timbre). It uses every clip
    of a speaker, test speakers included (their features, never their labels), so a model trained on it
    needs several clips of a new speaker before it can predict: a research variant, not a single-file
    predictor. The statistics assume each speaker's clips mix emotions as in the corpus.
    """
    inputs, speakers = np.asarray(inputs, dtype=np.float64), np.asarray(speakers)
    if inputs.ndim != 2 or len(inputs) != len(speakers):
        raise ValueError(f"need (n, d) inputs and n speaker ids; got {inputs.shape} and {speakers.shape}")
    standardized = np.empty_like(inputs)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        spread = inputs[rows].std(axis=0)
        standardized[rows] = (inputs[rows] - inputs[rows].mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return standardized.astype(np.float32)
