"""Project files: one version, the licence, the citation and the changelog agree."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

import sigmd
from sigmd.cli import app

ROOT = Path(__file__).resolve().parents[1]


def test_version_option_prints_the_one_version() -> None:
    """`sigmd --version` prints the version kept in sigmd/__init__.py and exits 0."""
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"sigmd {sigmd.__version__}"


def test_citation_names_the_same_version() -> None:
    """CITATION.cff names the package's version, so a citation matches the software cited."""
    match = re.search(r"^version: (\S+)$", (ROOT / "CITATION.cff").read_text(encoding="utf-8"), re.M)
    assert match is not None and match.group(1) == sigmd.__version__


def test_package_metadata_reads_the_version_and_licence_from_the_repository() -> None:
    """pyproject.toml takes the version from sigmd.__version__ and ships LICENSE, so there is one of each."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'version = { attr = "sigmd.__version__" }' in pyproject
    assert 'license-files = ["LICENSE"]' in pyproject
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_the_readme_links_only_files_that_are_in_the_repository() -> None:
    """Every relative link in the README points at a file of the repository (nothing beside the checkout)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)#]+)\)", readme) if not t.startswith(("http://", "https://"))]
    assert targets and all((ROOT / t).resolve().is_relative_to(ROOT) and (ROOT / t).exists() for t in targets)
