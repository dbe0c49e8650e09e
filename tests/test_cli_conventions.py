"""Command-line conventions: standard input, closed choices, refused combinations and site settings."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sigmd.cli import PROFILE_IDS, REFERENCE_SET_IDS, app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "partial-sigmd-persistent.json"
runner = CliRunner()


def _assess(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["assess", *args], input=stdin, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_a_dash_reads_the_case_from_standard_input() -> None:
    """`sigmd assess -` reads the case from standard input and gives the same verdict as the file."""
    code, out, _ = _assess("-", "--as-of", "2026-11-01", "--json", stdin=EXAMPLE.read_text(encoding="utf-8"))
    _, from_file, _ = _assess(str(EXAMPLE), "--as-of", "2026-11-01", "--json")
    assert code == 0 and json.loads(out)["diagnosis"] == json.loads(from_file)["diagnosis"]


def test_bytes_that_are_not_utf8_on_standard_input_exit_2() -> None:
    """A Latin-1 byte on standard input is refused with its offset (exit 2), not a traceback."""
    code, _, err = _assess("-", stdin=b'{"a": "\xe9"}')
    assert code == 2 and "byte 7" in err and "not UTF-8" in err


def test_help_shows_the_closed_choices() -> None:
    """--help lists every profile and reference set id as the values the options take."""
    text = runner.invoke(app, ["assess", "--help"], env={"COLUMNS": "400"}).stdout
    assert f"[{'|'.join([*PROFILE_IDS, 'all'])}]" in text
    assert f"[{'|'.join(REFERENCE_SET_IDS)}]" in text


def test_batch_with_single_patient_outputs_is_refused(tmp_path: Path) -> None:
    """--batch cannot be combined with --json or --fhir-out: the command says so and exits 2."""
    for extra in (["--json"], ["--fhir-out", str(tmp_path / "x.json")]):
        code, _, err = _assess(str(EXAMPLE), "--batch", str(tmp_path / "out"), *extra)
        assert code == 2 and "cannot be combined" in err


def test_the_site_settings_choose_the_profile_when_the_command_does_not(tmp_path: Path) -> None:
    """A settings file naming the ESID profile is used by `assess`; an explicit --profile still wins."""
    settings = tmp_path / "settings.toml"
    settings.write_text('[assessment]\nprofile = "esid"\nreference_set = "exeter_nhs"\n', encoding="utf-8")
    result = runner.invoke(
        app, ["--settings", str(settings), "assess", str(EXAMPLE), "--as-of", "2026-11-01", "--json"]
    )
    report = json.loads(result.stdout)
    assert (report["profile"]["id"], report["reference_set"]["id"]) == ("esid", "exeter_nhs")
    explicit = runner.invoke(
        app,
        ["--settings", str(settings), "assess", str(EXAMPLE), "--profile", "idf", "--as-of", "2026-11-01", "--json"],
    )
    assert json.loads(explicit.stdout)["profile"]["id"] == "idf"


def test_the_environment_sets_the_reference_set(tmp_path: Path) -> None:
    """$SIGMD_REFERENCE_SET chooses the reference set for every command of that shell."""
    env = {"SIGMD_REFERENCE_SET": "exeter_nhs", "XDG_CONFIG_HOME": str(tmp_path)}
    code, out, _ = _assess(str(EXAMPLE), "--as-of", "2026-11-01", "--json", env=env)
    assert code == 0 and json.loads(out)["reference_set"]["id"] == "exeter_nhs"


def test_a_bad_settings_file_stops_the_command_with_its_key(tmp_path: Path) -> None:
    """A misspelt key in the settings file is invalid input (exit 2) naming the key, not silently ignored."""
    settings = tmp_path / "settings.toml"
    settings.write_text('[assessment]\nprofil = "esid"\n', encoding="utf-8")
    result = runner.invoke(app, ["--settings", str(settings), "assess", str(EXAMPLE)])
    assert result.exit_code == 2 and "profil is not a setting" in result.stderr


def test_screen_takes_its_reference_set_from_the_settings_and_refuses_an_unknown_engine(tmp_path: Path) -> None:
    """`sigmd screen` reads the site settings like `assess`, and an engine that is not duckdb or spark is refused."""
    settings = tmp_path / "settings.toml"
    settings.write_text('[assessment]\nreference_set = "exeter_nhs"\n', encoding="utf-8")
    source = tmp_path / "labs.csv"
    source.write_text(
        "patient_id,sex,birth_date,collected_date,loinc,value,unit\np1,female,1980-01-01,2025-01-01,IgM,80,mg/dL\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    done = runner.invoke(
        app, ["--settings", str(settings), "screen", str(source), "--out", str(out), "--as-of", "2026-01-01"]
    )
    assert done.exit_code == 0, done.stderr
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["reference_set"] == "exeter_nhs"
    refused = runner.invoke(app, ["screen", str(source), "--out", str(out), "--engine", "sqlite"])
    assert refused.exit_code == 2 and "'sqlite' is not one of duckdb, spark" in refused.stderr


def test_one_hl7_message_with_a_bad_byte_is_refused_alone_from_a_file(tmp_path: Path) -> None:
    """Read from a file, an HL7 batch whose second message holds a byte that is not UTF-8 refuses that message's
    patient only; the first patient is assessed (the bytes reach the HL7 reader, which decodes per message)."""
    from tests.interop.test_hl7v2 import MESSAGE

    second = MESSAGE.replace("P100", "P200").replace("Synthetic^Ann", "Synth\xe9tic^Bea")
    source = tmp_path / "batch.hl7"
    source.write_bytes(MESSAGE.encode() + b"\r" + second.encode("latin-1"))
    done = runner.invoke(app, ["assess", str(source), "--batch", str(tmp_path / "out"), "--as-of", "2026-11-01"])
    index = json.loads((tmp_path / "out" / "index.json").read_text(encoding="utf-8"))
    assert done.exit_code == 0, done.stderr
    assert [row["patient"] for row in index if "label" in row] == ["P100"]
    assert any(row["patient"] == "P200" and "not UTF-8" in row["error"] for row in index)


def test_a_laboratory_reporting_in_g_per_l_sees_its_unit_in_the_report(tmp_path: Path) -> None:
    """With display_unit g/L the readable report shows IgM 0.25 and its limit in g/L; by default it shows mg/dL."""
    env = {"SIGMD_DISPLAY_UNIT": "g/L", "XDG_CONFIG_HOME": str(tmp_path), "COLUMNS": "200"}
    in_g_per_l = runner.invoke(app, ["assess", str(EXAMPLE), "--as-of", "2026-11-01"], env=env).stdout
    default = runner.invoke(
        app, ["assess", str(EXAMPLE), "--as-of", "2026-11-01"], env={"XDG_CONFIG_HOME": str(tmp_path), "COLUMNS": "200"}
    ).stdout
    assert "limit (g/L)" in in_g_per_l and "0.25 " in in_g_per_l
    assert "limit (mg/dL)" in default and "limit (g/L)" not in default
