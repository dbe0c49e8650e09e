"""Commands whose optional extra is missing say which `pip install` to run, in one line, with exit code 3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sigmd.cli import EXIT_MISSING_EXTRA

ROOT = Path(__file__).resolve().parents[1]

RUN_WITHOUT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # makes `import name` raise ImportError, as if the extra were not installed
sys.argv = ["sigmd", *{args!r}]
from sigmd.cli import main
main()
"""


def _run_without(blocked: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    code = RUN_WITHOUT.format(blocked=blocked, args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("blocked", "args", "extra"),
    [
        (["fhir", "fhir.resources"], ["assess", str(ROOT / "examples" / "fhir-bundle-low-igm.json")], "fhir"),
        (["hl7"], ["assess", str(ROOT / "examples" / "oru-low-igm.hl7")], "hl7"),
        (["duckdb"], ["screen", str(ROOT / "examples" / "partial-sigmd-persistent.json"), "--out", "unused"], "screen"),
        (["uvicorn"], ["serve"], "web"),
        (["sqlalchemy"], ["registry", "list"], "registry"),
    ],
)
def test_missing_extra_is_one_line_naming_the_install(blocked: list[str], args: list[str], extra: str) -> None:
    """Without its extra a command prints one line with the pip install to run, exits 3 and shows no traceback."""
    done = _run_without(blocked, *args)
    assert done.returncode == EXIT_MISSING_EXTRA, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'sigmd[{extra}]'" in lines[0] and "Traceback" not in done.stderr


def test_with_the_extra_installed_the_same_command_runs() -> None:
    """The same FHIR input with the fhir extra present is assessed (exit 0), so exit 3 means the extra only."""
    done = _run_without([], "assess", str(ROOT / "examples" / "fhir-bundle-low-igm.json"), "--as-of", "2026-11-01")
    assert done.returncode == 0, done.stderr


def test_batch_where_no_patient_could_be_assessed_exits_2(tmp_path: Path) -> None:
    """`assess --batch` on a file whose every patient is refused exits 2 rather than reporting success."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": f"p{n}", "gender": "female"}} for n in (1, 2)],
    }
    source = tmp_path / "bundle.json"
    source.write_text(json.dumps(bundle), encoding="utf-8")
    done = _run_without([], "assess", str(source), "--batch", str(tmp_path / "out"))
    assert done.returncode == 2 and "no patient in the file could be assessed" in done.stderr
    index = json.loads((tmp_path / "out" / "index.json").read_text(encoding="utf-8"))
    assert len(index) == 2 and all("error" in row for row in index)
