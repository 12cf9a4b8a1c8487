"""Source–filter synthesis of one speech-like clip for the demo corpus: prosody, glottal source, formants.

A glottal pulse train follows an F0 contour and passes through time-varying formant resonators (a vowel-like
syllable sequence), with a syllable amplitude envelope, aspiration noise and short noise bursts standing in
for consonants. Emotion moves the prosody in the directions reported in the acoustic-phonetics literature;
each synthetic speaker has its own base F0, vocal-tract length and habits. ``demo_corpus`` checks the codes
and writes the files; this module only renders.
"""

from dataclasses import dataclass, fields

import numpy as np
from scipy import signal

from ser_utils.data.taxonomy import RAVDESS_EMOTIONS

__all__ = ["EMOTION_CODES", "render_clip"]

EMOTION_CODES = tuple(RAVDESS_EMOTIONS)  # "01" neutral … "08" surprised
STRONG_GAIN = 1.6  # a strong-intensity clip lies this many times further from neutral than a normal one
REFERENCE_DBFS = -28.0  # RMS of voiced neutral speech; emotions and speakers shift it in dB
NOISE_FLOOR_DBFS = -70.0  # constant room noise, so leading/trailing "silence" is not digital zero
SPEECH_S = (1.15, 2.5)  # clamp on the utterance length, seconds; edges add 0.36–0.5 s → clips 1.5–3 s
EDGE_SILENCE_S = (0.18, 0.25)  # leading and trailing pause, seconds
LIMIT = 0.98  # soft-clipping ceiling of the output, full scale
FORMANT_BLOCK_S = 0.01  # formant frequencies are updated every 10 ms

# Approximate adult-male formant targets F1–F4 (Hz) of a few American-English vowels.
_VOWELS = {
    "IY": (280, 2250, 2900, 3500),
    "IH": (400, 1950, 2550, 3450),
    "EH": (550, 1800, 2500, 3450),
    "AE": (680, 1700, 2400, 3400),
    "AA": (720, 1100, 2450, 3400),
    "AO": (580, 860, 2400, 3350),
    "UH": (450, 1050, 2250, 3350),
    "UW": (310, 900, 2250, 3300),
    "AH": (620, 1200, 2400, 3400),
    "ER": (480, 1350, 1700, 3300),
}
_BANDWIDTHS_HZ = np.array([70.0, 100.0, 140.0, 220.0])

# Two syllable patterns, one per statement code: (start vowel, end vowel, relative duration, stress 0–1).
_STATEMENTS = {
    "01": (
        ("IH", "IH", 1.0, 1.0),
        ("AA", "AA", 0.7, 0.0),
        ("AO", "AO", 1.1, 0.8),
        ("IH", "IH", 0.7, 0.0),
        ("AA", "IY", 1.1, 0.5),
        ("AH", "AH", 0.6, 0.0),
        ("AO", "ER", 1.5, 0.7),
    ),
    "02": (
        ("AO", "AO", 1.2, 1.0),
        ("ER", "ER", 0.7, 0.0),
        ("IH", "IH", 1.0, 0.6),
        ("IH", "IH", 0.7, 0.0),
        ("AA", "IY", 1.1, 0.8),
        ("AH", "AH", 0.6, 0.0),
        ("UH", "ER", 1.5, 0.5),
    ),
}


@dataclass(frozen=True)
class _Prosody:
    """How one clip is spoken; strong intensity extrapolates every field away from neutral."""

    f0_shift_st: float  # mean pitch relative to the speaker's base F0, semitones
    f0_range_st: float  # height of pitch accents on stressed syllables, semitones
    final_st: float  # pitch movement across the last syllable (negative = fall), semitones
    rate_sps: float  # tempo, syllables per second
    level_db: float  # loudness relative to neutral, dB
    tension: float  # voice quality, -1 lax/breathy (steep tilt) … +1 pressed/tense (flat tilt)
    breath: float  # aspiration noise relative to voicing
    jitter: float  # period-to-period F0 perturbation, fraction
    shimmer: float  # period-to-period amplitude perturbation, fraction
    creak: float  # 0–1 damping of every other glottal pulse (vocal fry)
    tremor_st: float  # depth of a 5.5 Hz pitch tremor, semitones
    formant_scale: float  # emotion-driven formant shift (smiling, lowered larynx), ratio


