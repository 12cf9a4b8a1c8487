import shutil

import numpy as np
import pandas as pd
import soundfile as sf

from ser_utils.cli import main
from ser_utils.data.manifest import build_manifest, read_manifest, sample_clips, usable_rows, write_manifest


def test_shared_corpora_manifest(shared_data, tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["manifest", str(shared_data / "ravdess"), str(shared_data / "tess"), "--out", str(out)]) == 0
    manifest = read_manifest(out)
    counts = manifest.groupby("corpus").agg(
        clips=("path", "size"), speakers=("speaker", "nunique"), emotions=("emotion", "nunique")
    )
    assert counts.loc["ravdess"].tolist() == [1440, 24, 8]
    assert counts.loc["tess"].tolist() == [2798, 2, 7]
    ravdess = manifest[manifest.corpus == "ravdess"]
    assert (ravdess.groupby("emotion").size().drop("neutral") == 192).all()
    assert ravdess.groupby("emotion").size()["neutral"] == 96
    assert set(ravdess.loc[ravdess.speaker == "ravdess_01", "gender"]) == {"male"}
    assert ravdess["channels"].max() == 2 and manifest["sample_rate"].eq(16000).all()
    tess = manifest[manifest.corpus == "tess"]
    assert tess.groupby("speaker").size().to_dict() == {"tess_OAF": 1399, "tess_YAF": 1399}
    assert pd.read_csv(tmp_path / "m_skipped.csv").empty
    assert "ravdess: 1440 clips, 24 speakers, 8 emotions" in capsys.readouterr().out


def test_broken_files_are_listed_never_fatal(shared_data, tmp_path):
    folder = tmp_path / "mixed" / "Actor_01"
    folder.mkdir(parents=True)
    good = sorted((shared_data / "ravdess" / "Actor_01").glob("*.flac"))[:5]
    for path in good:
        shutil.copy(path, folder / path.name)
    (folder / "03-01-05-01-01-01-01.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (folder / "03-01-06-01-01-01-01.wav").write_bytes(b"")
    sf.write(folder / "recording_from_phone.wav", np.zeros(16000), 16000)
    manifest, skipped = build_manifest([tmp_path / "mixed"], progress=False, n_jobs=2)
    assert sorted(manifest["path"].map(lambda p: p.split("/")[-1])) == sorted(p.name for p in good)
    reasons = dict(zip(skipped["path"].map(lambda p: p.split("/")[-1]), skipped["reason"], strict=True))
    empty_reason = reasons["03-01-06-01-01-01-01.wav"]
    assert empty_reason.startswith("undecodable") and "empty" in empty_reason
    assert reasons["03-01-05-01-01-01-01.wav"].startswith("undecodable")
    assert "no known corpus" in reasons["recording_from_phone.wav"]
    skipped_path = write_manifest(manifest, skipped, out=tmp_path / "out" / "manifest.csv")
    assert len(pd.read_csv(skipped_path)) == 3


def test_only_broken_files_exit_nonzero(tmp_path):
    (tmp_path / "03-01-05-01-01-01-01.wav").write_bytes(b"junk")
    assert main(["manifest", str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 1


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["manifest", str(tmp_path / "nope"), "--out", str(tmp_path / "m.csv")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_usable_rows_and_sampling():
    manifest = pd.DataFrame(
        {
            "path": [f"p{i}" for i in range(12)],
            "corpus": ["emodb"] * 12,
            "speaker": ["a", "b"] * 6,
            "emotion": ["angry", "sad", "", "angry", "sad", "angry"] * 2,
            "excluded_reason": ["", "", "boredom", "", "", ""] * 2,
        }
    )
    usable = usable_rows(manifest)
    assert len(usable) == 10 and "" not in set(usable["emotion"])
    sample = sample_clips(usable, max_clips=4, seed=1)
    assert len(sample) == 4 and set(sample["speaker"]) == {"a", "b"} and set(sample["emotion"]) == {"angry", "sad"}
    assert sample_clips(usable, max_clips=None, seed=0).equals(usable)
