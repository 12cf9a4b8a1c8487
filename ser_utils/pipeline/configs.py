"""The notebooks' run configs: small frozen dataclasses filled from each notebook's parameters cell.

Every field is required: the quick values live in the notebook's parameters cell and the full profile's in
``params/<notebook>.yaml``, never here. A config checks its values and does no I/O (no file, network or
environment access), so building one is always cheap and safe. ``io.provenance.run_info`` records it.
"""

from dataclasses import dataclass

from ser_utils.evaluation.calibration import OBJECTIVES
from ser_utils.yamnet.network import BLOCKS

__all__ = ["EdaConfig", "FeaturesConfig", "ExperimentConfig", "TransferConfig", "EvaluationConfig"]


@dataclass(frozen=True)
class EdaConfig:
    """Knobs of notebook 01 (exploratory data analysis)."""

    data_dir: str | None
    corpora: tuple[str, ...] | None
    n_audio_players: int
    n_jobs: int
    seed: int

    def __post_init__(self):
        if self.n_jobs < 1:
            raise ValueError(f"n_jobs counts worker processes; pass 1 or more, got {self.n_jobs}")
        if self.n_audio_players < 0:
            raise ValueError(f"n_audio_players counts clips to play; pass 0 or more, got {self.n_audio_players}")


@dataclass(frozen=True)
class FeaturesConfig:
    """Knobs of notebook 02 (feature engineering)."""

    data_dir: str | None
    corpora: tuple[str, ...] | None
    max_clips: int | None
    n_jobs: int
    seed: int
    cv_folds: int
    tsne_perplexity: float

    def __post_init__(self):
        if self.n_jobs < 1 or self.cv_folds < 2 or self.tsne_perplexity <= 0:
            raise ValueError(f"need n_jobs >= 1, cv_folds >= 2 and tsne_perplexity > 0; got {self}")
        _check_max_clips(self.max_clips, n_folds=self.cv_folds)


@dataclass(frozen=True)
class ExperimentConfig:
    """Knobs of a model-comparison notebook run (03 baselines and dense MLPs, 04 CNN-LSTM)."""

    data_dir: str | None
    corpora: tuple[str, ...] | None
    max_clips: int | None
    n_folds: int
    n_val_speakers: int
    epochs: int
    patience: int
    batch_size: int
    learning_rate: float
    n_jobs: int
    seed: int

    def __post_init__(self):
        if min(self.epochs, self.patience, self.batch_size, self.n_jobs) < 1 or self.learning_rate <= 0:
            raise ValueError(f"need epochs, patience, batch_size, n_jobs >= 1 and learning_rate > 0; got {self}")
        if self.n_folds < 2 or self.n_val_speakers < 0:
            raise ValueError(f"need n_folds >= 2 and n_val_speakers >= 0; got {self}")
        _check_max_clips(self.max_clips, n_folds=self.n_folds)


@dataclass(frozen=True)
class TransferConfig:
    """Knobs of notebook 05 (YAMNet transfer learning)."""

    data_dir: str | None
    corpora: tuple[str, ...] | None
    max_clips: int | None
    n_folds: int
    n_val_speakers: int
    mlp_epochs: int
    mlp_learning_rate: float
    warmup_epochs: int
    finetune_epochs: int
    finetune_blocks: int
    n_patches: int
    learning_rate: float
    head_learning_rate: float
    batch_size: int
    patience: int
    top_classes: int
    min_class_score: float
    tsne_perplexity: float
    n_jobs: int
    seed: int

    def __post_init__(self):
        if self.n_folds < 2 or self.n_val_speakers < 0 or self.n_patches < 1 or self.top_classes < 1:
            raise ValueError(f"need n_folds >= 2, n_val_speakers >= 0, n_patches >= 1, top_classes >= 1; got {self}")
        if min(self.mlp_epochs, self.finetune_epochs, self.batch_size, self.patience) < 1 or self.warmup_epochs < 0:
            raise ValueError(
                f"need mlp_epochs, finetune_epochs, batch_size, patience >= 1 and warmup_epochs >= 0; got {self}"
            )
        if min(self.mlp_learning_rate, self.learning_rate, self.head_learning_rate) <= 0:
            raise ValueError(f"learning rates must be > 0; got {self}")
        if not 0 <= self.min_class_score < 1:
            raise ValueError(f"min_class_score is an AudioSet score in [0, 1); got {self.min_class_score}")
        if not 1 <= self.finetune_blocks < len(BLOCKS):
            raise ValueError(
                f"finetune_blocks must be 1..{len(BLOCKS) - 1} (YAMNet has {len(BLOCKS)} blocks; the "
                f"first stays frozen), got {self.finetune_blocks}"
            )
        _check_max_clips(self.max_clips, n_folds=self.n_folds)

    @property
    def frozen_blocks(self) -> int:
        """YAMNet blocks kept frozen below the fine-tuned ones (13 - finetune_blocks)."""
        return len(BLOCKS) - self.finetune_blocks


@dataclass(frozen=True)
class EvaluationConfig:
    """Knobs of notebook 06 (every model side by side: intervals, calibration, fairness, cross-corpus)."""

    data_dir: str | None
    corpora: tuple[str, ...] | None
    n_resamples: int
    confidence: float
    n_bins: int
    calibration_objective: str
    top_models: int
    cross_corpus: bool
    n_val_speakers: int
    n_jobs: int
    seed: int

    def __post_init__(self):
        if self.n_resamples < 100 or not 0.5 < self.confidence < 1:
            raise ValueError(f"need n_resamples >= 100 and 0.5 < confidence < 1; got {self}")
        if min(self.n_bins, self.top_models, self.n_jobs) < 1 or self.n_val_speakers < 0:
            raise ValueError(f"need n_bins, top_models, n_jobs >= 1 and n_val_speakers >= 0; got {self}")
        if self.calibration_objective not in OBJECTIVES:
            raise ValueError(f"calibration_objective must be one of {OBJECTIVES}, got {self.calibration_objective!r}")


def _check_max_clips(max_clips: int | None, *, n_folds: int) -> None:
    if max_clips is not None and max_clips < 2 * n_folds:
        raise ValueError(f"max_clips={max_clips} is too few for {n_folds} folds; raise it or pass None")
