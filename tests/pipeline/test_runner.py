import json
import re

import pytest

from ser_utils.pipeline.runner import data_dir_parameter, notebook_order, profile_parameters
from ser_utils.pipeline.workspace import project_root, resolve_data_dir

ROOT = project_root(__file__)


def test_notebook_order_follows_the_numbers_and_skips_unnumbered(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("10_later", "02_second", "scratch", "1_unpadded", "01_first"):
        (tmp_path / "notebooks" / f"{name}.ipynb").write_text("{}")
    assert [nb.stem for nb in notebook_order(tmp_path)] == ["01_first", "02_second", "10_later"]


def test_the_series_is_numbered_without_gaps():
    numbers = [int(nb.stem[:2]) for nb in notebook_order(ROOT)]
    assert numbers == list(range(1, len(numbers) + 1)), f"notebook numbers {numbers} skip or repeat"


def test_every_notebook_has_a_parameters_cell_and_no_outputs():
    import nbformat

    for path in notebook_order(ROOT):
        notebook = nbformat.read(path, as_version=4)
        tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        assert "DATA_DIR = None" in tagged[0].source, path.name
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), path.name
        ids = [cell.get("id") for cell in json.loads(path.read_text())["cells"]]  # raw: nbformat.read fills them in
        assert all(ids) and len(set(ids)) == len(ids), f"{path.name}: every cell needs its own id"


def test_papermill_reads_every_parameter_and_profiles_override_only_those():
    import nbformat
    from papermill.translators import PythonTranslator

    for path in notebook_order(ROOT):
        source = next(
            c.source for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])
        )
        assigned = {line.split(" =")[0] for line in source.splitlines() if re.match(r"[A-Z][A-Z0-9_]* = ", line)}
        parsed = {parameter.name for parameter in PythonTranslator.inspect({"source": source})}
        assert parsed == assigned, (
            f"{path.name}: papermill cannot read {sorted(assigned - parsed)} (a comment's quotes?)"
        )
        for profile in ("quick", "full"):
            for name in profile_parameters(path, profile=profile, root=ROOT):
                assert name in parsed, f"{path.name}: {profile} sets unknown parameter {name}"


def test_unknown_profile_is_rejected():
    with pytest.raises(ValueError, match="profile"):
        profile_parameters(ROOT / "notebooks" / "01_eda.ipynb", profile="huge", root=ROOT)


def test_failure_names_notebook_and_cell(tmp_path, write_tone):
    import nbformat

    from ser_utils.pipeline.runner import run_pipeline

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "ser_utils").mkdir()
    (tmp_path / "notebooks").mkdir()
    cells = [
        nbformat.v4.new_code_cell("DATA_DIR = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(notebook, tmp_path / "notebooks" / "01_broken.ipynb")
    write_tone("corpus/Actor_01/03-01-05-01-01-01-01.wav")
    expected = r"01_broken.ipynb failed at cell 4 .*`raise ValueError.*\(ValueError: broken on purpose\)"
    with pytest.raises(RuntimeError, match=expected):
        run_pipeline(data_dir=tmp_path / "corpus", root=tmp_path)


def test_data_dir_parameter_is_relative_to_the_root_and_resolves_from_the_notebooks_folder(tmp_path, monkeypatch):
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    inside, outside = root / "artifacts" / "demo_corpus", tmp_path / "shared" / "data"
    for folder in (inside, outside):
        folder.mkdir(parents=True)
    assert data_dir_parameter(inside, root=root) == "artifacts/demo_corpus"
    assert data_dir_parameter(outside, root=root) == "../shared/data"
    monkeypatch.chdir(root / "notebooks")  # where papermill runs the kernels
    for folder in (inside, outside):
        assert resolve_data_dir(data_dir_parameter(folder, root=root), root=root) == folder.resolve()
