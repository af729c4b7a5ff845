"""OPTIONS is answered on every path, signed in or not: the allowed methods, never a 500.

Litestar's authentication middleware lets OPTIONS through without a principal, so a
guard must not demand one (a controller's guards also cover its OPTIONS answer).
"""

from __future__ import annotations

import re

from tests.support.buying import staff_headers


async def test_options_on_every_path_answers_the_allowed_methods(app, client, session):
    staff = await staff_headers(client, session)
    paths = sorted({re.sub(r"\{[^}:]+(:[a-z]+)?\}", "1", route.path) for route in app.routes})
    assert len(paths) > 40  # the whole API, not a sample
    for path in paths:
        for headers in (staff, {}):
            answer = await client.options(path, headers=headers)
            assert answer.status_code == 204, (path, answer.status_code, answer.text[:200])
            assert "OPTIONS" in answer.headers["allow"], path
