"""Registering a person whose meters are watched: the consent is an instant that has happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import build_city, login

URL = "/api/v1/alert-subjects"
GRID = "370201001001001"


def _subject(consent_at: str) -> dict[str, str]:
    return {"name": "王阿姨", "area": GRID, "consent_at": consent_at}


@pytest.mark.parametrize(
    ("consent_at", "says"),
    [
        ("0001-01-01T00:00:00+14:00", "between the years"),
        ("9999-12-31T23:59:59-12:00", "between the years"),
        ("2024-01-01T00:00:00", "UTC offset"),
        ("tomorrow", "in the future"),
    ],
)
def test_a_consent_time_that_cannot_have_happened_is_refused(
    client: TestClient, session: Session, consent_at: str, says: str
) -> None:
    build_city(session)
    if consent_at == "tomorrow":
        consent_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = client.post(URL, json=_subject(consent_at), headers=login(client, "admin"))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert says in refused.json()["detail"] and "consent" in refused.json()["detail"]


def test_a_consent_given_with_an_offset_is_kept(client: TestClient, session: Session) -> None:
    build_city(session)
    created = client.post(URL, json=_subject("2024-01-01T08:00:00+08:00"), headers=login(client, "admin"))
    assert created.status_code == 201, created.text


def test_the_same_person_registered_twice_in_a_community_is_409(client: TestClient, session: Session) -> None:
    build_city(session)
    admin = login(client, "admin")
    body = {**_subject(datetime.now(UTC).isoformat()), "phone": "13900001111"}
    first = client.post(URL, json=body, headers=admin)
    assert first.status_code == 201, first.text
    again = client.post(URL, json=body, headers=admin)
    assert again.status_code == 409 and f"subject {first.json()['id']}" in again.json()["detail"]
    # Another person of the same name (another phone) is someone else.
    other = client.post(URL, json={**body, "phone": "13900002222"}, headers=admin)
    assert other.status_code == 201, other.text
