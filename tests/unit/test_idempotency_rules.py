"""Idempotency-Key rules: which keys are usable, what identifies a request, which answers are kept."""

from __future__ import annotations

import hashlib

import pytest

from domain.idempotency.rules import MAX_KEY_LENGTH, key_error, request_digest, should_store


def test_a_key_is_refused_when_blank_or_longer_than_the_column() -> None:
    assert key_error("k") is None
    assert key_error("k" * MAX_KEY_LENGTH) is None
    assert key_error("") == key_error(" \t") == "Idempotency-Key must not be blank"
    assert key_error("k" * (MAX_KEY_LENGTH + 1)) == "Idempotency-Key must be at most 255 characters"


def test_a_request_is_its_method_path_query_and_body() -> None:
    digest = request_digest("POST", "/orders", "dry=1", b'{"quantity": 2}')
    assert request_digest("post", "/orders", "dry=1", b'{"quantity": 2}') == digest
    others = [
        request_digest("PUT", "/orders", "dry=1", b'{"quantity": 2}'),
        request_digest("POST", "/orders/", "dry=1", b'{"quantity": 2}'),
        request_digest("POST", "/orders", "dry=2", b'{"quantity": 2}'),
        request_digest("POST", "/orders", "dry=1", b'{"quantity": 3}'),
        # The parts are framed by their lengths: moving text from one to the next is another request.
        request_digest("POST", "/orders?", "dry=1", b'{"quantity": 2}'),
        request_digest("POST", "/orders", "dry=1{", b'"quantity": 2}'),
    ]
    assert len({digest, *others}) == len(others) + 1


def test_the_digest_is_stored_so_its_format_outlives_a_release() -> None:
    # A retry sent across an upgrade must match the digest stored before it: SHA-256 over each part
    # (upper-case method, path, query, body) preceded by its length in 8 big-endian bytes.
    h = hashlib.sha256()
    for part in (b"POST", b"/orders", b"dry=1", b'{"quantity": 2}'):
        h.update(len(part).to_bytes(8, "big") + part)
    assert request_digest("post", "/orders", "dry=1", b'{"quantity": 2}') == h.hexdigest()


@pytest.mark.parametrize(("status", "kept"), [(200, True), (201, True), (409, True), (422, True), (499, True)])
def test_final_answers_are_kept_for_the_retry(status: int, kept: bool) -> None:
    assert should_store(status) is kept


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_not_kept_so_a_retry_runs_again(status: int) -> None:
    assert should_store(status) is False
