"""``GET /metrics``: Prometheus's text format, for a monitor user's API token (or an administrator), with the
requests counted by route template and the city's state read from the database at scrape time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityhub.cli import app
from cityhub.kit import metrics
from cityhub.kit.metrics import route_template
from cityhub.kit.settings import get_settings
from cityhub.scheduler import Scheduler
from tests.factories import PASSWORD, build_city, login

ROAD = "城乡建设/市政设施/道路破损"


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, headers: dict[str, str]) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def grown(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def monitor_token(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    """A monitor user and an API token for it, as an administrator sets up the city's Prometheus."""
    made = client.post(
        "/api/v1/users",
        json={"username": "prometheus", "password": PASSWORD, "role": "monitor"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    token = client.post(
        "/api/v1/api-tokens", json={"name": "scrape", "username": "prometheus"}, headers=admin
    )
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['token']}"}


def test_metrics_need_a_monitor_or_an_administrator(client: TestClient, session: Session) -> None:
    build_city(session)
    session.commit()
    assert client.get("/metrics").status_code == 401
    for role in ("dispatcher", "supervisor", "citizen"):
        refused = client.get("/metrics", headers=login(client, role))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    admin = login(client, "admin")
    assert client.get("/metrics", headers=admin).status_code == 200
    monitor = monitor_token(client, admin)
    assert client.get("/metrics", headers=monitor).status_code == 200
    # The monitor reads metrics and nothing of the city: no events, no reports, no audit, no creating.
    assert client.get("/api/v1/events", headers=monitor).json()["total"] == 0
    assert client.get("/api/v1/audit", headers=monitor).status_code == 403
    report = {"title": "路面塌陷", "channel": "app", "address": "东区第1街道"}
    assert client.post("/api/v1/events", json=report, headers=monitor).status_code == 403


def test_requests_are_counted_by_route_template_and_the_city_state_is_read_live(
    client: TestClient, session: Session
) -> None:
    build_city(session)
    session.commit()
    admin = login(client, "admin")
    dispatcher = login(client, "dispatcher")
    before = scrape(client, admin)
    reports = [
        {
            "title": title,
            "channel": "hotline_12345",
            "category": ROAD,
            "location": {"lon": lon, "lat": 36.005},  # kilometres apart: three problems, not one
        }
        for title, lon in (("路面塌陷", 120.303), ("人行道砖松动", 120.318), ("沥青脱落", 120.334))
    ]
    reports[0]["grade"] = "III"  # a collapse that hurt someone: an emergency
    created = [client.post("/api/v1/events", json=report, headers=dispatcher) for report in reports]
    assert all(r.status_code == 201 for r in created)
    for r in created:
        assert client.get(f"/api/v1/events/{r.json()['id']}", headers=dispatcher).status_code == 200
    client.get("/api/v1/no/such/path/a1b2", headers=dispatcher)
    after = scrape(client, admin)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("cityhub_http_requests_total", method="POST", route="/api/v1/events", status="201") == 3
    assert (
        grew("cityhub_http_requests_total", method="GET", route="/api/v1/events/{event_id}", status="200")
        == 3
    )
    assert grew("cityhub_http_request_duration_seconds_count", method="POST", route="/api/v1/events") == 3
    # A path no route takes is counted as such, never by its own text.
    not_found = {  # the process counts for other tests too: what grew during this one
        dict(labels)["route"]
        for (name, labels), n in after.items()
        if name == "cityhub_http_requests_total"
        and dict(labels)["status"] == "404"
        and n > before.get((name, labels), 0)
    }
    assert not_found and all("{path:path}" in route for route in not_found)  # the 404 fallback's template
    assert not any("a1b2" in dict(labels).get("route", "") for _, labels in after)
    # The city's state: what the dashboard's summary shows for the whole city.
    summary = client.get("/api/v1/dashboard/summary", headers=admin).json()
    open_now = {
        dict(labels)["status"]: v for (name, labels), v in after.items() if name == "cityhub_events_open"
    }
    assert open_now == {status: float(n) for status, n in summary["by_status"].items()}
    assert sum(open_now.values()) == summary["open"] >= 3
    assert value(after, "cityhub_events_today", step="received") == summary["intake_today"]
    assert value(after, "cityhub_events_review_queue") == summary["review_queue"]
    assert value(after, "cityhub_telemetry_dead_letters_pending") == 0
    graded = {
        dict(labels)["grade"]: v
        for (name, labels), v in after.items()
        if name == "cityhub_events_graded_open"
    }
    assert graded == {"I": 0.0, "II": 0.0, "III": 1.0, "IV": 0.0}


def test_scheduler_jobs_are_counted_with_their_outcome(client: TestClient, session: Session) -> None:
    build_city(session)
    session.commit()
    scheduler: Scheduler = client.app.state.scheduler  # type: ignore[attr-defined]
    admin = login(client, "admin")
    before = scrape(client, admin)
    scheduler.run_once("deadlines")
    broken = next(j for j in scheduler.jobs if j.name == "relocate")
    original = broken.run

    def fails(_session: Session) -> int:
        raise RuntimeError("the job broke")

    object.__setattr__(broken, "run", fails)
    try:
        with pytest.raises(RuntimeError):
            scheduler.run_once("relocate")
    finally:
        object.__setattr__(broken, "run", original)
    after = scrape(client, admin)
    runs = "cityhub_scheduler_job_runs_total"
    assert (
        value(after, runs, job="deadlines", outcome="ok") - value(before, runs, job="deadlines", outcome="ok")
        == 1
    )
    assert (
        value(after, runs, job="relocate", outcome="failed")
        - value(before, runs, job="relocate", outcome="failed")
        == 1
    )
    count = "cityhub_scheduler_job_duration_seconds_count"
    assert value(after, count, job="deadlines") - value(before, count, job="deadlines") == 1


def test_a_scale_out_hub_counts_into_one_directory_emptied_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"left by a previous run")
    monkeypatch.setenv(metrics.MULTIPROCESS_ENV, "")  # put back as it was after the test
    metrics.prepare_multiprocess(directory)
    assert os.environ[metrics.MULTIPROCESS_ENV] == str(directory)
    assert list(directory.glob("*.db")) == []


def test_the_cli_creates_a_monitor_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYHUB_MODE", "development")
    monkeypatch.setenv("CITYHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CITYHUB_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        made = CliRunner().invoke(
            app, ["users", "create", "prometheus", "--role", "monitor", "--password", PASSWORD]
        )
        assert made.exit_code == 0, made.output
    finally:
        get_settings.cache_clear()


def test_a_route_outside_every_router_has_its_own_template_and_no_route_is_unmatched() -> None:
    class Route:
        path = "/healthz"

    assert route_template({"type": "http", "route": Route()}) == "/healthz"
    assert route_template({"type": "http"}) == metrics.UNMATCHED
