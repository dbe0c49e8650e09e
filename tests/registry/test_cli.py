"""`sigmd registry ...` from the terminal (Typer's CliRunner on a SQLite registry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sigmd.core.explain import DISCLAIMER
from sigmd.registry.cli import registry_app

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()
app = typer.Typer()
app.add_typer(registry_app, name="registry")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def invoke(data_dir: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["registry", "--data-dir", str(data_dir), *args], input=stdin, env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_init_creates_the_registry_and_asks_for_a_first_admin(data_dir: Path) -> None:
    """`init` creates the SQLite file and says how to create the first admin."""
    code, out, _ = invoke(data_dir, "init")
    assert code == 0
    assert (data_dir / "registry.sqlite3").is_file()
    assert "registry ready: sqlite:///" in out and "create-user" in out


def test_the_first_user_is_an_admin_and_later_users_need_a_role(data_dir: Path) -> None:
    """The first user defaults to admin (password typed twice); a second one needs --role."""
    code, out, _ = invoke(data_dir, "create-user", "ann", stdin="correct horse battery\ncorrect horse battery\n")
    assert code == 0 and "created admin 'ann'" in out
    code, _, err = invoke(data_dir, "create-user", "bob", "--password-stdin", stdin="another long one\n")
    assert code == 2 and "--role: give the new user's role" in err
    code, out, _ = invoke(
        data_dir, "create-user", "bob", "--role", "viewer", "--password-stdin", stdin="another long one\n"
    )
    assert code == 0 and "created viewer 'bob'" in out
    code, out, _ = invoke(data_dir, "users", "--json")
    assert [(u["username"], u["role"]) for u in json.loads(out)] == [("ann", "admin"), ("bob", "viewer")]


def test_a_short_password_is_refused_with_exit_status_2(data_dir: Path) -> None:
    """A password under ten characters is refused and no user is created."""
    code, _, err = invoke(data_dir, "create-user", "ann", "--password-stdin", stdin="short\n")
    assert code == 2 and "password: a password of 5 characters is too short" in err
    assert json.loads(invoke(data_dir, "users", "--json")[1]) == []


def test_import_list_show_due_export_and_audit(data_dir: Path) -> None:
    """An imported example appears in list, show, the due list, both exports and the audit log."""
    example = str(EXAMPLES / "partial-sigmd-persistent.json")
    code, out, _ = invoke(data_dir, "import", example, "--as-of", "2026-11-01", "--actor", "dr.a")
    assert code == 0 and "stored example-partial: partial_sigmd" in out and DISCLAIMER in out

    code, out, _ = invoke(data_dir, "list", "--json")
    [patient] = json.loads(out)["patients"]
    assert (patient["patient_id"], patient["label"], patient["profile_id"]) == (
        "example-partial",
        "partial_sigmd",
        "idf",
    )
    code, out, _ = invoke(data_dir, "list")
    assert "example-partial" in out and "idf" in out and "mayo" in out and DISCLAIMER in out

    code, out, _ = invoke(data_dir, "show", "example-partial")
    assert code == 0 and "Results" in out and "partial_sigmd" in out and DISCLAIMER in out
    code, out, _ = invoke(data_dir, "show", "example-partial", "--json")
    assert json.loads(out)["assessments"][0]["report"]["diagnosis"]["label"] == "partial_sigmd"

    code, out, _ = invoke(data_dir, "due", "--as-of", "2027-06-01", "--within", "0", "--json")
    [entry] = json.loads(out)["due"]
    assert (entry["patient_id"], entry["status"]) == ("example-partial", "overdue")
    code, out, _ = invoke(data_dir, "due", "--as-of", "2026-11-01")
    assert code == 0 and "0 patient(s) due" in out

    code, out, _ = invoke(data_dir, "export", "example-partial")
    assert json.loads(out)["patient"]["id"] == "example-partial"
    target = data_dir / "bundle.json"
    code, out, _ = invoke(data_dir, "export", "example-partial", "--fhir", "--output", str(target))
    assert code == 0 and json.loads(target.read_text())["resourceType"] == "Bundle"

    code, out, _ = invoke(data_dir, "audit", "--json", "--patient", "example-partial")
    assert [e["action"] for e in json.loads(out)] == ["assessment.create", "results.add", "patient.create"]
    assert {e["actor"] for e in json.loads(out)} == {"dr.a"}


def test_a_partly_failed_import_reports_each_patient_and_exits_2(data_dir: Path, tmp_path: Path) -> None:
    """A CSV with one unusable patient stores the others, names the bad field and value, and exits 2."""
    csv = tmp_path / "labs.csv"
    csv.write_text(
        "patient_id,sex,birth_date,collected_date,loinc,value,unit\n"
        "c1,F,1980-05-01,2025-06-01,2472-9,20,mg/dL\n"
        "c2,M,1975-01-01,2025-12-01,2472-9,12,furlongs\n"
    )
    code, out, err = invoke(data_dir, "import", str(csv), "--as-of", "2026-01-01")
    assert code == 2
    assert "stored c1" in out and "patients: 2, stored: 1, not stored: 1" in out
    assert "not stored c2: row 3.unit: 'furlongs'" in err


def test_the_database_can_be_chosen_by_environment_variable(tmp_path: Path) -> None:
    """SIGMD_DATABASE_URL selects the database when --db is not given."""
    url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    result = runner.invoke(app, ["registry", "init"], env={"SIGMD_DATABASE_URL": url, "SIGMD_DATA_DIR": None})
    assert result.exit_code == 0 and (tmp_path / "env.sqlite3").is_file()


def test_unknown_patients_and_bad_dates_exit_2_with_the_reason(data_dir: Path) -> None:
    """Errors name the field and value on stderr and exit with status 2."""
    code, _, err = invoke(data_dir, "show", "ghost")
    assert code == 2 and "patient_id: 'ghost' is not in the registry" in err
    code, _, err = invoke(data_dir, "due", "--as-of", "tomorrow")
    assert code == 2 and "--as-of: 'tomorrow' is not an ISO date" in err
    code, _, err = invoke(data_dir, "--db", "mysql://x/y", "list")
    assert code == 2 and "database URL: 'mysql://x/y' is neither SQLite" in err
