"""The live stream: what each principal receives, and the stream over a real HTTP connection."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import Principal
from cityhub.events import service as events
from cityhub.events.schemas import EventIn, LocationIn
from cityhub.models.org import Role, User
from cityhub.org.service import principal_for
from cityhub.web import stream
from cityhub.web.stream import Message, visible
from tests.factories import PASSWORD, City, build_city
from tests.web.live_server import Hub, database, serve

EAST = LocationIn(lon=120.305, lat=36.005)


def _principal(session: Session, city: City, username: str) -> Principal:
    return principal_for(session, city.users[username])


def test_each_principal_sees_only_the_events_it_may_read(session: Session) -> None:
    city = build_city(session)
    dispatcher = _principal(session, city, "east_dispatcher")
    event = events.create(
        session, dispatcher, EventIn(title="井盖缺失", location=EAST), events.DispatchPolicy()
    )
    batch = [
        Message("events.create", {"id": event.id, "number": event.number, "action": "create"}),
        Message("events.create", {"id": 2**40, "number": "x", "action": "create"}),  # no such event
        Message("events.create", "not a dict"),
    ]
    seen = visible(session, dispatcher, batch)
    assert [m.payload["id"] for m in seen] == [event.id]
    assert visible(session, _principal(session, city, "police_handler"), batch) == []
    assert visible(session, _principal(session, city, "citizen"), batch) == []


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    data = tmp_path_factory.mktemp("stream")
    engine, factory = database(data)
    with factory() as session:
        build_city(session)
        session.commit()
    with serve(Path(data), engine, factory) as running:
        yield running
    engine.dispose()


def _token(hub: Hub, username: str) -> str:
    response = httpx.post(f"{hub.url}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _stream_url(hub: Hub, token: str) -> str:
    """The stream as a browser opens it: with a ticket, not the access token, in the URL."""
    answer = httpx.post(f"{hub.url}/api/v1/stream/ticket", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return f"{hub.url}/api/v1/stream?ticket={answer.json()['ticket']}"


class Listener:
    """Reads a stream in a thread and keeps the messages."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.status: int | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self.ready.wait(30), "the stream did not answer"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(30.0)) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            self.status = response.status_code
            self.ready.set()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    self.messages.append(json.loads(line[6:]))
                if self._stop.is_set():
                    return

    def topics(self) -> list[str]:
        return [m["topic"] for m in self.messages]

    def wait_for(self, topic: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages:
                if m["topic"] == topic:
                    return m
            time.sleep(0.05)
        raise AssertionError(f"no {topic} within {timeout} s; got {self.topics()}")

    def stop(self) -> None:
        self._stop.set()


def test_the_stream_needs_a_token(hub: Hub) -> None:
    response = httpx.get(f"{hub.url}/api/v1/stream", timeout=30)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(f"{hub.url}/api/v1/stream?ticket=forged", timeout=30).status_code == 401
    # An access token is not a ticket (nor the other way round), and the URL no longer takes access tokens.
    token = _token(hub, "dispatcher")
    assert httpx.get(f"{hub.url}/api/v1/stream?ticket={token}", timeout=30).status_code == 401
    assert httpx.get(f"{hub.url}/api/v1/stream?access_token={token}", timeout=30).status_code == 401
    ticket = _stream_url(hub, token).split("ticket=")[1]
    me = httpx.get(f"{hub.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {ticket}"})
    assert me.status_code == 401


def test_a_new_event_reaches_the_streams_that_may_read_it(hub: Hub) -> None:
    dispatcher = Listener(_stream_url(hub, _token(hub, "dispatcher")))
    handler = Listener(
        f"{hub.url}/api/v1/stream", {"Authorization": f"Bearer {_token(hub, 'police_handler')}"}
    )
    try:
        assert dispatcher.status == 200 and handler.status == 200
        dispatcher.wait_for("hello")
        handler.wait_for("hello")
        headers = {"Authorization": f"Bearer {_token(hub, 'dispatcher')}"}
        body = {"title": "路灯不亮", "location": {"lon": EAST.lon, "lat": EAST.lat}}
        created = httpx.post(f"{hub.url}/api/v1/events", json=body, headers=headers, timeout=10).json()
        message = dispatcher.wait_for("events.create")
        assert message["data"] == {
            "id": created["id"],
            "number": created["number"],
            "action": "create",
            "status": "received",
        }
        time.sleep(1.0)  # a batch window and more: the handler's stream had its chance
        assert "events.create" not in handler.topics()
    finally:
        dispatcher.stop()
        handler.stop()


def test_a_stream_ends_soon_after_its_session_is_logged_out(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "SESSION_CHECK_SECONDS", 0.5)
    token = _token(hub, "supervisor")
    url = _stream_url(hub, token)
    listener = Listener(url)
    try:
        listener.wait_for("hello")
        time.sleep(1.5)  # checked, and still open
        assert "bye" not in listener.topics()
        logout = httpx.post(f"{hub.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert logout.status_code == 204
        assert "logged out" in listener.wait_for("bye", timeout=10)["data"]["reason"]
        assert httpx.get(url, timeout=30).status_code == 401  # its ticket, still within its minute
    finally:
        listener.stop()


def test_a_stream_ends_when_its_user_is_given_another_role(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "SESSION_CHECK_SECONDS", 0.5)
    listener = Listener(_stream_url(hub, _token(hub, "east_dispatcher")))
    try:
        listener.wait_for("hello")
        with hub.factory() as session, session.begin():
            user = session.scalars(select(User).where(User.username == "east_dispatcher")).one()
            area = user.area_id
            user.role = Role.SUPERVISOR
        assert "changed" in listener.wait_for("bye", timeout=10)["data"]["reason"]
    finally:
        listener.stop()
        with hub.factory() as session, session.begin():
            user = session.scalars(select(User).where(User.username == "east_dispatcher")).one()
            user.role, user.area_id = Role.DISPATCHER, area
