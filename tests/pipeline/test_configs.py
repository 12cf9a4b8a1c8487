"""Tests for ser_utils.pipeline.configs: every knob is required, bad values fail with a usable message."""

import dataclasses

import pytest

from ser_utils.pipeline.configs import (
    AdaptationConfig,
    EdaConfig,
    ExperimentConfig,
    FeaturesConfig,
    RobustnessConfig,
    TransferConfig,
)

EXPERIMENT = {
    "data_dir": None,
    "corpora": None,
    "max_clips": 160,
    "n_folds": 3,
    "n_val_speakers": 2,
    "epochs": 5,
    "patience": 15,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "n_jobs": 2,
    "seed": 0,
}
TRANSFER = {
    **{key: EXPERIMENT[key] for key in ("data_dir", "corpora", "max_clips", "n_folds", "n_val_speakers", "seed")},
    "mlp_epochs": 2,
    "mlp_learning_rate": 1e-3,
    "warmup_epochs": 2,
    "finetune_epochs": 1,
    "finetune_blocks": 2,
    "n_patches": 4,
    "learning_rate": 1e-4,
    "head_learning_rate": 1e-3,
    "batch_size": 32,
    "patience": 8,
    "top_classes": 5,
    "min_class_score": 0.002,
    "tsne_perplexity": 30.0,
    "n_jobs": 1,
    "finetune_precision": "auto",
}


@pytest.mark.parametrize(
    "config", [EdaConfig, FeaturesConfig, ExperimentConfig, TransferConfig, AdaptationConfig, RobustnessConfig]
)
def test_configs_hold_no_defaults(config):
    fields = dataclasses.fields(config)
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields)


def test_transfer_config_counts_frozen_blocks_and_rejects_tuning_every_block():
    assert TransferConfig(**TRANSFER).frozen_blocks == 11
    with pytest.raises(ValueError, match="finetune_blocks"):
        TransferConfig(**{**TRANSFER, "finetune_blocks": 13})
    with pytest.raises(ValueError, match="finetune_precision"):
        TransferConfig(**{**TRANSFER, "finetune_precision": "bf16"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_folds": 1}, "n_folds >= 2"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"max_clips": 4}, "too few"),
    ],
)
def test_experiment_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(**{**EXPERIMENT, **changes})


def test_eda_and_features_configs_reject_bad_values():
    with pytest.raises(ValueError, match="n_audio_players"):
        EdaConfig(data_dir=None, corpora=None, n_audio_players=-1, n_jobs=1, seed=0)
    features = {"data_dir": None, "corpora": None, "max_clips": None, "n_jobs": 1, "seed": 0, "cv_folds": 5}
    features |= {"variant_check_clips": None, "tsne_perplexity": 30.0}
    with pytest.raises(ValueError, match="cv_folds"):
        FeaturesConfig(**{**features, "cv_folds": 1})
    with pytest.raises(ValueError, match="too few for 5 folds"):
        FeaturesConfig(**{**features, "variant_check_clips": 6})


def test_adaptation_config_takes_clip_counts_or_none_for_all():
    assert AdaptationConfig(enrol_sizes=(1, 16, None)).enrol_sizes == (1, 16, None)
    for bad in ((), (0, 4)):
        with pytest.raises(ValueError, match="enrol_sizes"):
            AdaptationConfig(enrol_sizes=bad)


ROBUSTNESS = {
    "data_dir": None,
    "corpora": None,
    "conditions": (("white_noise", 20.0), ("telephone", "gsm")),
    "models": None,
    "subset_fraction": 0.1,
    "augment_fraction": 1.0,
    "span_trims_db": (20.0,),
    "span_tabular_views": (("logistic_regression", "gsm"),),
    "span_cnn_trim_db": None,
    "span_floor_db": 20.0,
    "span_cnn_views": ((None, 2), ("gsm", 1)),
    "span_l2": 1e-3,
    "n_jobs": 1,
    "seed": 0,
}


def test_robustness_config_counts_one_member_per_view_and_rejects_unknown_codecs():
    two_views = (("logistic_regression", None), ("logistic_regression", "gsm"))
    RobustnessConfig(**{**ROBUSTNESS, "span_tabular_views": two_views})  # one family, two views: a pool
    with pytest.raises(ValueError, match="two members or more"):
        RobustnessConfig(**ROBUSTNESS)  # one family, one view, no CNN-LSTM
    with_cnn = {**ROBUSTNESS, "span_cnn_trim_db": 20.0}
    assert RobustnessConfig(**with_cnn).span_cnn_views == ((None, 2), ("gsm", 1))
    bad = [
        ("span_tabular_views", views)
        for views in (
            (("logistic_regression", "amr"),),
            (("logistic_regression", "gsm"), ("logistic_regression", "gsm")),
            (("random_guess", None),),
        )
    ]
    bad += [("span_cnn_views", views) for views in ((("amr", 1),), (("gsm", 1), ("gsm", 2)), ((None, 0),))]
    for key, value in bad:
        with pytest.raises(ValueError, match="in span_tabular_views and span_cnn_views"):
            RobustnessConfig(**{**with_cnn, key: value})
