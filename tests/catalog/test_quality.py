"""Quality (GB/T 36344): each dimension scored on real rows, history, the schedule, and the alert."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.catalog import quality, service
from cityhub.catalog.demo import citizen_id, credit_code
from cityhub.events import service as events
from cityhub.events.schemas import EventIn
from cityhub.kit import bus as bus_module
from cityhub.kit.timeutil import clock
from cityhub.models.catalog import CatalogResource, QualityAlert, QualityRun
from tests.catalog.helpers import PERMITS, TODAY, add_stewards, permit_rows, register
from tests.factories import build_city, login

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def published() -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    unsubscribe = bus_module.bus.subscribe("catalog.*", lambda topic, payload: seen.append((topic, payload)))
    yield seen
    unsubscribe()


def _scores(run: QualityRun) -> dict[str, float]:
    return run.scores


def _result(run: QualityRun, dimension: str) -> dict[str, Any]:
    return next(r for r in run.results if r["dimension"] == dimension)


def test_check_characters_of_id_numbers_and_credit_codes() -> None:
    import random

    rng = random.Random(3)
    born = datetime(1945, 3, 12).date()
    good_id, bad_id = citizen_id(rng, "370202", born), citizen_id(rng, "370202", born, valid=False)
    assert quality.valid_citizen_id(good_id) and not quality.valid_citizen_id(bad_id)
    # A resident of 市南区 (created 1983) born in 1945 carries 370202…: still valid.
    assert good_id.startswith("370202194503")
    assert not quality.valid_citizen_id("370202194502301234")  # 30 February
    assert not quality.valid_citizen_id("990202194503121234")  # no such province
    assert quality.valid_citizen_id("11010519491231002X")
    spec = {"dimension": "conformity", "fields": ["x"], "format": "uscc"}
    check = quality.Conformity(quality.CheckSpec.model_validate(spec))
    for row_no, code in enumerate([credit_code(rng, "370202"), credit_code(rng, "370202", valid=False)]):
        check.feed(row_no, {"x": code})
    assert (check.tally.checked, check.tally.failed) == (2, 1)


def test_every_dimension_on_uploaded_rows(session: Session, published: list[tuple[str, Any]]) -> None:
    clock.freeze(NOW)
    build_city(session)
    rows = permit_rows(40)
    rows[0]["applicant"] = ""  # completeness
    rows[1]["applicant_id"] = rows[1]["applicant_id"][:-1] + (
        "0" if rows[1]["applicant_id"][-1] != "0" else "1"
    )
    rows[2]["company_code"] = "91370202MA3C00000X"  # wrong check character
    rows[3]["permit_no"] = rows[4]["permit_no"]  # a duplicate
    rows[5]["length_m"] = 9000  # out of range
    rows[6]["district"] = "379999"  # unknown to the area tree (consistency with CH-AREAS)
    resource = register(session, PERMITS, rows)
    service.ensure_builtin(session)
    run = quality.run(session, SYSTEM, resource.code)
    assert run.rows == 40
    assert _result(run, "completeness")["failed"] == 1
    conformity = [r for r in run.results if r["dimension"] == "conformity"]
    assert [c["failed"] for c in conformity] == [1, 1]
    assert _result(run, "uniqueness")["failed"] == 1
    assert _result(run, "accuracy")["failed"] == 1
    assert _result(run, "consistency")["failed"] == 1
    assert _result(run, "consistency")["examples"] == ["row 7"]  # where, never the value
    assert _scores(run)["timeliness"] == 100.0
    assert _scores(run)["completeness"] == pytest.approx(100 * (1 - 1 / 120), abs=0.01)
    assert run.passed is False
    # The owner is alerted once; the bus hears of it after commit.
    alert = session.scalar(select(QualityAlert).where(QualityAlert.resource_id == resource.id))
    assert alert is not None and alert.department_id == resource.department_id
    assert "uniqueness" in alert.message
    assert published == []
    session.commit()
    assert [t for t, _p in published] == ["catalog.quality_failed"]
    assert published[0][1]["resource"] == "ROADS-PERMITS"


def test_alert_repeats_then_resolves(session: Session, published: list[tuple[str, Any]]) -> None:
    clock.freeze(NOW)
    build_city(session)
    rows = permit_rows(20)
    rows[3]["permit_no"] = rows[4]["permit_no"]
    register(session, PERMITS, rows)
    quality.run(session, SYSTEM, "ROADS-PERMITS")
    quality.run(session, SYSTEM, "ROADS-PERMITS")
    alerts = session.scalars(select(QualityAlert)).all()
    assert len(alerts) == 1 and alerts[0].occurrences == 2
    service.load_sample(session, SYSTEM, "ROADS-PERMITS", _csv(permit_rows(20)))
    assert quality.run(session, SYSTEM, "ROADS-PERMITS").passed
    assert alerts[0].resolved_at is not None
    session.commit()
    assert [t for t, _p in published] == ["catalog.quality_failed", "catalog.quality_recovered"]


def _csv(rows: list[dict[str, Any]]) -> str:
    from tests.catalog.helpers import csv_text

    return csv_text(rows)


def test_timeliness_follows_the_update_cycle(session: Session) -> None:
    build_city(session)
    register(session, PERMITS, permit_rows(10))
    clock.freeze(datetime(2026, 11, 20, 20, tzinfo=UTC))  # newest permit issued today (local)
    assert _scores(quality.run(session, SYSTEM, "ROADS-PERMITS"))["timeliness"] == 100.0
    clock.freeze(datetime(2026, 12, 20, tzinfo=UTC))  # a month without new permits on a daily cycle
    late = quality.run(session, SYSTEM, "ROADS-PERMITS")
    assert _scores(late)["timeliness"] < 10
    assert "cycle allows 36.0 h" in _result(late, "timeliness")["message"]


def test_checks_run_against_the_hubs_own_tables(session: Session) -> None:
    build_city(session)
    service.ensure_builtin(session)
    run = quality.run(session, SYSTEM, "CH-AREAS")
    assert run.rows == 15 and run.passed, run.results  # city, 2 districts, 4 streets, communities, grids
    departments = quality.run(session, SYSTEM, "CH-DEPARTMENTS")
    assert departments.rows == 5 and departments.scores["uniqueness"] == 100.0
    # No events yet: nothing is late-checked as fine, the timeliness check fails.
    events = quality.run(session, SYSTEM, "CH-EVENTS")
    assert events.rows == 0 and _result(events, "timeliness")["passed"] is False


def test_checks_that_found_no_rows_run_again_once_the_table_is_filled(session: Session) -> None:
    build_city(session)
    service.ensure_builtin(session)
    assert quality.run(session, SYSTEM, "CH-EVENTS").rows == 0
    areas_runs = len(session.scalars(select(QualityRun)).all())
    road = "城乡建设/市政设施/道路破损"
    report = EventIn(title="路面破损", category=road, location={"lon": 120.305, "lat": 36.005})
    events.create(session, SYSTEM, report, events.DispatchPolicy())
    assert quality.recheck_empty(session) == 1  # CH-EVENTS only: the others found rows
    latest = session.scalars(select(QualityRun).order_by(QualityRun.id.desc())).first()
    assert latest is not None and latest.rows == 1 and latest.trigger == "refill"
    assert len(session.scalars(select(QualityRun)).all()) == areas_runs + 1
    assert quality.recheck_empty(session) == 0


def test_the_schedule_runs_what_is_due(session: Session) -> None:
    clock.freeze(NOW)
    build_city(session)
    register(session, PERMITS, permit_rows(10))
    first = quality.scheduled_run(session)
    resources = session.scalars(select(CatalogResource)).all()
    assert first == len([r for r in resources if r.quality_checks])
    assert quality.scheduled_run(session) == 0
    empty = {r.resource_id for r in session.scalars(select(QualityRun)) if r.rows == 0}
    assert empty  # CH-EVENTS at least: no events yet
    clock.freeze(NOW + timedelta(minutes=10))
    assert quality.scheduled_run(session) == len(empty)  # what had no rows is looked at again soon
    clock.freeze(NOW + timedelta(days=2))  # every daily/irregular resource is due again
    assert quality.scheduled_run(session) == first


def test_dashboard_history_and_alerts_over_the_api(client: TestClient, session: Session) -> None:
    city = build_city(session)
    add_stewards(session, city)
    rows = permit_rows(30)
    rows[3]["permit_no"] = rows[4]["permit_no"]
    register(session, PERMITS, rows)
    steward = login(client, "roads_steward")
    started = client.post("/api/v1/catalog/resources/ROADS-PERMITS/quality-runs", headers=steward)
    assert started.status_code == 201, started.text
    assert started.json()["scores"]["uniqueness"] < 100
    assert client.post("/api/v1/catalog/resources/CH-AREAS/quality-runs", headers=steward).status_code == 403
    history = client.get("/api/v1/catalog/resources/ROADS-PERMITS/quality-runs", headers=steward).json()
    assert len(history) == 1
    board = {r["resource"]: r for r in client.get("/api/v1/catalog/quality", headers=steward).json()}
    assert board["ROADS-PERMITS"]["overall"] is not None and board["ROADS-PERMITS"]["open_alert"]
    assert board["CH-AREAS"]["last_run_at"] is None
    alerts = client.get("/api/v1/catalog/quality-alerts", headers=login(client, "roads_handler")).json()
    assert [a["resource"] for a in alerts] == ["ROADS-PERMITS"]
    assert client.get("/api/v1/catalog/quality-alerts", headers=login(client, "env_handler")).json() == []
    assert client.get("/api/v1/catalog/quality", headers=login(client, "citizen")).status_code == 403


def test_checks_can_be_redeclared(session: Session) -> None:
    from cityhub.catalog.schemas import ResourceUpdate

    build_city(session)
    register(session, PERMITS, permit_rows(10))
    spec = copy.deepcopy(PERMITS["quality_checks"][:1])
    service.update(session, SYSTEM, "ROADS-PERMITS", ResourceUpdate.model_validate({"quality_checks": spec}))
    run = quality.run(session, SYSTEM, "ROADS-PERMITS")
    assert list(run.scores) == ["completeness"]
    assert TODAY.year == 2026
