"""The password policy for new users (credential_errors), without I/O."""

from __future__ import annotations

import pytest

from domain.identity.rules import credential_errors

GOOD_EMAIL = "someone@coop.test"


def _password_problems(password: str) -> list[str]:
    return [e.message for e in credential_errors(GOOD_EMAIL, password) if e.field == "password"]


@pytest.mark.parametrize(
    "password",
    [
        " " * 10,
        " " * 40,
        "\t" * 12,
        "short    " + " " * 5,
        "a-long-enough\x00password",
        "tab\tin-the-middle-of-it",
        "\ud800" * 12,
    ],
)
def test_blank_or_control_character_passwords_are_refused(password):
    assert _password_problems(password)


@pytest.mark.parametrize(
    "password", ["a-long-enough-password", "ten chars!", "  padded but long enough  ", "ünïcödé-pässwörd"]
)
def test_ordinary_passwords_pass(password):
    assert _password_problems(password) == []
