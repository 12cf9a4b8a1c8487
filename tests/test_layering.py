"""The package's imports flow one way: no module imports from a subpackage above its own layer."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ser_utils"
# Lowest first. A module may import from its own layer and any layer below it, never from one above.
LAYERS = ("io", "audio", "data", "yamnet", "features", "models", "evaluation", "serving", "plots", "pipeline", "cli")


def imported_layers(path: Path) -> list[tuple[str, int]]:
    """(layer, line) of every ``ser_utils`` import in a module, at any depth (function-level imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "ser_utils" else [f"ser_utils.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "ser_utils" and len(parts) > 1:
                found.append((parts[1], node.lineno))
    return found


def layer_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if layer_of(p) in LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_points_back_up_the_stack(path):
    own = LAYERS.index(layer_of(path))
    upward = [f"line {line}: ser_utils.{layer}" for layer, line in imported_layers(path) if LAYERS.index(layer) > own]
    assert not upward, f"{path.relative_to(PACKAGE)} ({LAYERS[own]}) imports from higher layers: {upward}"


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert subpackages <= set(LAYERS), f"subpackages without a layer: {sorted(subpackages - set(LAYERS))}"
    top_level = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top_level <= set(LAYERS), f"top-level modules outside the layers: {sorted(top_level - set(LAYERS))}"


def test_the_check_catches_a_back_pointing_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from ser_utils.pipeline.workspace import open_workspace\n")
    assert imported_layers(module) == [("pipeline", 2)]
