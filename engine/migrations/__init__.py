"""Alembic's environment and the schema's revisions (run through engine.schema, no alembic.ini)."""
