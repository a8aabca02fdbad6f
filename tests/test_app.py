"""Process roles: an API process of a scale-out hub does no background work; the embedded default does it
all."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cityhub.app import Role, create_app
from cityhub.dispatch import gazetteer
from cityhub.kit.settings import Settings


def _scheduler_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "cityhub-deadlines"]


def test_an_api_process_runs_no_scheduler_pipeline_or_mqtt(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    settings = settings.model_copy(update={"mqtt_url": "mqtt://127.0.0.1:1883"})
    app = create_app(settings, session_factory, role=Role.API)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert app.state.sensing is None
        # The telemetry router starts the MQTT subscription when the URL is set: not for an API process.
        assert app.state.settings.mqtt_url is None and app.state.mqtt_ingest is None
        assert _scheduler_threads() == []


def test_the_embedded_default_runs_them_in_its_one_process(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    app = create_app(settings, session_factory)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert app.state.sensing is not None
        assert _scheduler_threads() == ["cityhub-deadlines"]
    assert _scheduler_threads() == []


def test_the_word_segmenter_is_loaded_at_start_not_in_the_first_report(
    settings: Settings, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = gazetteer._Segmenter()  # the process's own may be loaded already by an earlier test
    monkeypatch.setattr(gazetteer, "segmenter", fresh)
    app = create_app(settings, session_factory, run_scheduler=False)
    with TestClient(app):
        deadline = time.monotonic() + 30
        while fresh._tokenizer is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fresh._tokenizer is not None  # no request was made


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/events", {"GET", "POST"}),
        ("PUT", "/api/v1/events/429", {"GET"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
    ],
)
def test_a_method_the_path_does_not_take_is_405_with_the_methods_it_does(
    client: TestClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert set(response.headers["allow"].split(", ")) == allowed
    assert method in response.json()["detail"]


def test_unknown_api_paths_stay_404_and_pages_are_served_to_get_only(client: TestClient) -> None:
    for method in ("GET", "POST", "DELETE"):
        unknown = client.request(method, "/api/v1/nothing-here")
        assert unknown.status_code == 404 and "no such path" in unknown.json()["detail"]
    assert client.get("/metrics").status_code == 401  # Prometheus metrics, for a token; never a page
    assert client.get("/events/429").status_code == 200  # a page the dashboard's router owns
    assert client.head("/events/429").status_code == 200
    posted = client.post("/events/429")
    assert posted.status_code == 404 and posted.headers["content-type"] == "application/problem+json"
    assert client.post("/healthz").headers["allow"] == "GET, HEAD"  # a path of the hub's own: 405
    assert client.head("/healthz").status_code == 200  # monitors that only ask
