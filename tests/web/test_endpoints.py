"""The dashboard's own endpoints: map payloads by zoom level, today's figures, relatives, configuration,
and the page fallback — on both databases, through the HTTP API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from cityhub.app import create_app
from cityhub.kit.settings import Mode, Settings
from cityhub.web import service, spa
from tests.factories import City, build_city, login

EAST, WEST = (120.305, 36.005), (120.325, 36.035)  # 东区第1街道, 西区第2街道 of the tiny city


@pytest.fixture
def city(session: Session) -> City:
    city = build_city(session)
    session.commit()
    return city


def report(client: TestClient, who: str, title: str, at: tuple[float, float], **extra: Any) -> dict[str, Any]:
    body = {"title": title, "location": {"lon": at[0], "lat": at[1]}, **extra}
    response = client.post("/api/v1/events", json=body, headers=login(client, who))
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


def get(client: TestClient, who: str, path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=login(client, who))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def three(client: TestClient, city: City) -> list[dict[str, Any]]:
    """Two reports in 东区 (one urgent) and one in 西区, all waiting for a dispatcher."""
    return [
        report(client, "dispatcher", "井盖缺失", EAST),
        report(client, "dispatcher", "道路塌陷", EAST, urgency="urgent"),
        report(client, "dispatcher", "施工噪声", WEST),
    ]


def test_the_city_map_counts_open_events_per_district(
    client: TestClient, three: list[dict[str, Any]]
) -> None:
    body = get(client, "dispatcher", "/api/v1/dashboard/map/370200")
    assert body["child_level"] == "district"
    areas = {a["name"]: a for a in body["areas"]}
    assert areas["东区"]["open"] == 2
    assert areas["东区"]["by_urgency"] == {"normal": 1, "urgent": 1}
    assert areas["东区"]["by_status"] == {"received": 2}
    assert areas["西区"]["open"] == 1
    assert body["events"]["mode"] == "points"
    layer = body["events"]
    rows = {row[layer["fields"].index("id")]: row for row in layer["rows"]}
    assert set(rows) == {e["id"] for e in three}
    urgent = rows[three[1]["id"]]
    assert layer["codes"]["urgency"][urgent[layer["fields"].index("urgency")]] == "urgent"
    assert layer["codes"]["status"][urgent[layer["fields"].index("status")]] == "received"
    # Reports from the app are complaints: all three are in the heat map.
    assert sum(row[2] for row in body["heat"]["rows"]) == 3


def test_drilling_down_goes_district_street_grid(client: TestClient, three: list[dict[str, Any]]) -> None:
    district = get(client, "dispatcher", "/api/v1/dashboard/map/370201")
    assert district["child_level"] == "street"
    assert [a["code"] for a in district["areas"]] == ["370201001", "370201002"]
    assert district["areas"][0]["open"] == 2
    assert [p["code"] for p in district["path"]] == ["370200", "370201"]
    street = get(client, "dispatcher", "/api/v1/dashboard/map/370201001")
    assert street["child_level"] == "grid"
    assert [(a["code"], a["open"]) for a in street["areas"]] == [("370201001001001", 2)]
    grids = get(client, "dispatcher", "/api/v1/dashboard/map/370201001/grids.geojson")
    assert [f["properties"]["code"] for f in grids["features"]] == ["370201001001001"]
    assert grids["features"][0]["geometry"]["type"] == "Polygon"


def test_the_map_shows_only_what_the_principal_may_read(
    client: TestClient, three: list[dict[str, Any]]
) -> None:
    east = get(client, "east_dispatcher", "/api/v1/dashboard/map/370200")
    assert {a["name"]: a["open"] for a in east["areas"]} == {"东区": 2, "西区": 0}
    assert east["events"]["total"] == 2
    handler = get(client, "police_handler", "/api/v1/dashboard/map/370200")
    assert handler["events"]["rows"] == [] and all(a["open"] == 0 for a in handler["areas"])
    assert handler["heat"]["rows"] == []


def test_many_events_are_sent_per_cell(
    client: TestClient, three: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_POINTS", 1)
    body = get(client, "dispatcher", "/api/v1/dashboard/map/370200")
    assert body["events"]["mode"] == "cells"
    count = body["events"]["fields"].index("count")
    assert sum(row[count] for row in body["events"]["rows"]) == 3
    assert len(body["events"]["rows"]) == 2  # the two 东区 reports share a cell


def test_summary_counts_today_and_the_review_queue(client: TestClient, three: list[dict[str, Any]]) -> None:
    body = get(client, "dispatcher", "/api/v1/dashboard/summary")
    assert (body["intake_today"], body["open"], body["review_queue"]) == (3, 3, 3)
    assert body["by_status"] == {"received": 3}
    assert body["by_channel_today"] == {"app": 3}
    west = get(client, "dispatcher", "/api/v1/dashboard/summary", area="370202")
    assert (west["intake_today"], west["area"]["name"]) == (1, "西区")
    assert get(client, "police_handler", "/api/v1/dashboard/summary")["open"] == 0


def test_unknown_areas_are_404(client: TestClient, city: City) -> None:
    headers = login(client, "dispatcher")
    for path in ("/api/v1/dashboard/map/999999", "/api/v1/dashboard/summary?area=999999"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/dashboard/map/370200").status_code == 401


def test_related_lists_merged_duplicates(client: TestClient, three: list[dict[str, Any]]) -> None:
    first, second = three[0], three[1]
    headers = login(client, "dispatcher")
    response = client.post(
        f"/api/v1/events/{second['id']}/merge", json={"into": first["id"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    into = get(client, "dispatcher", f"/api/v1/dashboard/events/{first['id']}/related")
    assert [d["number"] for d in into["duplicates"]] == [second["number"]]
    merged = get(client, "dispatcher", f"/api/v1/dashboard/events/{second['id']}/related")
    assert merged["merged_into"]["number"] == first["number"]
    assert merged["duplicates"] == []


def test_extension_requests_wait_for_a_decision(
    client: TestClient, city: City, three: list[dict[str, Any]]
) -> None:
    event = three[0]
    roads = city.departments["roads"].id
    dispatcher, handler = login(client, "dispatcher"), login(client, "roads_handler")
    steps = [
        (dispatcher, "dispatch", {"department": roads, "category": "城乡建设/市政设施/井盖缺失"}),
        (handler, "accept", {}),
        (handler, "extension", {"until": "2099-01-05T18:00:00+08:00", "reason": "需要更换井座"}),
    ]
    for headers, action, body in steps:
        response = client.post(f"/api/v1/events/{event['id']}/{action}", json=body, headers=headers)
        assert response.status_code == 200, response.text
    asking = get(client, "supervisor", "/api/v1/dashboard/extension-requests")
    assert [e["number"] for e in asking["items"]] == [event["number"]]
    assert "decide_extension" in asking["items"][0]["allowed_actions"]
    assert get(client, "env_handler", "/api/v1/dashboard/extension-requests")["total"] == 0


def test_config_is_public_and_names_the_optional_apis(client: TestClient, city: City) -> None:
    body = client.get("/api/v1/dashboard/config").json()
    assert body["city"] == {"code": "370200", "name": "测试市", "level": "city"}
    assert set(body["features"]) == {"alerts", "indicators", "hotspots", "sensors"}
    paths = client.get("/openapi.json").json()["paths"]
    assert body["features"]["alerts"] == ("/api/v1/alerts" in paths)
    assert body["features"]["indicators"] == ("/api/v1/indicators/summary" in paths)
    assert body["features"]["hotspots"] == ("/api/v1/hotspots" in paths)
    assert body["optional_paths"] == sorted(p for p in service.OPTIONAL_OPERATIONS if p in paths)
    assert body["demo_users"] == []  # only a demo hub lists its accounts


def test_a_demo_hub_lists_its_demo_accounts(
    tmp_path: Any, session_factory: sessionmaker[Session], city: City
) -> None:
    app = create_app(Settings(mode=Mode.DEMO, data_dir=tmp_path), session_factory, run_scheduler=False)
    with TestClient(app) as demo:
        users = {u["username"]: u["role"] for u in demo.get("/api/v1/dashboard/config").json()["demo_users"]}
    assert users["dispatcher"] == "dispatcher" and users["supervisor"] == "supervisor"
    assert "roads_handler" not in users  # not a demo account


def test_pages_fall_back_to_the_app_and_api_paths_stay_404(client: TestClient) -> None:
    page = client.get("/dispatch")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "cityhub" in page.text
    for method, path in (("GET", "/api/v1/nothing-here"), ("POST", "/api/v1/nothing-here"), ("DELETE", "/x")):
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.headers["content-type"].startswith("application/problem+json")
    for escape in ("/../../etc/passwd", "/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/assets/..%2F..%2F..%2Fapp.py"):
        assert "root:" not in client.get(escape).text and "create_app" not in client.get(escape).text


@pytest.mark.skipif(not (spa.STATIC_DIR / "index.html").is_file(), reason="the dashboard is not built")
def test_the_built_dashboard_is_served_with_cacheable_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.headers["cache-control"] == "no-cache"
    asset = next(part.split('"')[0] for part in page.text.split('src="')[1:] if part.startswith("/assets/"))
    response = client.get(asset)
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    # Compressed for a browser that takes gzip, as is for one that does not; the same bytes either way.
    built = (spa.STATIC_DIR / asset.lstrip("/")).read_bytes()
    assert response.headers["content-encoding"] == "gzip" and response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) < len(built) / 2 and response.content == built
    assert response.headers["content-type"].startswith("text/javascript")
    for accepts in ("identity", "gzip;q=0", "br"):
        plain = client.get(asset, headers={"Accept-Encoding": accepts})
        assert "content-encoding" not in plain.headers and plain.content == built, accepts
    assert client.get("/assets/no-such-file.js").status_code == 404