_NEUTRAL = _Prosody(0.0, 4.0, -2.0, 4.6, 0.0, 0.0, 0.010, 0.006, 0.04, 0.0, 0.0, 1.0)
_PROSODY = {
    "01": _NEUTRAL,
    "02": _Prosody(-1.0, 3.0, -2.0, 3.9, -4.0, -0.35, 0.015, 0.005, 0.035, 0.05, 0.0, 0.99),  # calm
    "03": _Prosody(3.0, 7.0, -1.0, 5.1, 4.0, 0.3, 0.010, 0.007, 0.045, 0.0, 0.0, 1.04),  # happy
    "04": _Prosody(-2.0, 1.8, -3.0, 3.4, -5.0, -0.7, 0.025, 0.009, 0.06, 0.15, 0.1, 0.97),  # sad
    "05": _Prosody(2.5, 5.5, -4.0, 5.6, 8.0, 0.9, 0.006, 0.009, 0.07, 0.0, 0.0, 1.03),  # angry
    "06": _Prosody(4.0, 4.5, 0.5, 5.9, 2.0, 0.1, 0.030, 0.020, 0.08, 0.0, 0.5, 1.02),  # fearful
    "07": _Prosody(-2.5, 3.5, -3.0, 3.7, -1.0, 0.25, 0.012, 0.013, 0.08, 0.25, 0.0, 0.98),  # disgust
    "08": _Prosody(3.5, 9.0, 6.0, 4.7, 4.0, 0.3, 0.012, 0.007, 0.05, 0.0, 0.0, 1.02),  # surprised
}


def render_clip(
    *, actor: int, emotion: str, intensity: str, statement: str, repetition: str, sr: int, seed: int
) -> np.ndarray:
    """One clip as float32 (samples,) in [-1, 1] at ``sr`` Hz, 1.5–3 s long, from valid RAVDESS codes
    (``demo_corpus.synthesize_clip`` checks them). Deterministic in all arguments."""
    rng = np.random.default_rng([seed, actor, int(emotion), int(intensity), int(statement), int(repetition)])
    speaker = _speaker(actor, seed)
    prosody = _clip_prosody(emotion, strong=intensity == "02", speaker=speaker, rng=rng)
    return _render(prosody, speaker=speaker, syllables=_STATEMENTS[statement], sr=sr, rng=rng)


@dataclass(frozen=True)
class _Speaker:
    """One synthetic speaker's fixed traits."""

    f0_hz: float  # base (neutral, mid-utterance) F0
    formant_scale: np.ndarray  # (4,) F1–F4 ratios to the adult-male vowel table: tract length and shape
    range_scale: float  # personal pitch-range habit, ratio
    rate_scale: float  # personal tempo, ratio
    level_db: float  # personal loudness, dB
    tension: float  # personal voice-quality offset
    breath_scale: float  # personal breathiness, ratio
    expressiveness: float  # how far from neutral this speaker moves, ratio
    emotion_offsets: dict  # RAVDESS code -> (f0 st, range st, rate sps, level dB, tension) personal bias


def _speaker(actor: int, seed: int) -> _Speaker:
    """Draw actor ``actor``'s traits; odd actors are male (F0 95–140 Hz), even female (170–240 Hz)."""
    rng = np.random.default_rng([seed, actor])
    male = actor % 2 == 1
    offsets = {code: rng.normal(0.0, (0.8, 0.7, 0.3, 1.5, 0.15)) for code in EMOTION_CODES}
    return _Speaker(
        f0_hz=rng.uniform(95.0, 140.0) if male else rng.uniform(170.0, 240.0),
        formant_scale=rng.normal(1.0 if male else 1.16, 0.04) * rng.normal(1.0, 0.04, 4),
        range_scale=float(np.clip(rng.lognormal(0.0, 0.2), 0.7, 1.4)),
        rate_scale=rng.uniform(0.88, 1.12),
        level_db=rng.normal(0.0, 2.0),
        tension=rng.normal(0.0, 0.2),
        breath_scale=rng.lognormal(0.0, 0.3) * (1.0 if male else 1.3),
        expressiveness=rng.uniform(0.7, 1.2),
        emotion_offsets=offsets,
    )


