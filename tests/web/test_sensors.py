"""The map's sensor layer (GET /api/v1/sensors) and the readings behind an event, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.alerts import service as alerts
from cityhub.audit.hooks import bind_principal
from cityhub.entities import service as entities
from cityhub.entities.schemas import RelationIn
from cityhub.indicators.spec import WatchSpec
from cityhub.kit.timeutil import clock
from cityhub.models.alert import AlertSource, LinkageRule, RuleFiring
from cityhub.models.area import AreaLevel
from cityhub.models.entity import Entity
from cityhub.models.indicator import MetricWatch, WarningLevel
from cityhub.telemetry import ingest
from cityhub.telemetry.service import ingest_batch
from cityhub.web import service
from tests.entities.helpers import EAST, WEST, add_device, add_entity, add_person_living_alone
from tests.factories import City, build_city, login
from tests.telemetry.helpers import reading

LIMITS = ingest.Limits(max_future=timedelta(minutes=5), max_age=timedelta(days=30))
ALLOWED = ("admin", "dispatcher", "east_dispatcher", "roads_handler", "supervisor", "grid_worker")
REFUSED = ("steward", "citizen")


def _push(session: Session, device: Entity, metric: str, at: datetime, value: float = 1.0) -> None:
    outcome = ingest_batch(
        session,
        SYSTEM,
        [reading(device.code, metric, value, at)],
        channel=ingest.Channel.REPLAY,
        limits=LIMITS,
    )
    assert outcome.accepted == 1, outcome.rejections


def _alert(session: Session, city: City, device: Entity, **extra: Any) -> Any:
    trigger = alerts.Trigger(
        source_kind=AlertSource.THRESHOLD,
        source=f"test:{device.code}",
        type="gas.methane.high",
        title="可燃气体浓度超限",
        level=WarningLevel.ORANGE,
        value=30.0,
        device=device.code,
        metric="methane",
        areas={AreaLevel.DISTRICT: city.areas["370201"].id},
        **extra,
    )
    return alerts.raise_alert(session, trigger).alert


@pytest.fixture
def devices(client: TestClient, session: Session) -> dict[str, Any]:
    """Sensors in every state, on a clock frozen at the real now (so the test's tokens stay valid):
    water depth sensors watched with ``silent_after: 30m`` (fresh, 45 min and 3 h old), a rain gauge that
    never reported, a methane detector with an open alert (东区), a fresh rain gauge in 西区, a manhole."""
    city = build_city(session)
    headers = {who: login(client, who) for who in (*ALLOWED, *REFUSED, "police_handler")}
    now = clock.now().replace(microsecond=0)
    clock.freeze(now)
    bind_principal(session, SYSTEM)
    spec = WatchSpec.model_validate({"metric": "water_depth", "health": {"silent_after": "30m"}})
    session.add(MetricWatch(metric="water_depth", spec=spec.as_json(), enabled=True, updated_at=now))
    made = {
        "online": add_device(session, "water_depth", name="积水 在线"),
        "stale": add_device(session, "water_depth", name="积水 滞后"),
        "offline": add_device(session, "water_depth", name="积水 离线"),
        "never": add_device(session, "rain_gauge", name="雨量 未上报"),
        "alarming": add_device(session, "methane", name="燃气 告警"),
        "west": add_device(session, "rain_gauge", at=WEST, name="雨量 西区"),
    }
    add_entity(session, "MH", "井 1", network="gas")  # not a sensor
    _push(session, made["online"], "water_depth", now - timedelta(minutes=1))
    _push(session, made["stale"], "water_depth", now - timedelta(minutes=45))
    _push(session, made["offline"], "water_depth", now - timedelta(hours=3))
    _push(session, made["alarming"], "methane", now - timedelta(minutes=1), 30.0)
    # 1 h 50 min old: within the default two hours of a type nobody watches.
    _push(session, made["west"], "rainfall", now - timedelta(minutes=110))
    _alert(session, city, made["alarming"])
    session.commit()
    return {"city": city, "headers": headers, "now": now, **{k: v.code for k, v in made.items()}}


def sensors(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    response = client.get("/api/v1/sensors", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _points(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    layer = body["sensors"]
    assert layer["mode"] == "points"
    out = {}
    for row in layer["rows"]:
        item = dict(zip(layer["fields"], row, strict=True))
        item["health"] = layer["codes"]["health"][item["health"]]
        item["kind"] = layer["codes"]["kind"][item["kind"]]
        out[item["code"]] = item
    return out


def test_health_is_judged_by_the_expected_interval_and_open_alerts(
    client: TestClient, devices: dict[str, Any]
) -> None:
    body = sensors(client, devices["headers"]["dispatcher"])
    points = _points(body)
    health = {code: p["health"] for code, p in points.items()}
    assert health == {
        devices["online"]: "online",
        devices["stale"]: "stale",
        devices["offline"]: "offline",
        devices["never"]: "offline",
        devices["alarming"]: "alarming",
        devices["west"]: "online",
    }
    assert body["by_health"] == {"online": 2, "stale": 1, "alarming": 1, "offline": 2}
    assert body["expected_s"]["water_depth"] == 1800 and body["expected_s"]["rain_gauge"] == 7200
    assert points[devices["alarming"]]["kind"] == "methane"
    assert points[devices["never"]]["last"] is None
    assert points[devices["online"]]["last"] == int((devices["now"] - timedelta(minutes=1)).timestamp())
    assert body["sensors"]["total"] == 6 and body["unlocated"] == 0


def test_the_layer_is_aggregated_by_zoom_level_and_filtered(
    client: TestClient, devices: dict[str, Any]
) -> None:
    headers = devices["headers"]["dispatcher"]
    city = sensors(client, headers)
    assert city["area"]["code"] == "370200" and city["child_level"] == "district"
    per_district = {a["name"]: (a["total"], a["by_health"]) for a in city["areas"]}
    assert per_district["东区"] == (5, {"online": 1, "stale": 1, "alarming": 1, "offline": 2})
    assert per_district["西区"] == (1, {"online": 1, "stale": 0, "alarming": 0, "offline": 0})
    district = sensors(client, headers, area="370201")
    assert district["child_level"] == "street" and [p["code"] for p in district["path"]] == [
        "370200",
        "370201",
    ]
    assert {a["code"]: a["total"] for a in district["areas"]} == {"370201001": 5, "370201002": 0}
    assert devices["west"] not in _points(district)
    grid = sensors(client, headers, area="370201001001001")
    assert grid["child_level"] is None and grid["sensors"]["total"] == 5
    bad = sensors(client, headers, health=["offline", "stale"])
    assert set(_points(bad)) == {devices["offline"], devices["never"], devices["stale"]}
    assert bad["by_health"] == {"online": 0, "stale": 1, "alarming": 0, "offline": 2}
    assert set(_points(sensors(client, headers, kind="rain_gauge"))) == {devices["never"], devices["west"]}


def test_many_sensors_are_sent_per_cell(
    client: TestClient, devices: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_POINTS", 1)
    body = sensors(client, devices["headers"]["dispatcher"])
    layer = body["sensors"]
    assert layer["mode"] == "cells" and layer["cell"] == service.CELL_DEGREES[AreaLevel.CITY]
    rows = [dict(zip(layer["fields"], r, strict=True)) for r in layer["rows"]]
    assert len(rows) == 2  # 东区's five share a cell, 西区's one has its own
    east = max(rows, key=lambda r: r["count"])
    assert (east["count"], east["online"], east["stale"], east["alarming"], east["offline"]) == (
        5,
        1,
        1,
        1,
        2,
    )
    assert sum(r["count"] for r in rows) == layer["total"] == 6


def test_who_may_see_the_layer_and_alarms_only_through_readable_alerts(
    client: TestClient, devices: dict[str, Any]
) -> None:
    headers = devices["headers"]
    for who in ALLOWED:
        assert sensors(client, headers[who])["sensors"]["total"] == 6, who
    for who in REFUSED:
        response = client.get("/api/v1/sensors", headers=headers[who])
        assert response.status_code == 403, who
        assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/sensors").status_code == 401
    # The alert has no department: a handler may not read it, so the detector is not alarming for them.
    police = _points(sensors(client, headers["police_handler"]))
    assert police[devices["alarming"]]["health"] == "online"
    # The east dispatcher reads the alerts of 东区, where it was raised.
    assert _points(sensors(client, headers["east_dispatcher"]))[devices["alarming"]]["health"] == "alarming"


@pytest.mark.parametrize(
    "params",
    [
        {"area": "999999"},
        {"area": "x" * 21},
        {"area": ""},
        {"health": "broken"},
        {"health": ["online", "stale", "alarming", "offline", "online"]},
        {"kind": "toaster"},
        {"kind": "k" * 41},
    ],
)
def test_bad_parameters_are_422_problems(
    client: TestClient, devices: dict[str, Any], params: dict[str, Any]
) -> None:
    response = client.get("/api/v1/sensors", params=params, headers=devices["headers"]["admin"])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_event_from_an_alert_lists_the_series_of_its_devices(
    client: TestClient, session: Session, devices: dict[str, Any]
) -> None:
    headers = devices["headers"]
    body = {"title": "燃气泄漏", "location": {"lon": EAST[0], "lat": EAST[1]}}
    event = client.post("/api/v1/events", json=body, headers=headers["dispatcher"]).json()
    other = client.post("/api/v1/events", json=body, headers=headers["dispatcher"]).json()
    bind_principal(session, SYSTEM)
    alert = alerts.find_open(session, f"test:{devices['alarming']}", "gas.methane.high")
    assert alert is not None
    # The evidence cites a second device's reading, as a linkage rule's does.
    alert.evidence = [{"device": devices["online"], "metric": "water_depth", "value": 1.0}]
    alerts.link_event(session, alert, event["id"], event["number"])
    session.commit()
    related = client.get(
        f"/api/v1/dashboard/events/{event['id']}/related", headers=headers["dispatcher"]
    ).json()
    refs = {(r["device"], r["metric"]): r for r in related["readings"]}
    assert set(refs) == {(devices["alarming"], "methane"), (devices["online"], "water_depth")}
    ref = refs[(devices["alarming"], "methane")]
    assert ref["unit"] == "%LEL" and ref["name"] == "燃气 告警" and ref["resolution"] == "raw"
    assert not ref["personal"]  # read as it is, without a purpose
    # The references are the parameters of the telemetry series endpoint, and it answers them.
    params = {k: ref[k] for k in ("device", "metric", "since", "until", "resolution")}
    series = client.get("/api/v1/telemetry/series", params=params, headers=headers["dispatcher"])
    assert series.status_code == 200, series.text
    assert [p["value"] for p in series.json()["points"]] == [30.0]
    unrelated = client.get(f"/api/v1/dashboard/events/{other['id']}/related", headers=headers["dispatcher"])
    assert unrelated.json()["readings"] == []
    # An event a linkage rule created: the devices of the firing's evidence, and of the alerts it cites.
    now = devices["now"]
    rule = LinkageRule(key="t.rule", name_zh="规则", name_en="rule", spec={}, created_at=now, updated_at=now)
    session.add(rule)
    session.flush()
    conditions = [{"device": devices["west"], "metric": "rainfall", "value": 1.0}, {"alert": alert.id}]
    session.add(
        RuleFiring(
            rule_id=rule.id,
            scope_key="370202",
            fired_at=now,
            last_true_at=now,
            event_id=other["id"],
            evidence={"conditions": conditions},
        )
    )
    session.commit()
    fired = client.get(
        f"/api/v1/dashboard/events/{other['id']}/related", headers=headers["dispatcher"]
    ).json()
    assert {(r["device"], r["metric"]) for r in fired["readings"]} == {
        (devices["west"], "rainfall"),
        (devices["alarming"], "methane"),
        (devices["online"], "water_depth"),
    }
    # A data steward reads events and telemetry but no alerts: only the firing's own device, not the
    # cited alert's.
    steward = client.get(f"/api/v1/dashboard/events/{other['id']}/related", headers=headers["steward"]).json()
    assert [(r["device"], r["metric"]) for r in steward["readings"]] == [(devices["west"], "rainfall")]
    # A citizen reads their own report, but no telemetry: no series, even when a rule cites a device.
    mine = client.post("/api/v1/events", json=body, headers=headers["citizen"]).json()
    evidence = {"conditions": conditions}
    session.add(
        RuleFiring(
            rule_id=rule.id,
            scope_key="c",
            fired_at=now,
            last_true_at=now,
            event_id=mine["id"],
            evidence=evidence,
        )
    )
    session.commit()
    own = client.get(f"/api/v1/dashboard/events/{mine['id']}/related", headers=headers["citizen"])
    assert own.status_code == 200 and own.json()["readings"] == []
    admin = client.get(f"/api/v1/dashboard/events/{mine['id']}/related", headers=headers["admin"]).json()
    assert len(admin["readings"]) == 3  # the same event, read by a role that may


def test_a_registered_persons_meter_behind_an_event_is_listed_to_their_grid_worker_to_ask_for(
    client: TestClient, session: Session, devices: dict[str, Any]
) -> None:
    city, headers = devices["city"], devices["headers"]
    person = add_person_living_alone(session)
    meter = add_entity(session, "MT", "水表", at=EAST, device_type="water_meter")
    entities.relate(session, SYSTEM, meter.code, RelationIn(type="serves", target=person.code))
    _push(session, meter, "water_volume", devices["now"] - timedelta(minutes=5), 356.2)
    trigger = alerts.Trigger(
        source_kind=AlertSource.ANOMALY,
        source=f"test:{meter.code}",
        type="elderly.water_pattern",
        title="独居老人用水异常",
        level=WarningLevel.YELLOW,
        device=meter.code,
        metric="water_volume",
        areas={
            AreaLevel.DISTRICT: city.areas["370201"].id,
            AreaLevel.COMMUNITY: city.areas["370201001001"].id,
        },
    )
    alert = alerts.raise_alert(session, trigger).alert
    body = {"title": "独居老人用水异常", "location": {"lon": EAST[0], "lat": EAST[1]}}
    event = client.post("/api/v1/events", json=body, headers=headers["dispatcher"]).json()
    alerts.link_event(session, alert, event["id"], event["number"])
    session.commit()

    related = f"/api/v1/dashboard/events/{event['id']}/related"
    refs = client.get(related, headers=headers["grid_worker"]).json()["readings"]
    assert [(r["device"], r["metric"], r["personal"]) for r in refs] == [(meter.code, "water_volume", True)]
    # The reference and a purpose are what the purpose endpoint takes; the plain series refuses.
    params = {k: refs[0][k] for k in ("device", "metric", "since", "until", "resolution")}
    plain = client.get("/api/v1/telemetry/series", params=params, headers=headers["grid_worker"])
    assert plain.status_code == 403
    asked = client.post(
        "/api/v1/telemetry/series/personal",
        json={**params, "purpose": "关爱探视"},
        headers=headers["grid_worker"],
    )
    assert asked.status_code == 200 and [p["value"] for p in asked.json()["points"]] == [356.2]
    # Those who may not read the person's readings are not offered the series at all (not a 404 to meet).
    for who in ("admin", "dispatcher"):
        assert client.get(related, headers=headers[who]).json()["readings"] == [], who


def test_a_registered_persons_meter_is_on_the_layer_only_for_those_who_may_read_its_readings(
    client: TestClient, session: Session, devices: dict[str, Any]
) -> None:
    """A meter's health and last reading tell when the person it serves last cooked or washed: the layer
    shows it to the grid worker of their community, not to the operation centre or the administrator."""
    headers = devices["headers"]
    person = add_person_living_alone(session)
    meter = add_entity(session, "MT", "燃气表", at=EAST, device_type="gas_meter")
    entities.relate(session, SYSTEM, meter.code, RelationIn(type="serves", target=person.code))
    _push(session, meter, "gas_volume", devices["now"] - timedelta(minutes=5), 812.4)
    nobodys = add_entity(session, "MT", "燃气表 商户", at=EAST, device_type="gas_meter")
    _push(session, nobodys, "gas_volume", devices["now"] - timedelta(minutes=5), 100.0)
    session.commit()
    seen = _points(sensors(client, headers["grid_worker"]))
    assert {meter.code, nobodys.code} <= set(seen)
    assert seen[meter.code]["health"] == "online" and seen[meter.code]["last"] is not None
    for who in ("admin", "dispatcher", "east_dispatcher", "supervisor"):
        body = sensors(client, headers[who])
        points = _points(body)
        assert meter.code not in points and nobodys.code in points, who
        assert sum(body["by_health"].values()) == len(points), who  # not counted either
