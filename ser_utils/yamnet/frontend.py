"""Turn 16 kHz waveforms into the 96 x 64 log-mel patches YAMNet reads, with ``tf.signal``.

YAMNet was trained on 16 kHz mono, the project's ``audio.loading.SAMPLE_RATE``: the sample counts below assume it.
The recipe is YAMNet's (Google's ``features.py``): magnitude STFT with a 25 ms periodic Hann window
(400 samples), a 10 ms hop (160) and a 512-point FFT; 64 HTK mel bands from 125 to 7500 Hz;
``log(mel + 0.001)``; then 96-frame (0.96 s) patches every 48 frames (0.48 s).

Padding: a clip is zero-padded at the end to at least 15,600 samples (0.975 s, exactly one patch)
and then up to a whole number of patch hops (7,680 samples), so every clip, however short (even
empty), gives at least one patch and the tail of a long clip lands in a last, partly silent patch.
``num_patches`` says how many patches a clip of a given length gives.

Everything runs on TensorFlow ops, so it works eagerly, inside ``tf.data.Dataset.map`` and inside
a Keras model (``YamnetFrontend``, TensorFlow backend).
"""

import math

import keras
import numpy as np
import tensorflow as tf

from ser_utils.audio.loading import SAMPLE_RATE

__all__ = [
    "WINDOW_LENGTH",
    "HOP_LENGTH",
    "N_FFT",
    "N_MELS",
    "FMIN",
    "FMAX",
    "LOG_OFFSET",
    "PATCH_FRAMES",
    "PATCH_HOP_FRAMES",
    "MIN_SAMPLES",
    "PATCH_HOP_SAMPLES",
    "num_patches",
    "pad_waveform",
    "waveform_to_log_mel",
    "frame_patches",
    "waveform_to_patches",
    "YamnetFrontend",
]

WINDOW_LENGTH = 400  # samples: 25 ms periodic Hann window
HOP_LENGTH = 160  # samples: 10 ms between STFT frames
N_FFT = 512  # FFT size: the next power of two above the window
N_MELS = 64  # mel bands
FMIN = 125.0  # Hz, lower edge of the lowest mel band
FMAX = 7500.0  # Hz, upper edge of the highest mel band
LOG_OFFSET = 0.001  # added to the mel magnitude before the log, so silence is log(0.001) = -6.9
PATCH_FRAMES = 96  # STFT frames per patch: 0.96 s
PATCH_HOP_FRAMES = 48  # STFT frames between patch starts: 0.48 s
MIN_SAMPLES = (PATCH_FRAMES - 1) * HOP_LENGTH + WINDOW_LENGTH  # 15,600 samples = 0.975 s = one patch
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * HOP_LENGTH  # 7,680 samples = 0.48 s


def num_patches(n_samples: int) -> int:
    """How many patches a clip of ``n_samples`` samples gives after padding (at least 1)."""
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    return 1 + math.ceil(max(0, n_samples - MIN_SAMPLES) / PATCH_HOP_SAMPLES)


def pad_waveform(waveform) -> tf.Tensor:
    """Zero-pad the last axis of a (..., samples) waveform to ``num_patches`` whole patches.

    Returns float32 (..., padded_samples) with padded_samples = MIN_SAMPLES + k * PATCH_HOP_SAMPLES,
    the smallest such length >= samples. Padding goes at the end only, so sample 0 stays frame 0.
    """
    waveform = _as_waveform(waveform)
    n_samples = tf.shape(waveform)[-1]
    n_hops = tf.math.floordiv(tf.maximum(0, n_samples - MIN_SAMPLES) + PATCH_HOP_SAMPLES - 1, PATCH_HOP_SAMPLES)
    n_padding = MIN_SAMPLES + n_hops * PATCH_HOP_SAMPLES - n_samples
    paddings = tf.concat([tf.zeros([tf.rank(waveform) - 1, 2], tf.int32), [[0, n_padding]]], axis=0)
    return tf.pad(waveform, paddings)


