"""Texts with control characters (NUL and the like) are refused at the edge, on every database alike; tab,
line feed and carriage return are text."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.kit import text
from tests.factories import build_city, login

ROAD = "城乡建设/市政设施/道路破损"
POINT = {"lon": 120.305, "lat": 36.005}


@pytest.mark.parametrize(
    ("user", "path", "body"),
    [
        ("dispatcher", "/api/v1/events", {"title": "路面\x00塌陷", "category": ROAD, "location": POINT}),
        ("dispatcher", "/api/v1/events", {"title": "路面塌陷", "description": "坑\x07", "location": POINT}),
        (
            "dispatcher",
            "/api/v1/events",
            {"title": "塌陷", "location": POINT, "reporter": {"name": "张\x1b三", "phone": "13812340000"}},
        ),
        ("admin", "/api/v1/departments", {"code": "abcd", "name": "a\x00b", "kind": "bureau"}),
        ("grid_worker", "/api/v1/alert-subjects", {"name": "李\x00", "area": "370201001001001"}),
    ],
)
def test_a_control_character_in_a_text_is_422(
    client: TestClient, session: Session, user: str, path: str, body: dict[str, Any]
) -> None:
    build_city(session)
    response = client.post(path, json=body, headers=login(client, user))
    assert response.status_code == 422, response.text
    assert "control characters" in response.json()["detail"]


def test_line_breaks_and_tabs_are_text(client: TestClient, session: Session) -> None:
    build_city(session)
    body = {"title": "路面塌陷", "description": "第一行\n第二行\r\n\t缩进", "location": POINT}
    response = client.post("/api/v1/events", json=body, headers=login(client, "dispatcher"))
    assert response.status_code == 201, response.text
    assert response.json()["description"] == body["description"]


def test_a_category_file_with_a_control_character_is_400(client: TestClient, session: Session) -> None:
    build_city(session)
    files = {"file": ("t.csv", "一级,二级\n城乡建设,道\x00路\n".encode(), "text/csv")}
    response = client.post("/api/v1/categories/import", files=files, headers=login(client, "admin"))
    assert response.status_code == 400 and "control characters" in response.json()["detail"]


def test_check_names_what_holds_one() -> None:
    assert text.check("a\tb\nc") == "a\tb\nc"
    with pytest.raises(ValueError, match="the title contains control characters"):
        text.check("a\x00", "the title")
