"""The command line: reports, machine output, exit codes and golden outputs for the bundled examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigmd.cli import app

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted([*(ROOT / "examples").glob("*.json"), *(ROOT / "examples").glob("*.hl7")])
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("SIGMD_UPDATE_GOLDEN") == "1"
runner = CliRunner()


def _assess(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["assess", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_bundled_examples_match_their_golden_output(example: Path) -> None:
    """The machine output for each bundled example is exactly the reviewed golden file."""
    code, out, err = _assess(str(example), "--as-of", "2026-11-01", "--json")
    assert code == 0, err
    golden = GOLDEN / f"{example.name.replace('.', '-')}.json"
    if UPDATE:
        golden.write_text(out)
    assert json.loads(out) == json.loads(golden.read_text())


def test_machine_output_has_the_stable_top_level_keys() -> None:
    """--json prints diagnosis, igm, pattern, criteria, workup, recommendations, warnings and reference_set."""
    code, out, _ = _assess(str(ROOT / "examples" / "minimal-issue-example.json"), "--as-of", "2026-11-01", "--json")
    report = json.loads(out)
    assert code == 0
    assert {"diagnosis", "igm", "pattern", "criteria", "workup", "recommendations", "warnings", "reference_set"} <= set(
        report
    )
    assert set(report["diagnosis"]) >= {"label", "certainty", "profile"}
    igm_keys = {"value_mg_dl", "comparator", "lower_limit_mg_dl", "minus_2sd_mg_dl", "z_score", "percentile", "status"}
    assert igm_keys <= set(report["igm"])
    assert report["diagnosis"]["label"] == "secondary_low_igm"
    assert "does not replace" in report["disclaimer"]


def test_the_readable_report_names_profile_reference_set_and_disclaimer() -> None:
    """The terminal report shows the verdict, the profile, the reference set and the disclaimer."""
    code, out, _ = _assess(str(ROOT / "examples" / "partial-sigmd-persistent.json"), "--as-of", "2026-11-01")
    assert code == 0
    for text in ("Partial selective IgM deficiency", "[idf]", "[mayo]", "does not replace"):
        assert text in out


@pytest.mark.parametrize("profile", ["esid", "medscape_40"])
def test_profile_and_reference_options(profile: str) -> None:
    """--profile and --reference select what the output names."""
    code, out, _ = _assess(
        str(ROOT / "examples" / "partial-sigmd-persistent.json"),
        "--as-of",
        "2026-11-01",
        "--json",
        "--profile",
        profile,
        "--reference",
        "exeter_nhs",
    )
    report = json.loads(out)
    assert code == 0
    assert (report["diagnosis"]["profile"], report["reference_set"]["id"]) == (profile, "exeter_nhs")


def test_invalid_input_exits_2_with_the_reason_on_stderr(tmp_path: Path) -> None:
    """Bad input exits with code 2 and a message naming the field and value."""
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "patient": {"birth_date": "1980-05-01", "sex": "female"},
                "results": [{"analyte": "IgM", "value": -3, "unit": "mg/dL", "date": "2026-01-01"}],
            }
        )
    )
    code, out, err = _assess(str(bad))
    assert code == 2
    assert "results[0].value: -3" in err
    assert out == ""


@pytest.mark.parametrize(
    ("option", "value"), [("--profile", "nice"), ("--reference", "nowhere"), ("--as-of", "yesterday")]
)
def test_unknown_options_exit_2(option: str, value: str) -> None:
    """An unknown profile, reference set or date is invalid input."""
    code, _, err = _assess(str(ROOT / "examples" / "partial-sigmd-persistent.json"), option, value)
    assert code == 2
    assert value in err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    """A case file that does not exist is reported, not a traceback."""
    code, _, err = _assess(str(tmp_path / "none.json"))
    assert code == 2
    assert "none.json" in err


@pytest.mark.parametrize("command", ["profiles", "reference-sets"])
def test_listing_commands(command: str) -> None:
    """The profile and reference-set listings name the defaults."""
    result = runner.invoke(app, [command])
    assert result.exit_code == 0
    assert "(default)" in result.stdout


def test_cli_reference_is_current(tmp_path: Path) -> None:
    """docs/cli.md is regenerated from the CLI; run `make docs` after changing a command."""
    typer_bin = Path(sys.executable).parent / "typer"
    out = tmp_path / "cli.md"
    subprocess.run(
        [str(typer_bin), "sigmd.cli", "utils", "docs", "--name", "sigmd", "--output", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_text() == (ROOT / "docs" / "cli.md").read_text()


def test_batch_mode_writes_one_result_per_patient(tmp_path: Path) -> None:
    """--batch assesses every patient of a multi-message HL7 file and indexes the results."""
    message = (ROOT / "examples" / "oru-low-igm.hl7").read_text()
    second = message.replace("SYN100", "SYN200").replace("19750302|M", "19880911|F")
    source = tmp_path / "batch.hl7"
    source.write_text(message + "\n" + second)
    result = runner.invoke(app, ["assess", str(source), "--as-of", "2026-11-01", "--batch", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert [row["label"] for row in index] == ["partial_sigmd", "partial_sigmd"]
    assert "patients: 2, assessed: 2" in result.stdout


def test_many_patients_without_batch_is_refused(tmp_path: Path) -> None:
    """A file with several patients needs --batch; without it the command says so and exits 2."""
    message = (ROOT / "examples" / "oru-low-igm.hl7").read_text()
    source = tmp_path / "two.hl7"
    source.write_text(message + "\n" + message.replace("SYN100", "SYN200"))
    result = runner.invoke(app, ["assess", str(source)])
    assert result.exit_code == 2
    assert "holds 2 patients" in result.stderr
