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


def _pairs(email: str, password: str) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in credential_errors(email, password)]


def test_credential_refusals_name_each_field_with_its_message():
    assert _pairs("not-an-address", "\x00" * 12) == [
        ("email", "not a valid e-mail address"),
        ("password", "must not contain control characters (NUL, tab, new line, ...)"),
    ]
    assert _pairs(GOOD_EMAIL, "  nine-char  ") == [("password", "must have at least 10 characters besides blanks")]


def test_ten_characters_besides_blanks_is_the_least_a_password_has():
    assert _password_problems(" " + "x" * 10 + " ") == []
    assert _password_problems(" " + "x" * 9 + " ") != []


def test_printable_symbols_and_format_characters_are_not_control_characters():
    assert _password_problems("zero\u200bwidth-joiner!") == []  # Cf, not Cc
