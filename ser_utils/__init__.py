"""Speech emotion recognition utilities: corpora, audio, features, models and evaluation."""

__version__ = "0.1.0"
