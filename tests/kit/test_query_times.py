"""Times in query strings: local time without an offset, and a time the hub cannot hold is a 422 that says
which years it takes (it was a 400 "a number in the request is too large")."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import build_city, login

PATHS = (
    "/api/v1/events",
    "/api/v1/reports/evaluation",
    "/api/v1/alerts",
    "/api/v1/catalog/access-log/report",
)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "1800-01-01"])
def test_a_time_out_of_reach_is_422(client: TestClient, session: Session, path: str, since: str) -> None:
    build_city(session)
    response = client.get(path, params={"since": since}, headers=login(client, "admin"))
    assert response.status_code == 422, response.text
    assert "between the years 1900 and 8999" in response.json()["detail"]


@pytest.mark.parametrize("path", PATHS)
def test_a_local_time_is_taken(client: TestClient, session: Session, path: str) -> None:
    build_city(session)
    response = client.get(path, params={"since": "2026-11-21T08:00:00"}, headers=login(client, "admin"))
    assert response.status_code == 200, response.text
