"""Which representation an Accept header asks for."""

from __future__ import annotations

import pytest

from api.accept import negotiate

OFFERED = ("application/json", "application/pdf")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/pdf", "application/pdf"),
        ("application/json, application/pdf;q=0.5", "application/json"),
        ("application/pdf;q=0.5, application/json", "application/json"),
        ("application/json;q=0.4, application/pdf;q=0.5", "application/pdf"),
        ("application/pdf, application/json", "application/pdf"),
        ("application/json, application/pdf", "application/json"),
        ("application/pdf, */*;q=0.1", "application/pdf"),
        ("application/*", "application/json"),
        ("application/pdf;q=0, */*", "application/json"),
        ("application/json;q=0, */*", "application/pdf"),
        ("APPLICATION/PDF", "application/pdf"),
        ("application/pdf; q=1.0", "application/pdf"),
        ("text/html", "application/json"),
        ("application/pdf;q=nan, application/json;q=0.1", "application/json"),
        ("application/pdf;q=2", "application/json"),
        ("application/pdf;q=abc", "application/json"),
        (",,;q=1, application/pdf", "application/pdf"),
    ],
)
def test_highest_q_wins_then_the_order_the_client_named(accept, expected):
    assert negotiate(accept, OFFERED) == expected
