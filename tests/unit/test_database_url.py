"""Behind PgBouncer in transaction mode the engine must not rely on server-side statement caches."""

from __future__ import annotations

from domain.db import make_engine


def test_the_pooling_marker_turns_statement_caches_off_and_leaves_the_url_clean() -> None:
    pooled = make_engine("postgresql://coop@pgbouncer:6432/coop?pooling=transaction&application_name=api")
    assert pooled.url.query == {"application_name": "api", "prepared_statement_cache_size": "0"}
    assert pooled.url.drivername == "postgresql+asyncpg"
    direct = make_engine("postgresql://coop@db:5432/coop")
    assert direct.url.query == {}
