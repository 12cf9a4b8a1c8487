"""The notebooks' run configs: small frozen dataclasses filled from each notebook's parameters cell.

Every field is required: the quick values live in the notebook's parameters cell and the full profile's in
``params/<notebook>.yaml``, never here. A config checks its values and does no I/O (no file, network or
environment access), so building one is always cheap and safe. ``io.provenance.run_info`` records it.
"""

from dataclasses import dataclass

from ser_utils.audio.corruption import TELEPHONE_CODECS
from ser_utils.evaluation.calibration import OBJECTIVES
from ser_utils.models.baselines import BASELINES

__all__ = [
    "EdaConfig",
    "FeaturesConfig",
    "ExperimentConfig",
    "AdaptationConfig",
    "TransferConfig",
    "EvaluationConfig",
    "RobustnessConfig",
    "InferenceConfig",
]


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
    variant_check_clips: int | None
    tsne_perplexity: float

    def __post_init__(self):
        if self.n_jobs < 1 or self.cv_folds < 2 or self.tsne_perplexity <= 0:
            raise ValueError(f"need n_jobs >= 1, cv_folds >= 2 and tsne_perplexity > 0; got {self}")
        _check_max_clips(self.max_clips, n_folds=self.cv_folds)
        _check_max_clips(self.variant_check_clips, n_folds=self.cv_folds)


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
class AdaptationConfig:
    """Knobs of notebook 03's speaker adaptation: unlabelled enrolment clips per test speaker."""

    enrol_sizes: tuple[int | None, ...]  # clip counts k >= 1; None: every clip of the speaker (transductive)

    def __post_init__(self):
        if not self.enrol_sizes or any(k is not None and k < 1 for k in self.enrol_sizes):
            raise ValueError(f"enrol_sizes are clip counts >= 1 (None: every clip); got {self.enrol_sizes}")


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
    finetune_precision: str
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
        from ser_utils.models.training import PRECISIONS  # TensorFlow loads only with this config

        if self.finetune_precision not in PRECISIONS:
            raise ValueError(f"finetune_precision must be one of {PRECISIONS}; got {self.finetune_precision!r}")
        n_blocks = _yamnet_blocks()
        if not 1 <= self.finetune_blocks < n_blocks:
            raise ValueError(
                f"finetune_blocks must be 1..{n_blocks - 1} (YAMNet has {n_blocks} blocks; the "
                f"first stays frozen), got {self.finetune_blocks}"
            )
        _check_max_clips(self.max_clips, n_folds=self.n_folds)

    @property
    def frozen_blocks(self) -> int:
        """YAMNet blocks kept frozen below the fine-tuned ones (13 - finetune_blocks)."""
        return _yamnet_blocks() - self.finetune_blocks


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
    ensemble_models: tuple[str, ...]  # deployable families the ensemble may pick from (every feature view of each)
    ensemble_l2: float  # L2 penalty on the log-linear pool's weights, fitted per fold on the other folds
    enrol_sizes: tuple[int | None, ...]  # unlabelled clips per test speaker the ensemble adapts with; None: all
    enrol_adaptive_models: tuple[str, ...]  # notebook 03's speaker-adaptive models pooled into the enrolled ensemble
    enrol_draws: int  # random enrolment draws the members' enrolled pool is repeated over (the spread a draw causes)
    n_jobs: int
    seed: int

    def __post_init__(self):
        if not self.ensemble_models or self.ensemble_l2 < 0:
            raise ValueError(f"need ensemble_models and ensemble_l2 >= 0; got {self}")
        if any(k is not None and k < 1 for k in self.enrol_sizes):
            raise ValueError(f"need enrol_sizes >= 1 (None: all); got {self}")
        if self.enrol_draws < 1:
            raise ValueError(f"need enrol_draws >= 1; got {self.enrol_draws}")
        if self.n_resamples < 100 or not 0.5 < self.confidence < 1:
            raise ValueError(f"need n_resamples >= 100 and 0.5 < confidence < 1; got {self}")
        if min(self.n_bins, self.top_models, self.n_jobs) < 1 or self.n_val_speakers < 0:
            raise ValueError(f"need n_bins, top_models, n_jobs >= 1 and n_val_speakers >= 0; got {self}")
        if self.calibration_objective not in OBJECTIVES:
            raise ValueError(f"calibration_objective must be one of {OBJECTIVES}, got {self.calibration_objective!r}")


