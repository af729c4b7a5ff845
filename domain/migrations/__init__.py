"""Alembic migrations for the co-op's schema."""