def _clip_prosody(emotion: str, *, strong: bool, speaker: _Speaker, rng: np.random.Generator) -> _Prosody:
    """Emotion profile, pushed by intensity and the speaker's expressiveness, biased by their habits."""
    gain = (STRONG_GAIN if strong else 1.0) * speaker.expressiveness
    target = _PROSODY[emotion]
    values = {
        f.name: getattr(_NEUTRAL, f.name) + gain * (getattr(target, f.name) - getattr(_NEUTRAL, f.name))
        for f in fields(_Prosody)
    }
    d_f0, d_range, d_rate, d_level, d_tension = speaker.emotion_offsets[emotion]
    values["f0_shift_st"] += d_f0 + rng.normal(0.0, 0.5)
    values["f0_range_st"] = max(
        0.5, (values["f0_range_st"] + d_range) * speaker.range_scale * (1.0 + 0.1 * rng.normal())
    )
    values["rate_sps"] = max(2.0, (values["rate_sps"] + d_rate) * speaker.rate_scale * (1.0 + 0.05 * rng.normal()))
    values["level_db"] += d_level + speaker.level_db + rng.normal(0.0, 1.0)
    values["tension"] = float(
        np.clip(values["tension"] + d_tension + speaker.tension + rng.normal(0.0, 0.08), -1.0, 1.0)
    )
    values["breath"] = max(0.0, values["breath"] * speaker.breath_scale)
    for name in ("jitter", "shimmer", "tremor_st"):
        values[name] = max(0.0, values[name])
    values["creak"] = float(np.clip(values["creak"], 0.0, 0.9))
    return _Prosody(**values)


