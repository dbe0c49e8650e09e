"""Project files: one version, the licence, the citation and the changelog agree."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from typer.testing import CliRunner

import sigmd
from sigmd.adapters import fhir_out
from sigmd.adapters.case_json import case_schema
from sigmd.cli import app

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (
    "src/sigmd",
    "docs",
    "examples",
    "README.md",
    "CHANGELOG.md",
    "CONTRIBUTING.md",
    "CITATION.cff",
    "mkdocs.yml",
)
"""The package, its documentation and examples, and the project files: everything a user receives."""
PLACEHOLDER_DOMAIN = re.compile(r"\bsigmd\.(?:example|test|invalid|localhost)\b")


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


def test_the_case_schema_is_named_like_sigmds_own_code_systems() -> None:
    """The case schema's `$id` is a name-based `urn:uuid:` in the namespace of sigmd's FHIR code systems."""
    expected = f"urn:uuid:{uuid.uuid5(fhir_out._NAMESPACE, 'sigmd case schema')}"
    assert case_schema()["$id"] == expected
    assert all(system.startswith("urn:uuid:") for system in fhir_out.SIGMD_CODE_SYSTEMS.values())
    docs = (ROOT / "docs" / "case-format.md").read_text(encoding="utf-8")
    assert expected in docs and json.loads((ROOT / "docs" / "case.schema.json").read_text())["$id"] == expected


def test_no_shipped_file_names_a_placeholder_domain_for_sigmd() -> None:
    """No file of the package, the docs, the examples or the project files uses a made-up sigmd domain."""
    files = [p for name in SHIPPED for p in ((ROOT / name).rglob("*") if (ROOT / name).is_dir() else [ROOT / name])]
    texts = {p: p.read_bytes().decode("utf-8", errors="ignore") for p in files if p.is_file()}
    assert len(texts) > 50 and any(p.name == "case.schema.json" for p in texts)
    assert [str(p.relative_to(ROOT)) for p, text in texts.items() if PLACEHOLDER_DOMAIN.search(text)] == []
