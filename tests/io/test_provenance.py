"""Tests for ser_utils.io.provenance: portable config, data fingerprint, tables with a .meta.json."""

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ser_utils.io.provenance import PROJECT_ROOT, data_fingerprint, meta_path, portable, run_info, write_table

MANIFEST = pd.DataFrame(
    {
        "path": ["/machine/a/ravdess/Actor_01/x.wav", "/machine/a/tess/OAF_angry/y.wav"],
        "corpus": ["ravdess", "tess"],
        "speaker": ["ravdess_01", "tess_OAF"],
        "emotion": ["happy", "angry"],
    }
)


@dataclass(frozen=True)
class Config:
    data_dir: str | None
    cache: Path
    nested: dict
    seed: int = 0


def test_absolute_paths_become_project_relative_or_their_folder_name():
    config = Config(
        data_dir="/home/someone/corpora/data",
        cache=PROJECT_ROOT / "artifacts" / "cache",
        nested={"runs": ["/tmp/x/run1", "relative/kept"], "label": "RAVDESS"},
    )
    plain = portable({"data_dir": config.data_dir, "cache": config.cache, "nested": config.nested})
    assert plain == {
        "data_dir": "data",
        "cache": "artifacts/cache",
        "nested": {"runs": ["run1", "relative/kept"], "label": "RAVDESS"},
    }
    assert run_info(config)["config"]["data_dir"] == "data"


def test_fingerprint_ignores_folders_and_row_order_but_not_labels():
    moved = MANIFEST.assign(path=MANIFEST["path"].str.replace("/machine/a", "/elsewhere"))
    assert data_fingerprint(moved.iloc[::-1]) == data_fingerprint(MANIFEST)
    assert len(data_fingerprint(MANIFEST)) == 40
    relabelled = MANIFEST.assign(emotion=["sad", "angry"])
    assert data_fingerprint(relabelled) != data_fingerprint(MANIFEST)


def test_a_table_gets_a_meta_json_with_commit_versions_corpora_fingerprint_and_no_absolute_path(tmp_path):
    info = run_info({"data_dir": Path("/work/shared/data"), "seed": 0}, data_label="RAVDESS + TESS", manifest=MANIFEST)
    path = write_table(pd.DataFrame({"a": [1]}), "summary", outputs_dir=tmp_path, info=info)
    meta = json.loads(meta_path(path).read_text())
    assert meta_path(path).name == "summary.meta.json"
    assert meta["git_commit"] and "pandas" in meta["versions"]
    assert meta["corpora"] == ["ravdess", "tess"] and meta["n_clips"] == 2
    assert meta["data_fingerprint"] == data_fingerprint(MANIFEST)
    assert '"/' not in meta_path(path).read_text()  # no absolute path of this machine
