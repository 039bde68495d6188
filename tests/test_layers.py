"""The layer contracts in pyproject.toml hold, and they would catch an import that goes upwards."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("base", "reconstruction", "rendering", "speech", "translation", "pipeline", "flows", "data")
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([LINT, str(tree / "pyproject.toml"), "--no-cache", "--no-logo"], cwd=tree, env=env,
                          capture_output=True, text=True)


@pytest.fixture
def tree(tmp_path):
    """A copy of the packages' sources and the contracts, to break on purpose."""
    if LINT is None:
        pytest.skip("lint-imports is not installed (pip install -e '.[test]')")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_contracts_hold_and_an_upward_import_breaks_them(tree):
    kept = _lint(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout
    pose = tree / "reconstruction" / "pose.py"
    pose.write_text(pose.read_text() + "\nfrom pipeline.job import run_job  # noqa: E402,F401  (upwards, on purpose)\n")
    broken = _lint(tree)
    assert broken.returncode != 0
    assert "reconstruction.pose -> pipeline.job" in broken.stdout, broken.stdout


def test_base_imports_nothing_of_the_project(tree):
    errors = tree / "base" / "errors.py"
    errors.write_text(errors.read_text() + "\nimport data  # noqa: E402,F401  (base reaching into data, on purpose)\n")
    broken = _lint(tree)
    assert broken.returncode != 0 and "base.errors -> data" in broken.stdout, broken.stdout


def test_speech_may_not_reach_for_pictures(tree):
    phones = tree / "speech" / "phones.py"
    phones.write_text(phones.read_text() + "\nimport translation.plate  # noqa: E402,F401  (sideways, on purpose)\n")
    broken = _lint(tree)
    assert broken.returncode != 0 and "speech.phones -> translation.plate" in broken.stdout, broken.stdout


def test_no_package_below_pipeline_mentions_it():
    # The search the design names (`grep -rn "from pipeline\|import pipeline"`), imports inside functions included.
    below = [p for package in ("base", "reconstruction", "rendering", "speech", "translation") for p in (ROOT / package).rglob("*.py")]
    offenders = [str(p.relative_to(ROOT)) for p in below
                 if any(line.lstrip().startswith(("from pipeline", "import pipeline"))
                        for line in p.read_text().splitlines())]
    assert not offenders
