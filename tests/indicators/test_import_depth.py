"""Importing definitions: a document nested deeper than any definition is refused before it is built."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.indicators import service
from cityhub.kit.errors import Unprocessable
from tests.factories import build_city, login


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[" * 5000 + "]" * 5000, "application/yaml"),
        ("[" * 5000 + "]" * 5000, "application/json"),
        ("a:\n" + "".join(" " * i + "- \n" for i in range(1, 1200)), "application/yaml"),
        ("{a: " * 5000 + "1" + "}" * 5000, "application/yaml"),
    ],
)
def test_a_document_nested_too_deep_is_422(
    client: TestClient, session: Session, body: str, content_type: str
) -> None:
    build_city(session)
    headers = {**login(client, "steward"), "content-type": content_type}
    response = client.post("/api/v1/indicators/import", content=body.encode(), headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert "nested deeper than" in response.json()["detail"]


def test_definitions_nest_well_within_the_bound() -> None:
    nested = "[" * service.MAX_DOCUMENT_DEPTH + "]" * service.MAX_DOCUMENT_DEPTH
    assert list(service.parse_document(nested)) == ["indicators"]  # a list of indicators at the top
    with pytest.raises(Unprocessable, match="nested deeper than"):
        service.parse_document("[" + nested + "]")


def _laughs(levels: int) -> str:
    """Nine aliases of nine aliases of …: a few hundred bytes that stand for 9**levels values."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join([*lines, f"indicators: *a{levels - 1}"])


def test_aliases_that_expand_beyond_the_bound_are_422(client: TestClient, session: Session) -> None:
    build_city(session)
    headers = {**login(client, "steward"), "content-type": "application/yaml"}
    response = client.post("/api/v1/indicators/import", content=_laughs(9).encode(), headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert "aliases" in response.json()["detail"]


def test_a_few_shared_anchors_are_fine() -> None:
    assert service.parse_document(_laughs(3))["indicators"][0][0][0] == "lol"
    with pytest.raises(Unprocessable, match="aliases"):
        service.parse_document(_laughs(7))  # 9**7 ≈ 4.8 million values
