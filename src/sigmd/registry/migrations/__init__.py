"""Alembic migrations of the registry schema, run by `Registry.open` (`database.migrate`)."""
