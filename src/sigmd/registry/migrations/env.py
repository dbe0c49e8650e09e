"""Alembic environment: migrates the connection handed over in `config.attributes["connection"]`.

`sigmd.registry.database.migrate` opens that connection (with the registry's SQLite settings) and runs
`alembic.command.upgrade` on it. A maintainer writing a new revision can point `sqlalchemy.url` at a scratch
database instead (`alembic -c <ini with script_location = src/sigmd/registry/migrations> revision --autogenerate`).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sigmd.registry.database import create_registry_engine, resolve_url
from sigmd.registry.models import Base


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        url = config.get_main_option("sqlalchemy.url")
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    elif connection is not None:
        _run(connection)
    else:
        engine = create_registry_engine(resolve_url(config.get_main_option("sqlalchemy.url"), None))
        with engine.begin() as new_connection:
            _run(new_connection)
        engine.dispose()


run_migrations()