def waveform_to_log_mel(waveform, *, log_offset: float = LOG_OFFSET) -> tf.Tensor:
    """Log-mel spectrogram of a (..., samples) 16 kHz waveform in [-1, 1], without padding.

    Returns float32 (..., frames, N_MELS) with frames = 1 + (samples - 400) // 160 (0 when the clip
    is shorter than one window): natural log of the mel-weighted STFT magnitude plus ``log_offset``.
    """
    waveform = _as_waveform(waveform)
    magnitude = tf.abs(
        tf.signal.stft(waveform, frame_length=WINDOW_LENGTH, frame_step=HOP_LENGTH, fft_length=N_FFT)
    )  # periodic Hann window is tf.signal.stft's default
    return tf.math.log(tf.matmul(magnitude, _mel_matrix()) + log_offset)


def frame_patches(log_mel) -> tf.Tensor:
    """Cut a (..., frames, N_MELS) log-mel spectrogram into (..., patches, 96, N_MELS) patches.

    Patches start every 48 frames and only whole patches are kept: patches = 1 + (frames - 96) // 48,
    0 for fewer than 96 frames (pad the waveform first with ``pad_waveform`` to avoid that).
    """
    log_mel = tf.convert_to_tensor(log_mel, dtype=tf.float32)
    if log_mel.shape.rank is not None and (log_mel.shape.rank < 2 or log_mel.shape[-1] != N_MELS):
        raise ValueError(f"log_mel must have shape (..., frames, {N_MELS}), got {log_mel.shape}")
    return tf.signal.frame(log_mel, frame_length=PATCH_FRAMES, frame_step=PATCH_HOP_FRAMES, axis=-2)


def waveform_to_patches(waveform, *, log_offset: float = LOG_OFFSET) -> tf.Tensor:
    """YAMNet's whole front end: (..., samples) 16 kHz waveform -> (..., patches, 96, 64) float32.

    Pads with ``pad_waveform`` first, so patches = ``num_patches(samples)`` >= 1.
    """
    return frame_patches(waveform_to_log_mel(pad_waveform(waveform), log_offset=log_offset))


@keras.saving.register_keras_serializable(package="ser_utils")
class YamnetFrontend(keras.layers.Layer):
    """Keras layer: (batch, samples) 16 kHz waveforms -> (batch, patches, 96, 64) log-mel patches.

    Has no weights; it pads and transforms exactly like ``waveform_to_patches``. Needs the
    TensorFlow backend. Every clip in a batch must have the same length (crop or pad them first,
    e.g. with ``ser_utils.audio.loading.fix_length``).

    Example:

    ```python
    waveforms = keras.Input(shape=(48_000,))  # 3 s at 16 kHz
    patches = YamnetFrontend()(waveforms)  # (batch, 5, 96, 64)
    ```
    """

    def __init__(self, *, log_offset: float = LOG_OFFSET, **kwargs):
        super().__init__(**kwargs)
        self.log_offset = log_offset

    def call(self, waveforms):
        return waveform_to_patches(waveforms, log_offset=self.log_offset)

    def compute_output_shape(self, input_shape):
        n_samples = input_shape[-1]
        patches = None if n_samples is None else num_patches(n_samples)
        return (*input_shape[:-1], patches, PATCH_FRAMES, N_MELS)

    def get_config(self):
        return {**super().get_config(), "log_offset": self.log_offset}


def _as_waveform(waveform) -> tf.Tensor:
    """A float32 tensor with samples on the last axis, or ValueError naming the problem."""
    if isinstance(waveform, np.ndarray) and not np.issubdtype(waveform.dtype, np.floating):
        raise ValueError(f"waveform must be floating point in [-1, 1], got dtype {waveform.dtype}")
    waveform = tf.convert_to_tensor(waveform, dtype=tf.float32)
    if waveform.shape.rank == 0:
        raise ValueError("waveform must have at least one axis (samples,), got a scalar")
    return waveform


def _mel_matrix() -> tf.Tensor:
    """(N_FFT // 2 + 1, N_MELS) float32 weights from STFT bins to YAMNet's mel bands."""
    return tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=N_MELS,
        num_spectrogram_bins=N_FFT // 2 + 1,
        sample_rate=SAMPLE_RATE,
        lower_edge_hertz=FMIN,
        upper_edge_hertz=FMAX,
    )
