"""Figures of notebook 01: label counts, speakers, durations and example clips."""

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ser_utils.audio.loading import load_audio
from ser_utils.data.taxonomy import EMOTIONS

__all__ = ["plot_emotion_counts", "plot_speaker_emotion", "plot_durations", "plot_formats", "plot_examples"]


def plot_emotion_counts(distribution: pd.DataFrame) -> plt.Figure:
    """Stacked bars of clips per emotion, one colour per corpus, from ``emotion_distribution``."""
    corpora = [c for c in distribution.columns if c not in ("emotion", "total", "share")]
    fig, ax = plt.subplots(figsize=(8, 4))
    distribution.set_index("emotion")[corpora].plot.bar(stacked=True, ax=ax, width=0.8)
    ax.set(xlabel="", ylabel="clips", title="Clips per emotion and corpus")
    ax.tick_params(axis="x", rotation=30)
    return fig


def plot_speaker_emotion(speakers: pd.DataFrame) -> plt.Figure:
    """Heat map of clips per speaker (rows) and emotion: the speaker–emotion design of the corpora."""
    counts = speakers.set_index("speaker")[[e for e in EMOTIONS if e in speakers.columns]]
    fig, ax = plt.subplots(figsize=(8, max(3, 0.22 * len(counts) + 1)))
    sns.heatmap(counts, annot=len(counts) <= 30, fmt="g", cmap="Blues", cbar_kws={"label": "clips"}, ax=ax)
    ax.set(title="Clips per speaker and emotion", xlabel="", ylabel="")
    return fig


def plot_durations(manifest: pd.DataFrame) -> plt.Figure:
    """Clip duration histograms per corpus and duration by emotion."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    sns.histplot(manifest, x="duration", hue="corpus", bins=40, element="step", ax=left)
    left.set(xlabel="duration (s)", title="Clip durations")
    labelled = manifest[manifest["emotion"] != ""]
    order = [e for e in EMOTIONS if e in set(labelled["emotion"])]
    sns.boxplot(labelled, x="emotion", y="duration", hue="corpus", order=order, ax=right, fliersize=1)
    right.set(xlabel="", ylabel="duration (s)", title="Duration by emotion")
    right.tick_params(axis="x", rotation=30)
    return fig


def plot_formats(formats: pd.DataFrame, manifest: pd.DataFrame) -> plt.Figure:
    """Recording formats: sample rate × channels per corpus, and speaker gender balance."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    labels = formats.assign(fmt=formats["sample_rate"].astype(str) + " Hz × " + formats["channels"].astype(str) + " ch")
    sns.barplot(labels, x="clips", y="fmt", hue="corpus", ax=left)
    left.set(ylabel="", title="Sample rate × channels (as stored)")
    left.set_xscale("log")
    speakers = manifest.drop_duplicates("speaker")
    sns.countplot(speakers, x="corpus", hue="gender", ax=right)
    right.set(ylabel="speakers", title="Speakers by gender")
    return fig


def plot_examples(examples: pd.DataFrame, *, sr: int = 16000, n_mels: int = 64) -> plt.Figure:
    """Waveform and log-mel spectrogram of one clip per row of ``examples`` (one per emotion)."""
    fig, axes = plt.subplots(len(examples), 2, figsize=(11, 1.6 * len(examples)), squeeze=False)
    for (wave_ax, mel_ax), row in zip(axes, examples.itertuples(), strict=True):
        wave = load_audio(row.path, sr=sr)
        times = np.arange(len(wave)) / sr
        wave_ax.plot(times, wave, linewidth=0.4)
        wave_ax.set_ylabel(row.emotion, rotation=0, ha="right", va="center")
        wave_ax.set_xlim(0, times[-1])
        mel = librosa.power_to_db(
            librosa.feature.melspectrogram(y=wave, sr=sr, n_fft=512, hop_length=160, n_mels=n_mels), ref=np.max
        )
        librosa.display.specshow(mel, sr=sr, hop_length=160, x_axis="time", y_axis="mel", ax=mel_ax)
        mel_ax.set(xlabel="", ylabel="")
    axes[0, 0].set_title("Waveform")
    axes[0, 1].set_title(f"Log-mel spectrogram ({n_mels} bands, dB)")
    fig.tight_layout()
    return fig
