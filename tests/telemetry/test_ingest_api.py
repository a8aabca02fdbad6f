"""HTTP batch ingest: every reading checked, rejected ones dead-lettered with the reason, replayable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.entities import codes, service
from cityhub.entities.schemas import EntityIn, PointIn
from cityhub.kit.bus import bus
from cityhub.telemetry.service import InflightLimit
from tests.entities.helpers import EAST, add_device
from tests.factories import build_city, login
from tests.telemetry.helpers import ago, gateway_headers, iso, reading

URL = "/api/v1/telemetry"


@pytest.fixture
def published() -> Iterator[list[Any]]:
    seen: list[Any] = []
    stop = bus.subscribe("telemetry.readings", lambda _t, p: seen.extend(p))
    yield seen
    stop()


def test_each_reading_is_checked_and_the_answer_names_every_reason(
    client: TestClient, session: Session, published: list[Any]
) -> None:
    build_city(session)
    gas = add_device(session, "methane").code
    gw = gateway_headers(session)
    t = ago(minutes=1)
    unregistered = codes.compose("370201", "DV", 99)
    batch = [
        reading(gas, "methane", 1.5, t, unit="%LEL", quality="good"),  # 0 ok
        reading(unregistered, "methane", 1.0, t),  # 1 unknown device
        reading("370201DV00000001", "methane", 1.0, t),  # 2 malformed code → unknown device, says why
        reading(gas, "water_level", 1.0, t),  # 3 unknown metric
        reading(gas, "methane", 1.0, ago(minutes=2), unit="ppm"),  # 4 wrong unit
        reading(gas, "methane", 140.0, ago(minutes=3)),  # 5 impossible (> 100 %LEL)
        reading(gas, "methane", 1.0, ago(minutes=-30)),  # 6 future
        reading(gas, "methane", 1.0, "2026-11-21T08:00:00"),  # 7 no offset
        reading(gas, "methane", 1.6, t),  # 8 duplicate of 0 in the same batch
        reading(gas, "methane", "high", t),  # 9 malformed value
        ["not", "an", "object"],  # 10 malformed
        reading(gas, "battery", 88, t),  # 11 ok
    ]
    r = client.post(URL, json=batch, headers=gw)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 2 and out["rejected"] == 10
    reasons = {x["index"]: x["reason"] for x in out["rejections"]}
    assert reasons == {
        1: "unknown_device",
        2: "unknown_device",
        3: "unknown_metric",
        4: "wrong_unit",
        5: "impossible_value",
        6: "future_timestamp",
        7: "no_offset",
        8: "duplicate",
        9: "malformed",
        10: "malformed",
    }
    details = {x["index"]: x["detail"] for x in out["rejections"]}
    assert "register it first" in details[1] and "17" in details[2] and "%LEL" in details[4]
    assert all(x["dead_letter_id"] for x in out["rejections"])
    # Sending the same reading again is a duplicate, not a second row.
    again = client.post(URL, json=[batch[0]], headers=gw).json()
    assert again["accepted"] == 0 and again["rejections"][0]["reason"] == "duplicate"
    # Subscribers got the accepted readings, after the commit, in the agreed shape.
    assert sorted(p["metric"] for p in published) == ["battery", "methane"]
    first = next(p for p in published if p["metric"] == "methane")
    assert set(first) == {"device", "metric", "ts", "value", "entity_id", "area_id"}
    assert first["device"] == gas and first["value"] == 1.5 and first["ts"] == t.timestamp()  # seconds
    admin = login(client, "admin")
    letters = client.get(f"{URL}/dead-letters", params={"reason": "wrong_unit"}, headers=admin).json()
    assert letters["total"] == 1 and '"ppm"' in letters["items"][0]["raw"]
    series = client.get(f"{URL}/series", params={"device": gas, "metric": "methane"}, headers=admin).json()
    assert [p["value"] for p in series["points"]] == [1.5] and series["unit"] == "%LEL"


def test_ndjson_and_bodies_that_are_not_readings(client: TestClient, session: Session) -> None:
    build_city(session)
    level = add_device(session, "water_level").code
    gw = gateway_headers(session)
    lines = [
        b'{"device": "%s", "metric": "water_level", "ts": "%s", "value": 2.5}'
        % (level.encode(), iso(ago(seconds=5)).encode()),
        b"{oops",
        b'{"device": "%s", "metric": "water_level", "ts": "%s", "value": 2.6}'
        % (level.encode(), iso(ago(seconds=1)).encode()),
    ]
    r = client.post(URL, content=b"\n".join(lines), headers={**gw, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2 and r.json()["rejections"][0]["index"] == 1
    assert r.json()["rejections"][0]["reason"] == "malformed"
    bad = client.post(URL, content=b"\x00garbage", headers={**gw, "Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.json()["dead_letter_id"]
    scalar = client.post(URL, json=42, headers=gw)
    assert scalar.status_code == 422
    letters = client.get(
        f"{URL}/dead-letters", params={"reason": "malformed"}, headers=login(client, "steward")
    )
    assert letters.json()["total"] == 3


def test_replay_after_the_device_is_registered(client: TestClient, session: Session) -> None:
    build_city(session)
    gw = gateway_headers(session)
    future_code = codes.compose("370201", "DV", 500)
    sent = [reading(future_code, "water_depth", d, ago(minutes=10 - d)) for d in (1, 2, 3)]
    r = client.post(URL, json=sent, headers=gw).json()
    assert r["accepted"] == 0 and {x["reason"] for x in r["rejections"]} == {"unknown_device"}
    steward = login(client, "steward")
    nothing = client.post(f"{URL}/dead-letters/replay", json={"device": future_code}, headers=steward).json()
    assert nothing == {"replayed": 0, "still_rejected": 3, "rejections": nothing["rejections"]}
    service.create(
        session,
        SYSTEM,
        EntityIn(
            code=future_code,
            name="积水",
            location=PointIn(lon=EAST[0], lat=EAST[1]),
            attributes={"device_type": "water_depth"},
        ),
    )
    session.flush()
    done = client.post(
        f"{URL}/dead-letters/replay", json={"reason": "unknown_device"}, headers=steward
    ).json()
    assert done["replayed"] == 3 and done["still_rejected"] == 0
    series = client.get(
        f"{URL}/series", params={"device": future_code, "metric": "water_depth"}, headers=steward
    ).json()
    assert [p["value"] for p in series["points"]] == [1.0, 2.0, 3.0]
    pending = client.get(f"{URL}/dead-letters", params={"status": "pending"}, headers=steward).json()
    assert pending["total"] == 0
    assert (
        client.post(f"{URL}/dead-letters/replay", json={}, headers=login(client, "dispatcher")).status_code
        == 403
    )


def test_only_gateways_and_admins_push_and_overload_is_429(client: TestClient, session: Session) -> None:
    build_city(session)
    gauge = add_device(session, "rain_gauge").code
    gw = gateway_headers(session)
    one = [reading(gauge, "rainfall", 3.0, ago(seconds=1))]
    assert client.post(URL, json=one).status_code == 401
    assert client.post(URL, json=one, headers=login(client, "dispatcher")).status_code == 403
    limiter = InflightLimit(5)
    client.app.state.telemetry_limiter = limiter  # type: ignore[attr-defined]
    assert limiter.try_acquire(5)  # another request holds the whole budget
    busy = client.post(URL, json=one, headers=gw)
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
    limiter.release(5)
    assert client.post(URL, json=one * 6, headers=gw).status_code == 413
    assert client.post(URL, json=one, headers=gw).json()["accepted"] == 1


def test_inspection_overdue_days_is_a_fire_facility_metric(client: TestClient, session: Session) -> None:
    """The high-rise fire-risk code scores overdue fire inspections: the monitors report them in days."""
    build_city(session)
    monitor = add_device(session, "fire_facility").code
    methane = add_device(session, "methane").code
    gw = gateway_headers(session)
    batch = [
        reading(monitor, "inspection_overdue_days", 45, ago(minutes=3), unit="d"),  # 0 ok
        reading(monitor, "inspection_overdue_days", 0, ago(minutes=2), unit="天"),  # 1 ok, the Chinese unit
        reading(monitor, "inspection_overdue_days", 3650, ago(minutes=1)),  # 2 ok, the upper bound
        reading(monitor, "inspection_overdue_days", -1, ago(minutes=4)),  # 3 a negative count of days
        reading(monitor, "inspection_overdue_days", 3651, ago(minutes=5)),  # 4 beyond ten years
        reading(monitor, "inspection_overdue_days", 5, ago(minutes=6), unit="h"),  # 5 not in days
        reading(methane, "inspection_overdue_days", 5, ago(minutes=1)),  # 6 not a methane detector's metric
    ]
    r = client.post(URL, json=batch, headers=gw)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 3
    reasons = {x["index"]: x["reason"] for x in out["rejections"]}
    assert reasons == {3: "impossible_value", 4: "impossible_value", 5: "wrong_unit", 6: "unknown_metric"}
    admin = login(client, "admin")
    negative = client.get(
        f"{URL}/dead-letters", params={"reason": "impossible_value", "device": monitor}, headers=admin
    ).json()
    assert negative["total"] == 2
    assert {json.loads(x["raw"])["value"] for x in negative["items"]} == {-1, 3651}
    assert all(x["metric"] == "inspection_overdue_days" for x in negative["items"])
    series = client.get(
        f"{URL}/series", params={"device": monitor, "metric": "inspection_overdue_days"}, headers=admin
    ).json()
    assert [p["value"] for p in series["points"]] == [45.0, 0.0, 3650.0] and series["unit"] == "d"
    catalogue = client.get(f"{URL}/metrics", headers=admin).json()
    reporting = {t["key"] for t in catalogue for m in t["metrics"] if m["name"] == "inspection_overdue_days"}
    assert reporting == {"fire_facility"}
    spec = next(m for t in catalogue for m in t["metrics"] if m["name"] == "inspection_overdue_days")
    assert (spec["unit"], spec["min"], spec["max"]) == ("d", 0, 3650)


@pytest.mark.parametrize("edge", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_dead_letter_windows_beyond_the_years_a_time_can_hold_are_refused(
    client: TestClient, session: Session, edge: str
) -> None:
    build_city(session)
    admin = login(client, "admin")
    for param in ("since", "until"):
        listed = client.get(f"{URL}/dead-letters", params={param: edge}, headers=admin)
        assert listed.status_code == 422, listed.text
        assert param in listed.json()["detail"] and "between the years" in listed.json()["detail"]
        replayed = client.post(f"{URL}/dead-letters/replay", json={param: edge}, headers=admin)
        assert replayed.status_code == 422, replayed.text
        assert param in replayed.json()["detail"]
    naive = client.get(f"{URL}/dead-letters", params={"since": "2026-11-21T08:00:00"}, headers=admin)
    assert naive.status_code == 422 and "UTC offset" in naive.json()["detail"]