@dataclass(frozen=True)
class RobustnessConfig:
    """Knobs of notebook 07 (robustness to noise, rooms, codecs, phones and level; augmentation)."""

    data_dir: str | None
    corpora: tuple[str, ...] | None
    conditions: tuple[tuple[str, float | str], ...]  # (condition, severity) pairs of audio.corruption.CONDITIONS
    models: tuple[str, ...] | None  # fold-model families scored; None: every one saved
    subset_fraction: float  # share of each test speaker's clips corrupted and scored
    augment_fraction: float  # share of clips given one augmented copy for the multi-condition model; 0: none
    span_trims_db: tuple[float, ...]  # edge trims (dB below the peak) of the span pool's members; (): no pool
    span_tabular_views: tuple[tuple[str, str | None], ...]  # members at every trim: (family, phone codec or None)
    span_cnn_trim_db: float | None  # edge trim of the span pool's CNN-LSTM on log-mel; None: no CNN-LSTM
    span_floor_db: float | None  # white noise floor under every member's input, dB below the span's power; None: none
    span_cnn_views: tuple[tuple[str | None, int], ...]  # CNN-LSTM members: (phone codec or None, seeds averaged)
    span_l2: float  # L2 penalty on the span pool's weights
    n_jobs: int
    seed: int

    def __post_init__(self):
        if self.span_trims_db:
            cnn_codecs = tuple(codec for codec, _ in self.span_cnn_views)
            n_cnn = len(cnn_codecs) if self.span_cnn_trim_db is not None else 0
            n_members = len(self.span_trims_db) * len(self.span_tabular_views) + n_cnn
            families = {family for family, _ in self.span_tabular_views}
            tabular_codecs = {codec for _, codec in self.span_tabular_views}
            trims = [*self.span_trims_db, *([self.span_cnn_trim_db] if self.span_cnn_trim_db is not None else [])]
            if (
                self.augment_fraction == 0
                or min(trims) <= 0
                or (self.span_floor_db is not None and self.span_floor_db <= 0)
                or n_members < 2
                or self.span_l2 < 0
                or any(seeds < 1 for _, seeds in self.span_cnn_views)
                or not families <= {*BASELINES, "mlp_tuned"}
                or any(len(views) != len(set(views)) for views in (self.span_tabular_views, cnn_codecs))
                or not {*tabular_codecs, *cnn_codecs} <= {None, *TELEPHONE_CODECS}
            ):
                raise ValueError(
                    f"the span pool needs augment_fraction > 0, trims and a floor above 0 dB, two members or more, "
                    f"span_l2 >= 0, families among {(*BASELINES, 'mlp_tuned')}, distinct views with phone codecs among "
                    f"{(None, *TELEPHONE_CODECS)} in span_tabular_views and span_cnn_views, and seeds >= 1; got {self}"
                )
        if not self.conditions or any(len(pair) != 2 for pair in self.conditions):
            raise ValueError(f"conditions must be (condition, severity) pairs like ('white_noise', 20.0); got {self}")
        if not 0 < self.subset_fraction <= 1 or not 0 <= self.augment_fraction <= 1:
            raise ValueError(f"need 0 < subset_fraction <= 1 and 0 <= augment_fraction <= 1; got {self}")
        if self.n_jobs < 1:
            raise ValueError(f"n_jobs counts worker processes; pass 1 or more, got {self.n_jobs}")


@dataclass(frozen=True)
class InferenceConfig:
    """Knobs of notebook 08 (a timeline of a long recording, your own file, inference speed)."""

    data_dir: str | None
    model: str  # a model folder of the run's artifacts, e.g. "logistic_regression__handcrafted+egemaps"
    n_clips: int  # held-out clips joined into the long recording
    gap_s: float  # pause between them, seconds
    window_s: float  # timeline analysis window, seconds
    hop_s: float  # step between windows, seconds
    smoothing_windows: int  # windows averaged over time
    n_audio_players: int  # clips of the recording given an audio player
    your_file: str | None  # a recording of yours to draw a timeline of; None: skip
    latency_repeats: int  # repeats of each latency measurement (median reported)
    seed: int

    def __post_init__(self):
        if self.n_clips < 2 or self.gap_s < 0 or min(self.latency_repeats, self.smoothing_windows) < 1:
            raise ValueError(f"need n_clips >= 2, gap_s >= 0, latency_repeats and smoothing_windows >= 1; got {self}")
        if not 0 < self.hop_s <= self.window_s:
            raise ValueError(f"need 0 < hop_s <= window_s; got {self}")


def _check_max_clips(max_clips: int | None, *, n_folds: int) -> None:
    if max_clips is not None and max_clips < 2 * n_folds:
        raise ValueError(f"max_clips={max_clips} is too few for {n_folds} folds; raise it or pass None")


def _yamnet_blocks() -> int:
    """YAMNet's number of blocks. Imported here, not at the top: ``yamnet.network`` loads TensorFlow, which the
    notebooks before 03 never need (and with it loaded, feature extraction cannot fork warm workers)."""
    from ser_utils.yamnet.network import BLOCKS

    return len(BLOCKS)
