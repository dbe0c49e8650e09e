"""The Alembic migrations and the ORM models describe the same schema, on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect

from sigmd.registry import Registry
from sigmd.registry.database import alembic_config
from sigmd.registry.models import Base
from tests.registry.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine on a database that only `Registry.open` has touched (a new one on each backend)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/registry.sqlite3"
    else:
        url = request.getfixturevalue("postgres").new_database()
    Registry.open(url).close()
    engine = create_engine(url)
    yield engine
    engine.dispose()


def test_the_migrated_schema_matches_the_models(fresh_engine: Engine) -> None:
    """Autogenerate finds no difference between the migrated database and the models (types included)."""
    with fresh_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_open_leaves_the_database_at_the_newest_revision(fresh_engine: Engine) -> None:
    """After opening, the database is at the head revision of the shipped migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with fresh_engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head is not None


def test_the_migrations_downgrade_to_nothing_and_upgrade_again(fresh_engine: Engine) -> None:
    """Downgrading to base drops every table, and upgrading to head creates them all again."""
    tables = set(Base.metadata.tables)
    with fresh_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert set(inspect(fresh_engine).get_table_names()) & tables == set()
    with fresh_engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    assert set(inspect(fresh_engine).get_table_names()) >= tables