def _render(prosody: _Prosody, *, speaker: _Speaker, syllables: tuple, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Synthesize one utterance, shape (samples,), float32."""
    n_syl = len(syllables)
    weights = np.array([s[2] for s in syllables]) * rng.uniform(0.9, 1.1, n_syl)
    stress = np.array([s[3] for s in syllables])
    speech_s = float(np.clip(n_syl / prosody.rate_sps, *SPEECH_S))
    durations = weights / weights.sum() * speech_s
    lead, trail = rng.uniform(*EDGE_SILENCE_S, 2)
    starts = lead + np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    n = int(round((lead + speech_s + trail) * sr))
    t = np.arange(n) / sr
    index, position = _syllable_position(t, starts, durations)  # position: 0…1 within the syllable
    inside = (t >= lead) & (t < lead + speech_s)

    # Amplitude: a voiced nucleus per syllable after a short consonant burst, stressed syllables louder.
    nucleus = np.clip((position - 0.12) / 0.83, 0.0, 1.0)
    voice_env = np.clip(np.minimum(nucleus / 0.2, (1.0 - nucleus) / 0.25), 0.0, 1.0)
    voice_env = voice_env * voice_env * (3.0 - 2.0 * voice_env) * (1.0 + 0.4 * stress[index]) * inside
    burst_env = np.where(position < 0.15, np.sin(np.pi * position / 0.15), 0.0) * inside
    burst_env *= rng.uniform(0.3, 1.0, n_syl)[index]

    # Pitch: declination + accents on stressed syllables + final movement + tremor + slow drift.
    progress = np.clip((t - lead) / speech_s, 0.0, 1.0)
    accents = prosody.f0_range_st * stress * rng.uniform(0.8, 1.2, n_syl)
    semitones = (
        prosody.f0_shift_st
        + 1.0
        - 2.0 * progress
        + accents[index] * np.sin(np.pi * position) ** 2
        + prosody.final_st * np.where(index == n_syl - 1, position, 0.0) * inside
        + prosody.tremor_st * np.sin(2.0 * np.pi * 5.5 * t + rng.uniform(0.0, 2.0 * np.pi))
        + _slow_noise(n, sr=sr, rng=rng, cutoff_hz=3.0, scale=0.3)
    )
    f0 = speaker.f0_hz * 2.0 ** (semitones / 12.0)

    # Glottal source plus aspiration noise, low-passed for spectral tilt (lax/breathy voice: steeper).
    pulse, flow = _glottal_flow(f0, prosody=prosody, sr=sr, rng=rng)
    aspiration = prosody.breath * rng.standard_normal(n) * (0.5 + pulse)  # turbulence peaks while open
    tilt = float(np.clip(0.45 - 0.35 * prosody.tension, 0.05, 0.9))  # one-pole low-pass coefficient
    source = signal.lfilter([1.0 - tilt], [1.0, -tilt], (flow + aspiration) * voice_env)

    # Vocal tract: cascaded time-varying formant resonators, then lip radiation (first difference).
    speech = _formant_filter(
        source,
        starts=starts,
        durations=durations,
        syllables=syllables,
        scale=speaker.formant_scale * prosody.formant_scale * rng.normal(1.0, 0.01),
        open_jaw=1.0 + 0.01 * prosody.level_db,
        sr=sr,
    )
    speech = signal.lfilter([1.0, -0.97], [1.0], speech)
    highpass = signal.butter(4, 2500.0, "highpass", fs=sr, output="sos")
    consonants = signal.sosfilt(highpass, rng.standard_normal(n))  # fricative/burst-like noise
    voiced_rms = np.sqrt(np.mean(speech[voice_env > 0.5] ** 2))
    speech += 0.35 * voiced_rms * consonants * burst_env

    gain = 10.0 ** ((REFERENCE_DBFS + prosody.level_db) / 20.0) / voiced_rms
    floor = 10.0 ** (NOISE_FLOOR_DBFS / 20.0) * rng.standard_normal(n)
    return (LIMIT * np.tanh((speech * gain + floor) / LIMIT)).astype(np.float32)  # soft-clip loud peaks


def _glottal_flow(
    f0: np.ndarray, *, prosody: _Prosody, sr: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg glottal pulses following ``f0`` (Hz, shape (samples,)) with jitter, shimmer and creak.

    Returns the bare pulse shape and the flow with per-period amplitude changes, both (samples,), about 0–1.
    """
    period = np.floor(np.cumsum(f0 / sr)).astype(np.int64)
    f0 = f0 * (1.0 + prosody.jitter * rng.standard_normal(period[-1] + 2)[period])
    phase = np.cumsum(f0 / sr)
    period = np.floor(phase).astype(np.int64)
    frac = phase - period  # 0–1 position within the glottal cycle
    open_quotient = 0.6 - 0.18 * prosody.tension  # tense voice: shorter open phase, richer harmonics
    rise = 0.65 * open_quotient
    opening = 0.5 * (1.0 - np.cos(np.pi * frac / rise))
    closing = np.cos(0.5 * np.pi * (frac - rise) / (open_quotient - rise))
    pulse = np.where(frac < rise, opening, np.where(frac < open_quotient, closing, 0.0))
    n_periods = period[-1] + 1
    period_gain = 1.0 + prosody.shimmer * rng.standard_normal(n_periods)
    period_gain *= np.where(np.arange(n_periods) % 2 == 1, 1.0 - prosody.creak, 1.0)  # creak: weak alternates
    return pulse, pulse * period_gain[period]


def _syllable_position(t: np.ndarray, starts: np.ndarray, durations: np.ndarray) -> tuple:
    """Syllable index (clamped to the utterance) and 0–1 position within it for each time in ``t``."""
    index = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
    position = np.clip((t - starts[index]) / durations[index], 0.0, 1.0)
    return index, position


def _slow_noise(n: int, *, sr: int, rng: np.random.Generator, cutoff_hz: float, scale: float) -> np.ndarray:
    """Smooth random drift of shape (n,) with standard deviation about ``scale``."""
    step = int(sr / (2.0 * cutoff_hz))
    knots = rng.normal(0.0, scale, n // step + 2)
    return np.interp(np.arange(n) / step, np.arange(knots.size), knots)


def _formant_filter(
    source: np.ndarray, *, starts, durations, syllables, scale: np.ndarray, open_jaw: float, sr: int
) -> np.ndarray:
    """Filter ``source`` through four resonators whose frequencies follow the syllables' vowels."""
    block = int(round(FORMANT_BLOCK_S * sr))
    centres = (np.arange(0, source.size, block) + block / 2) / sr
    index, position = _syllable_position(centres, starts, durations)
    begin = np.array([_VOWELS[s[0]] for s in syllables], dtype=float)[index]
    end = np.array([_VOWELS[s[1]] for s in syllables], dtype=float)[index]
    glide = (position * position * (3.0 - 2.0 * position))[:, None]
    formants = (begin + (end - begin) * glide) * scale
    formants[:, 0] *= open_jaw
    kernel = np.hanning(7) / np.hanning(7).sum()  # coarticulation: smooth targets over ±30 ms
    padded = np.pad(formants, ((3, 3), (0, 0)), mode="edge")
    formants = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(4)], axis=1)
    radius = np.exp(-np.pi * _BANDWIDTHS_HZ * scale.mean() / sr)
    cos_theta = np.cos(2.0 * np.pi * formants / sr)
    sos = np.zeros(formants.shape + (6,))
    sos[..., 0] = 1.0 - 2.0 * radius * cos_theta + radius**2  # unity gain at DC
    sos[..., 3] = 1.0
    sos[..., 4] = -2.0 * radius * cos_theta
    sos[..., 5] = radius**2
    out = np.empty_like(source)
    state = np.zeros((4, 2))
    for b, start in enumerate(range(0, source.size, block)):
        out[start : start + block], state = signal.sosfilt(sos[b], source[start : start + block], zi=state)
    return out
