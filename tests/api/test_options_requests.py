"""OPTIONS is answered on every path, signed in or not: the allowed methods, never a 500.

Litestar's authentication middleware lets OPTIONS through without a principal, so a
guard must not demand one (a controller's guards also cover its OPTIONS answer).
"""

from __future__ import annotations

import re

from tests.support.buying import staff_headers


async def test_options_on_every_path_answers_the_allowed_methods(app, client, session):
    staff = await staff_headers(client, session)
    paths = {re.sub(r"\{[^}:]+(:[a-z]+)?\}", "1", route.path): route.methods for route in app.routes}
    assert len(paths) > 40  # the whole API, not a sample
    for path, methods in sorted(paths.items()):
        for headers in (staff, {}):
            answer = await client.options(path, headers=headers)
            assert answer.status_code == 204, (path, answer.status_code, answer.text[:200])
            # Every method of the path, not only those of the handlers Litestar registered there first.
            assert set(answer.headers["allow"].split(", ")) == methods, path
    # POST /v1/members was registered after GET: its OPTIONS handler, built first, knew POST alone.
    assert (await client.options("/v1/members")).headers["allow"] == "GET, OPTIONS, POST"
