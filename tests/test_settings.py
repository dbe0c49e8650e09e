"""Site settings: one file and the environment, checked against the docs and the clinical content."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sigmd.settings import SETTINGS, SettingsError, TrustedClient, load_settings, settings_path

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_setting_is_documented_and_the_docs_list_no_other() -> None:
    """docs/settings.md has one row per setting, with its file key and environment variable, and no stale row."""
    docs = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `\[(\w+)\] (\w+)` \| `(\w+)` \|", docs, re.M))
    assert documented == {(s.section, s.key, s.env) for s in SETTINGS}


def test_a_uk_laboratory_sets_its_reference_set_and_unit_once(tmp_path: Path, knowledge) -> None:
    """A file naming the Exeter reference set and g/L is read, and says where each value came from."""
    path = _write(tmp_path, '[assessment]\nreference_set = "exeter_nhs"\ndisplay_unit = "g/L"\n')
    found = load_settings(knowledge, path, env={})
    assert (found.reference_set, found.display_unit, found.profile) == ("exeter_nhs", "g/L", None)
    assert found.origin["reference_set"].endswith("[assessment] reference_set")


def test_the_environment_wins_over_the_file(tmp_path: Path, knowledge) -> None:
    """$SIGMD_PROFILE overrides the file's profile; settings not in the environment keep the file's value."""
    path = _write(tmp_path, '[assessment]\nprofile = "idf"\nreference_set = "exeter_nhs"\n')
    found = load_settings(knowledge, path, env={"SIGMD_PROFILE": "esid"})
    assert (found.profile, found.reference_set, found.origin["profile"]) == ("esid", "exeter_nhs", "$SIGMD_PROFILE")


def test_without_a_file_or_variables_nothing_is_set(tmp_path: Path, knowledge) -> None:
    """With no settings anywhere, every command keeps its own default (nothing is set)."""
    found = load_settings(knowledge, None, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert (found.profile, found.reference_set, found.display_unit, found.cds_trusted_issuers) == (
        None,
        None,
        "mg/dL",
        (),
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[assessment]\nreference_set = "nowhere"\n', "'nowhere' is not a reference set"),
        ('[assessment]\nprofile = "strict"\n', "'strict' is not a rule profile"),
        ('[assessment]\ndisplay_unit = "mmol/L"\n', "'mmol/L' is not one of mg/dL, g/L"),
        ('[assessment]\nreferenceset = "mayo"\n', "referenceset is not a setting"),
        ('[display]\nunit = "g/L"\n', "[display] is not a settings section"),
        ("[cds]\ntrusted_issuers = [{ iss = 'https://a' }]\n", "exactly the keys iss and jku"),
        ("[assessment\n", "is not valid TOML"),
    ],
)
def test_bad_settings_are_refused_naming_key_and_value(tmp_path: Path, knowledge, text: str, named: str) -> None:
    """A misspelt key, an unknown section, an unknown reference set or a bad value stops with its name."""
    with pytest.raises(SettingsError) as caught:
        load_settings(knowledge, _write(tmp_path, text), env={})
    assert named in str(caught.value) and "settings.toml" in str(caught.value)


def test_trusted_clients_come_from_the_file_or_the_environment(tmp_path: Path, knowledge) -> None:
    """CDS clients are {iss, jku} tables in the file and ISS=JKU pairs in the environment."""
    path = _write(tmp_path, '[cds]\ntrusted_issuers = [{ iss = "https://a.org", jku = "https://a.org/jwks" }]\n')
    assert load_settings(knowledge, path, env={}).cds_trusted_issuers == (
        TrustedClient("https://a.org", "https://a.org/jwks"),
    )
    from_env = load_settings(
        knowledge,
        None,
        env={"SIGMD_CDS_TRUSTED_ISSUERS": "https://b.org=https://b.org/k", "XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert from_env.cds_trusted_issuers == (TrustedClient("https://b.org", "https://b.org/k"),)
    with pytest.raises(SettingsError):
        load_settings(
            knowledge, None, env={"SIGMD_CDS_TRUSTED_ISSUERS": "https://b.org", "XDG_CONFIG_HOME": str(tmp_path)}
        )


def test_the_settings_file_is_found_where_the_docs_say(tmp_path: Path) -> None:
    """An explicit file wins over $SIGMD_SETTINGS, which wins over the user's config folder."""
    user = tmp_path / "sigmd" / "settings.toml"
    user.parent.mkdir()
    user.write_text("", encoding="utf-8")
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert settings_path(None, env) == user
    assert settings_path(None, {**env, "SIGMD_SETTINGS": "/etc/sigmd.toml"}) == Path("/etc/sigmd.toml")
    assert settings_path(Path("given.toml"), {**env, "SIGMD_SETTINGS": "/etc/sigmd.toml"}) == Path("given.toml")


def test_a_server_falls_back_on_the_sites_profile_and_reference_set(tmp_path: Path, knowledge) -> None:
    """Applied to the content, the settings change only the defaults that pages and services fall back on."""
    path = _write(tmp_path, '[assessment]\nreference_set = "exeter_nhs"\n')
    site = load_settings(knowledge, path, env={})
    applied = site.apply(knowledge)
    assert (applied.default_reference_set, applied.default_profile) == ("exeter_nhs", knowledge.default_profile)
    assert applied.content_version == knowledge.content_version and applied.reference_sets is knowledge.reference_sets


def test_the_registry_commands_find_their_database_through_the_settings(tmp_path: Path) -> None:
    """`sigmd --settings FILE registry init` creates the SQLite registry in the data folder the file names."""
    from typer.testing import CliRunner

    from sigmd.cli import app

    folder = tmp_path / "site-data"
    path = _write(tmp_path, f'[server]\ndata_dir = "{folder}"\n')
    done = CliRunner().invoke(app, ["--settings", str(path), "registry", "init"])
    assert done.exit_code == 0, done.stderr
    assert (folder / "registry.sqlite3").exists()
