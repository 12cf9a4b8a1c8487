"""The README's results section is generated: it must equal what ``report --readme`` writes from the
committed ``outputs/<run>/`` tables and benchmark files (regenerate with ``python -m ser_utils report --readme``)."""

from ser_utils.pipeline.report import README_MARKERS, README_RUN, results_markdown
from ser_utils.pipeline.speed_report import SPEED_MARKERS, speed_markdown
from ser_utils.pipeline.workspace import project_root

ROOT = project_root(__file__)


def generated_section(markers: tuple[str, str]) -> str:
    text = (ROOT / "README.md").read_text()
    start, end = markers
    assert text.count(start) == 1 and text.count(end) == 1, f"README lost its {start} / {end} markers"
    return text.split(start)[1].split(end)[0].strip("\n")


def test_readme_results_match_the_outputs():
    expected = results_markdown(ROOT / "outputs" / README_RUN, run_name=README_RUN, root=ROOT)
    assert generated_section(README_MARKERS) == expected, (
        "README results are stale: run `python -m ser_utils report --readme`"
    )


def test_readme_speed_section_matches_the_benchmark_files():
    expected = speed_markdown(ROOT / "outputs" / README_RUN, run_name=README_RUN, root=ROOT)
    written = generated_section(SPEED_MARKERS)
    assert written == expected, "README speed section is stale: run `python -m ser_utils report --readme`"
