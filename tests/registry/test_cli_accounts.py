"""`sigmd registry passwd | set-role | disable | erase`: account administration and erasure from the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sigmd.registry import LoginOutcome, Registry
from tests.registry.test_cli import EXAMPLES, invoke

PASSWORD = "correct horse battery"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A registry with the admin ann and the viewer bob."""
    folder = tmp_path / "data"
    invoke(folder, "create-user", "ann", "--password-stdin", stdin=PASSWORD + "\n")
    invoke(folder, "create-user", "bob", "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n")
    return folder


def _sign_in(data_dir: Path, username: str, password: str) -> LoginOutcome:
    with Registry.open(data_dir=data_dir) as registry:
        return registry.authenticate(username, password).outcome


def test_passwd_sets_a_new_password_and_refuses_a_short_one(data_dir: Path) -> None:
    """passwd replaces the password (the old one stops working); a short one is refused and changes nothing."""
    code, _, err = invoke(data_dir, "passwd", "bob", "--password-stdin", stdin="short\n")
    assert code == 2 and "new password: a password of 5 characters is too short" in err
    assert _sign_in(data_dir, "bob", PASSWORD) == LoginOutcome.SUCCESS
    code, out, _ = invoke(data_dir, "passwd", "bob", stdin="a fresh long password\na fresh long password\n")
    assert code == 0 and "password of 'bob' changed" in out
    assert _sign_in(data_dir, "bob", PASSWORD) == LoginOutcome.FAILURE
    assert _sign_in(data_dir, "bob", "a fresh long password") == LoginOutcome.SUCCESS


def test_set_role_changes_the_role_and_keeps_the_last_admin(data_dir: Path) -> None:
    """set-role makes bob a clinician; demoting ann, the only admin, exits 2 with the reason."""
    code, out, _ = invoke(data_dir, "set-role", "bob", "clinician")
    assert code == 0 and "'bob' is now clinician" in out
    code, _, err = invoke(data_dir, "set-role", "ann", "viewer")
    assert code == 2 and "'ann' is the last active admin" in err
    roles = {u["username"]: u["role"] for u in json.loads(invoke(data_dir, "users", "--json")[1])}
    assert roles == {"ann": "admin", "bob": "clinician"}


def test_disable_blocks_sign_in_and_enable_restores_it(data_dir: Path) -> None:
    """A disabled account is refused with the right password and shows as disabled; --enable undoes it."""
    code, out, _ = invoke(data_dir, "disable", "bob")
    assert code == 0 and "'bob' is disabled" in out
    assert _sign_in(data_dir, "bob", PASSWORD) == LoginOutcome.DISABLED
    assert "disabled" in invoke(data_dir, "users")[1]
    code, out, _ = invoke(data_dir, "disable", "bob", "--enable")
    assert code == 0 and "'bob' is enabled" in out
    assert _sign_in(data_dir, "bob", PASSWORD) == LoginOutcome.SUCCESS
    code, _, err = invoke(data_dir, "disable", "nobody")
    assert code == 2 and "username: 'nobody' is not an account" in err


def test_erase_asks_first_then_removes_the_patient(data_dir: Path) -> None:
    """Without --yes a 'no' keeps the patient; with confirmation the patient goes and the audit entry has counts."""
    invoke(data_dir, "import", str(EXAMPLES / "partial-sigmd-persistent.json"), "--as-of", "2026-11-01")
    code, _, _ = invoke(data_dir, "erase", "example-partial", stdin="n\n")
    assert code == 1 and "example-partial" in invoke(data_dir, "list")[1]
    code, out, _ = invoke(data_dir, "erase", "example-partial", "--yes", "--actor", "ann")
    assert code == 0 and "erased:" in out and "audit reference erasure-" in out
    assert json.loads(invoke(data_dir, "list", "--json")[1])["patients"] == []
    audit = invoke(data_dir, "audit", "--json")[1]
    assert "example-partial" not in audit and json.loads(audit)[0]["action"] == "patient.erase"
    code, _, err = invoke(data_dir, "erase", "example-partial", "--yes")
    assert code == 2 and "patient_id: 'example-partial' is not in the registry" in err
