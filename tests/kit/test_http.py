"""HTTP plumbing: errors are problem+json whatever raised them, bodies over the limit are 413 however sent."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.kit.http import install_error_handlers
from tests.factories import build_city, login

PROBLEM = "application/problem+json"


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length): the size is known only once it has been read."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_an_unexpected_exception_is_a_logged_problem_500(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/v1/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["title"] == "Internal server error" and "a bug" not in response.text
    logged = [r for r in caplog.records if r.exc_info and "/api/v1/broken" in r.getMessage()]
    assert logged and "RuntimeError: a bug" in caplog.text


def test_a_body_over_the_limit_is_413_with_or_without_a_content_length(
    client: TestClient, session: Session
) -> None:
    build_city(session)
    headers = login(client, "dispatcher")
    report = b'{"title": "' + b"x" * 1_200_000 + b'"}'
    json_headers = {**headers, "content-type": "application/json"}
    boundary = "cityhub-test-boundary"
    upload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + b"9" * 1_200_000
        + f"\r\n--{boundary}--\r\n".encode()
    )
    form_headers = {**login(client, "admin"), "content-type": f"multipart/form-data; boundary={boundary}"}
    for url, body, sent_with in (
        ("/api/v1/events", report, json_headers),
        ("/api/v1/categories/import", upload, form_headers),
    ):
        for content in (chunks(body), body):
            response = client.post(url, content=content, headers=sent_with)
            assert response.status_code == 413, (url, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert "exceeds 1048576 bytes" in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "says"),
    [
        (b'{"title": "x",', "application/json", 400, "not valid JSON"),
        (b"title=x", "application/x-www-form-urlencoded", 415, "send the body as application/json"),
        (b"<event/>", "text/xml", 415, "not text/xml"),
        (b'["a list"]', "application/json", 422, "body"),  # JSON, but not the object the route takes
    ],
)
def test_how_a_body_is_sent_is_told_apart_from_what_it_says(
    client: TestClient, session: Session, content: bytes, content_type: str, status: int, says: str
) -> None:
    build_city(session)
    headers = {**login(client, "dispatcher"), "content-type": content_type}
    response = client.post("/api/v1/events", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM and says in response.json()["detail"]


def test_every_problem_has_a_code_and_validation_errors_their_type_and_limits(
    client: TestClient, session: Session
) -> None:
    """``code`` names the error for programs (the dashboard words it in the user's language); each invalid
    field carries pydantic's error type and the limit it broke."""
    build_city(session)
    headers = login(client, "grid_worker")
    short = client.post(
        "/api/v1/auth/password", json={"current_password": "x", "new_password": "short"}, headers=headers
    )
    assert short.status_code == 422 and short.headers["content-type"] == PROBLEM
    body = short.json()
    assert body["code"] == "invalid_request"
    assert body["errors"] == [
        {
            "field": "new_password",
            "message": "String should have at least 8 characters",
            "type": "string_too_short",
            "limits": {"min_length": 8},
        }
    ]
    assert client.get("/api/v1/events/999999999", headers=headers).json()["code"] == "not_found"
    assert client.get("/api/v1/no-such-thing", headers=headers).json()["code"] == "not_found"
    assert client.get("/api/v1/auth/me").json()["code"] == "unauthorized"
    unreadable = client.post(
        "/api/v1/events", content=b"{", headers={**headers, "content-type": "application/json"}
    )
    assert unreadable.status_code == 400 and unreadable.json()["code"] == "invalid_json"
