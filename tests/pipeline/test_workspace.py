import pytest

from ser_utils.pipeline.workspace import DATA_ENV_VAR, open_workspace, resolve_data_dir


def test_argument_beats_environment(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "b"))
    assert resolve_data_dir(tmp_path / "a", root=tmp_path) == (tmp_path / "a").resolve()
    assert resolve_data_dir(None, root=tmp_path) == (tmp_path / "b").resolve()


def test_missing_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="does not exist"):
        resolve_data_dir(tmp_path / "nope", root=tmp_path)


def test_empty_data_folder_means_no_data(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    (tmp_path / "data").mkdir()
    assert resolve_data_dir(None, root=tmp_path) is None


def test_download_layout_names_the_run(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    ws = open_workspace(shared_data, root=tmp_path)
    assert ws.run_name == "ravdess-tess" and not ws.is_demo
    assert [p.name for p in ws.corpus_dirs] == ["ravdess", "tess"]  # originals/ is not a corpus folder
    assert ws.charts_dir == tmp_path / "charts" / "ravdess-tess"
    assert ws.data_label == "RAVDESS + TESS"


def test_manifest_is_cached_until_the_corpus_changes(tmp_path, write_tone, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    write_tone("corpus/Actor_01/03-01-05-01-01-01-01.wav")
    ws = open_workspace(tmp_path / "corpus", root=tmp_path)
    assert len(ws.manifest(n_jobs=1)) == 1
    write_tone("corpus/Actor_01/03-01-04-01-01-01-01.wav")
    assert len(ws.manifest(n_jobs=1)) == 2


def test_corpus_selection_narrows_manifest_and_label(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    ws = open_workspace(shared_data, corpora=["ravdess"], root=tmp_path)
    assert ws.run_name == "ravdess-tess" and ws.data_label == "RAVDESS"
    assert set(ws.manifest(n_jobs=1)["corpus"]) == {"ravdess"}
