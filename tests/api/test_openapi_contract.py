"""The served OpenAPI document is one a client generator and the docs UI can use as it is."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

METHODS = ("get", "put", "post", "patch", "delete")
# The webhook is signed; the public directory shows public profile fields only, rate limited.
PUBLIC = {
    ("/health", "get"),
    ("/v1/auth/token", "post"),
    ("/v1/stripe/webhook", "post"),
    ("/v1/public/directory", "get"),
}
NOTICE = "/v1/allocation-runs/{run_id}/notices/{member_id}"


@pytest.fixture
async def document(client):
    answer = await client.get("/schema/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


async def test_every_schema_has_a_name_of_its_own(document):
    schemas = document["components"]["schemas"]
    titles = Counter(s.get("title", name) for name, s in schemas.items())
    assert [t for t, n in titles.items() if n > 1] == []
    assert "OrderLineOut" in schemas
    assert "AllocationLineOut" in schemas


async def test_the_bearer_scheme_covers_every_route_but_the_public_ones(document):
    assert document["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["BearerToken"]["description"],
    }
    for path, method, operation in _operations(document):
        expected: list[dict[str, list[str]]] = [] if (path, method) in PUBLIC else [{"BearerToken": []}]
        assert operation.get("security") == expected, (method, path)


async def test_every_authenticated_post_takes_an_idempotency_key(document):
    for path, method, operation in _operations(document):
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        if method == "post" and (path, method) not in PUBLIC:
            assert [h["name"] for h in headers] == ["Idempotency-Key"], path
            assert headers[0]["required"] is False
        else:
            assert headers == [], (method, path)


async def test_the_notice_can_be_a_pdf(document):
    content = document["paths"][NOTICE]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "application/pdf"}
    assert content["application/pdf"]["schema"] == {"type": "string", "format": "binary"}


async def test_problem_examples_are_real_answers(document):
    example = document["paths"]["/v1/members"]["post"]["responses"]["400"]["content"]["application/problem+json"]
    value = next(iter(example["examples"].values()))["value"]
    assert value["status"] == 400
    assert value["title"] == "Bad Request"
    assert value["errors"][0]["field"] == "email"
    # Litestar's generated examples are random letters; none are left anywhere.
    assert "examples" not in document["components"]["schemas"]["Problem"]
    assert "examples" not in json.dumps(document["components"]["schemas"])


async def test_every_operation_states_the_status_its_handler_answers_with(document):
    created = {
        ("/v1/group-buys/{group_buy_id}/orders", "post"),
        ("/v1/members", "post"),
        ("/v1/suppliers", "post"),
        ("/v1/products", "post"),
        ("/v1/group-buys", "post"),
    }
    for path, method, operation in _operations(document):
        successes = [s for s in operation["responses"] if s.startswith("2")]
        assert len(successes) == 1, (method, path, successes)
        if (path, method) in created:
            assert successes == ["201"], path
