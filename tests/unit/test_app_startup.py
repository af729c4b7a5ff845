"""A `coop serve` process keeps its startup objects out of the collector's full passes."""

from __future__ import annotations

import gc

from api.app import freeze_startup_objects, served_app
from domain.settings import Settings


def test_a_served_app_freezes_what_startup_built():
    assert freeze_startup_objects in served_app(Settings.from_env({})).on_startup


def test_what_startup_built_is_no_longer_walked_by_the_collector():
    built_at_startup = [["a container the collector tracks"]]
    try:
        freeze_startup_objects()
        assert not any(o is built_at_startup for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is built_at_startup for o in gc.get_objects())
