"""Shared fixtures: where ../shared lives and small generated audio files."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SER_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only shared corpora folder (../shared/data); tests needing it skip without it."""
    path = SHARED / "data"
    if not (path / "ravdess").is_dir():
        pytest.skip(f"shared corpora not found at {path}")
    return path


@pytest.fixture
def write_tone(tmp_path):
    """Write a sine tone file: ``write_tone(name, sr=16000, seconds=1.0, channels=1, freq=440)``."""

    def write(
        name: str,
        *,
        sr: int = 16000,
        seconds: float = 1.0,
        channels: int = 1,
        freq: float = 440.0,
        subtype: str | None = None,
    ) -> Path:
        t = np.arange(int(sr * seconds)) / sr
        wave = 0.5 * np.sin(2 * np.pi * freq * t)
        data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, sr, subtype=subtype)
        return path

    return write
