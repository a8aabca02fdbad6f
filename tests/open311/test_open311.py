"""Open311 GeoReport v2: plain HTTP to file requests, the georeport package as an outside client to read."""

from __future__ import annotations

import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from georeport import GeoReport
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access.tokens import create_api_token
from cityhub.app import create_app
from cityhub.dispatch import routing
from cityhub.events import categories
from cityhub.events import service as events
from cityhub.events.schemas import EventIn, LocationIn, ReporterIn
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.models.event import Attachment, Channel, Event
from cityhub.org.service import principal_for
from tests.factories import City, build_city

BASE = "/open311/v2"
ROAD = "城乡建设/市政设施/道路破损"
MANHOLE = "城乡建设/市政设施/井盖缺失"
NOISE = "环境保护/噪声污染/施工噪声"
EAST_POINT = {"lat": "36.005", "long": "120.305"}  # 东区第1街道
WEST_POINT = {"lat": "36.015", "long": "120.335"}  # 西区第1街道
NUMBER = re.compile(r"^\d{8}-\d{6}$")


@pytest.fixture
def city(session: Session) -> City:
    city = build_city(session)
    road = categories.find(session, ROAD)
    routing.add_rule(session, category_id=road.id, lead_department_id=city.departments["roads"].id)
    session.flush()
    return city


@pytest.fixture
def api_key(session: Session, city: City) -> str:
    _, secret = create_api_token(session, city.users["citizen"], "citizen app")
    session.flush()
    return secret


def code(session: Session, path: str) -> str:
    return categories.find(session, path).code


def post(client: TestClient, fmt: str = "json", **fields: str) -> Any:
    return client.post(f"{BASE}/requests.{fmt}", data=fields)


def event_by_number(session: Session, number: str) -> Event:
    event = session.scalar(select(Event).where(Event.number == number))
    assert event is not None
    return event


def event_count(session: Session) -> int:
    return int(session.scalar(select(func.count(Event.id))) or 0)


def assert_error(response: Any, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body == [{"code": status, "description": body[0]["description"]}]
    assert fragment in body[0]["description"]


def xml(response: Any) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)


# ---------------------------------------------------------------- services


def test_services_are_the_category_leaves(client: TestClient, session: Session, city: City) -> None:
    response = client.get(f"{BASE}/services.json", params={"jurisdiction_id": "370200"})
    assert response.status_code == 200
    services = {s["service_code"]: s for s in response.json()}
    assert set(services) == {code(session, p) for p in (ROAD, MANHOLE, NOISE)}
    assert services[code(session, ROAD)] == {
        "service_code": code(session, ROAD),
        "service_name": "道路破损",
        "description": ROAD,
        "metadata": False,
        "type": "realtime",
        "keywords": "城乡建设, 市政设施, 道路破损",
        "group": "城乡建设",
    }
    root = xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    noise = next(s for s in root.iter("service") if s.findtext("service_code") == code(session, NOISE))
    assert (noise.findtext("group"), noise.findtext("metadata"), noise.findtext("type")) == (
        "环境保护",
        "false",
        "realtime",
    )

    assert_error(client.get(f"{BASE}/services.json", params={"jurisdiction_id": "110000"}), 404, "370200")


def test_service_definition_has_no_attributes(client: TestClient, session: Session, city: City) -> None:
    road = code(session, ROAD)
    response = client.get(f"{BASE}/services/{road}.json")
    assert response.status_code == 200
    assert response.json() == {"service_code": road, "attributes": []}
    root = xml(client.get(f"{BASE}/services/{road}.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == road
    attributes = root.find("attributes")
    assert attributes is not None and len(attributes) == 0

    assert_error(client.get(f"{BASE}/services/99.99.99.json"), 404, "99.99.99")
    group = code(session, "城乡建设")
    assert_error(client.get(f"{BASE}/services/{group}.json"), 404, group)


# ---------------------------------------------------------------- POST requests


def test_post_files_an_event_in_the_right_district(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    response = post(
        client,
        api_key=api_key,
        jurisdiction_id="370200",
        service_code=code(session, ROAD),
        description="人行道地砖松动\n有老人差点摔倒",
        first_name="娜娜",
        last_name="欧阳",
        phone="13987654321",
        email="nana@example.org",
        media_url="https://photos.example.org/a/b/road.jpg",
        device_id="ios-1",
        **WEST_POINT,
    )
    assert response.status_code == 201, response.text
    [created] = response.json()
    number = created["service_request_id"]
    assert isinstance(number, str) and NUMBER.match(number)
    assert created["token"] == number and created["account_id"] is None
    assert number in created["service_notice"]

    event = event_by_number(session, number)
    assert event.channel == Channel.OPEN311
    assert event.category_id == categories.find(session, ROAD).id
    assert (event.district_id, event.street_id) == (city.areas["370202"].id, city.areas["370202001"].id)
    assert (event.lat, event.lon, event.input_crs) == (36.015, 120.335, "wgs84")
    assert event.title == "道路破损：人行道地砖松动"
    assert (event.reporter_name, event.reporter_phone, event.anonymous) == ("欧阳娜娜", "13987654321", False)
    assert event.created_by_id == city.users["citizen"].id
    assert event.lead_department_id == city.departments["roads"].id  # the routing rule dispatched it
    photo = session.scalar(select(Attachment).where(Attachment.event_id == event.id))
    assert photo is not None and (photo.url, photo.content_type) == (
        "https://photos.example.org/a/b/road.jpg",
        "image/jpeg",
    )


def test_post_in_xml(client: TestClient, session: Session, city: City, api_key: str) -> None:
    response = post(client, "xml", api_key=api_key, service_code=code(session, NOISE), **EAST_POINT)
    assert response.status_code == 201, response.text
    root = xml(response)
    assert root.tag == "service_requests"
    [request] = list(root)
    assert request.tag == "request"
    number = request.findtext("service_request_id")
    assert number is not None and NUMBER.match(number)
    assert request.findtext("account_id") == ""
    event = event_by_number(session, number)
    assert event.district_id == city.areas["370201"].id
    assert event.anonymous  # no name and no phone


def test_post_by_address(client: TestClient, session: Session, city: City, api_key: str) -> None:
    by_text = post(
        client, api_key=api_key, service_code=code(session, ROAD), address_string="东区第2街道 海门路18号"
    )
    assert by_text.status_code == 201, by_text.text
    event = event_by_number(session, by_text.json()[0]["service_request_id"])
    assert (event.district_id, event.street_id) == (city.areas["370201"].id, city.areas["370201002"].id)
    assert event.lat is None

    by_area = post(client, api_key=api_key, service_code=code(session, ROAD), address_id="370202001001")
    assert by_area.status_code == 201, by_area.text
    event = event_by_number(session, by_area.json()[0]["service_request_id"])
    assert (event.district_id, event.street_id, event.community_id) == (
        city.areas["370202"].id,
        city.areas["370202001"].id,
        city.areas["370202001001"].id,
    )


def test_post_needs_a_valid_api_key(client: TestClient, session: Session, city: City) -> None:
    fields = {"service_code": code(session, ROAD), **EAST_POINT}
    assert_error(post(client, **fields), 403, "api_key is required")
    assert_error(post(client, api_key="chk_not-a-real-token", **fields), 403, "not valid")
    assert_error(post(client, api_key="Bearer something", **fields), 403, "not valid")
    _, steward_key = create_api_token(session, city.users["steward"], "catalog robot")
    session.flush()
    assert_error(post(client, api_key=steward_key, **fields), 403, "may not")

    root = xml(post(client, "xml", **fields))
    assert root.tag == "errors"
    assert [(e.findtext("code"), bool(e.findtext("description"))) for e in root] == [("403", True)]
    assert event_count(session) == 0


@pytest.mark.parametrize(
    ("fields", "status", "fragment"),
    [
        ({"service_code": "99.99.99"}, 400, "unknown service_code"),
        ({"service_code": ""}, 400, "service_code is required"),
        ({"service_code": "@group"}, 400, "unknown service_code"),
        ({"lat": "", "long": ""}, 400, "a location is required"),
        ({"long": ""}, 400, "both lat and long"),
        ({"lat": "north"}, 400, "decimal degrees"),
        ({"lat": "95"}, 400, "-90…90"),
        ({"long": "nan"}, 400, "-180…180"),
        ({"phone": "call me"}, 400, "phone"),
        ({"media_url": "ftp://example.org/x.jpg"}, 400, "media_url"),
        ({"description": "坑" * 4001}, 400, "at most 4000"),
        ({"description": "bad\x00byte"}, 400, "control characters"),
        ({"address_id": "999999", "lat": "", "long": ""}, 400, "unknown address_id"),
        ({"jurisdiction_id": "110000"}, 404, "unknown jurisdiction_id"),
    ],
)
def test_post_rejects_bad_input(
    client: TestClient,
    session: Session,
    city: City,
    api_key: str,
    fields: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    if fields.get("service_code") == "@group":
        fields = {**fields, "service_code": code(session, "城乡建设/市政设施")}
    form = {"api_key": api_key, "service_code": code(session, ROAD), **EAST_POINT, **fields}
    assert_error(post(client, **{k: v for k, v in form.items() if v != ""}), status, fragment)
    assert event_count(session) == 0


# ---------------------------------------------------------------- GET requests


def report(session: Session, city: City, path: str, **over: Any) -> Event:
    """An event filed in the hub itself (e.g. the 12345 hotline), reporter details included."""
    data = EventIn(
        title="市民来电",
        description=over.pop("description", "路面坑洼"),
        channel=Channel.HOTLINE,
        category=path,
        location=LocationIn(lon=120.305, lat=36.005),
        reporter=ReporterIn(name="司马相如", phone="13700001111"),
        **over,
    )
    principal = principal_for(session, city.users["dispatcher"])
    event = events.create(session, principal, data, events.DispatchPolicy())
    session.flush()
    return event


def numbers(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


def test_requests_are_filtered_by_id_service_status_and_time(
    client: TestClient, session: Session, city: City
) -> None:
    clock.freeze(datetime.now(UTC) - timedelta(days=120))
    old = report(session, city, ROAD)
    clock.unfreeze()
    road = report(session, city, ROAD)
    noise = report(session, city, NOISE)
    cancelled = report(session, city, MANHOLE)
    dispatcher = principal_for(session, city.users["dispatcher"])
    events.cancel(session, dispatcher, cancelled.id, "重复测试数据")
    events.merge(session, dispatcher, noise.id, road.id, "同一处")
    session.flush()

    assert numbers(client.get(f"{BASE}/requests.json")) == [noise.number, road.number]
    # A merged request is as open as the one it was merged into (一事多诉: one problem, one status).
    assert numbers(client.get(f"{BASE}/requests.json", params={"status": "open"})) == [
        noise.number,
        road.number,
    ]
    assert numbers(client.get(f"{BASE}/requests.json", params={"status": "closed"})) == []
    assert numbers(client.get(f"{BASE}/requests.json", params={"status": "open,closed"})) == [
        noise.number,
        road.number,
    ]
    noise_code = code(session, NOISE)
    assert numbers(client.get(f"{BASE}/requests.json", params={"service_code": noise_code})) == [noise.number]
    ids = f"{old.number},{cancelled.number}, {road.number}"
    assert numbers(client.get(f"{BASE}/requests.json", params={"service_request_id": ids})) == [
        road.number,
        old.number,
    ]
    since = (datetime.now(UTC) - timedelta(days=200)).isoformat()
    until = (datetime.now(UTC) - timedelta(days=100)).isoformat()
    assert numbers(client.get(f"{BASE}/requests.json", params={"start_date": since, "end_date": until})) == [
        old.number
    ]
    assert numbers(client.get(f"{BASE}/requests.json", params={"end_date": until})) == [old.number]
    # A '+' the client did not encode arrives as a space; it is read as the offset it was.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).astimezone().strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert numbers(client.get(f"{BASE}/requests.json?start_date={tomorrow}")) == []

    [merged] = client.get(f"{BASE}/requests/{noise.number}.json").json()
    assert merged["status"] == "open" and road.number in merged["status_notes"]
    assert_error(client.get(f"{BASE}/requests/{cancelled.number}.json"), 404, cancelled.number)
    assert_error(client.get(f"{BASE}/tokens/{cancelled.number}.json"), 404, cancelled.number)
    assert client.get(f"{BASE}/tokens/{road.number}.json").json() == [
        {"service_request_id": road.number, "token": road.number}
    ]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"start_date": "yesterday"}, "start_date must be a W3C date-time"),
        ({"end_date": "2026-13-01"}, "end_date must be a W3C date-time"),
        ({"start_date": "2026-11-02T00:00:00Z", "end_date": "2026-11-01"}, "must not be after"),
        ({"start_date": "0001-01-01"}, "between the years"),
        ({"status": "pending"}, "status must be open or closed"),
        ({"status": "open,done"}, "done"),
        ({"service_code": "99.99"}, "unknown service_code 99.99"),
        ({"service_code": ",".join(["01"] * 201)}, "at most 200 service_code values"),
        ({"service_request_id": "20261121-000001\x00"}, "control characters"),
    ],
)
def test_bad_filters_are_400(client: TestClient, city: City, query: dict[str, str], fragment: str) -> None:
    assert_error(client.get(f"{BASE}/requests.json", params=query), 400, fragment)
    root = xml(client.get(f"{BASE}/requests.xml", params=query))
    assert root.tag == "errors" and root.findtext("error/code") == "400"


def test_unknown_formats_and_paths_are_404(client: TestClient, city: City) -> None:
    for path in (
        "services.csv",
        "services",
        "requests.JSON",
        "requests/20261121-000001.json",
        "nothing.json",
    ):
        response = client.get(f"{BASE}/{path}")
        assert response.status_code == 404, path
        assert response.json()[0]["code"] == 404, path
    for path in ("requests/nope%00.json", "services/01%00.json", "tokens/%00.json"):
        assert_error(client.get(f"{BASE}/{path}"), 404, "no ")
    root = xml(client.get(f"{BASE}/requests/nope.xml"))
    assert root.tag == "errors" and root.findtext("error/code") == "404"


def test_reporter_identity_never_appears(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    personal = ["欧阳", "娜娜", "13987654321", "139****4321", "司马", "13700001111", "137****1111", "citizen"]
    personal += ["nana@example.org"]
    filed = post(
        client,
        api_key=api_key,
        service_code=code(session, ROAD),
        first_name="娜娜",
        last_name="欧阳",
        phone="13987654321",
        email="nana@example.org",
        **EAST_POINT,
    )
    road = code(session, ROAD)
    filed_xml = post(
        client, "xml", api_key=api_key, service_code=road, last_name="欧阳", phone="13987654321", **EAST_POINT
    )
    number = filed.json()[0]["service_request_id"]
    hotline = report(session, city, NOISE)
    assert event_by_number(session, number).reporter_name == "欧阳娜娜"
    bodies = [filed.text, filed_xml.text]
    for fmt in ("json", "xml"):
        for path in ("requests", f"requests/{number}", f"requests/{hotline.number}", f"tokens/{number}"):
            response = client.get(f"{BASE}/{path}.{fmt}")
            assert response.status_code == 200, response.text
            bodies.append(response.text)
    assert number in bodies[2] and hotline.number in bodies[2]
    for body in bodies:
        for secret in personal:
            assert secret not in body


# ---------------------------------------------------------------- an outside client


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app in a real uvicorn server on a free loopback port, in a thread; stopped and joined after."""
    threads_before = set(threading.enumerate())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="open311-test-server")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{BASE}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive(), "the test server did not stop"
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - threads_before, "threads outlived the test server"


def test_georeport_client_reads_services_and_requests(
    settings: Settings,
    session_factory: sessionmaker[Session],
    session: Session,
    city: City,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import requests  # georeport's own HTTP client

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    road_code = code(session, ROAD)
    app = create_app(settings, session_factory, run_scheduler=False)
    with serving(app) as base:
        filed = requests.post(
            f"{base}/requests.json",
            data={
                "api_key": api_key,
                "service_code": road_code,
                "description": "井盖旁路面下沉",
                **WEST_POINT,
            },
            timeout=10,
        )
        assert filed.status_code == 201, filed.text
        number = filed.json()[0]["service_request_id"]
        handled = report(session, city, NOISE, description="夜间施工")
        roads = principal_for(session, city.users["env_handler"])
        dispatcher = principal_for(session, city.users["dispatcher"])
        events.dispatch(
            session, dispatcher, handled.id, events.DispatchPolicy(), department_id=city.departments["env"].id
        )
        events.accept(session, roads, handled.id)
        events.resolve(session, roads, handled.id, "已责令停工并处罚款")
        session.flush()

        client = GeoReport(base, jurisdiction="370200")
        services = client.get_service_list()
        assert {s["service_name"] for s in services} == {"道路破损", "井盖缺失", "施工噪声"}
        assert client.get_service_definition(road_code) == {"service_code": road_code, "attributes": []}

        listed = client.get_service_requests()
        assert [r["service_request_id"] for r in listed] == [handled.number, number]
        assert [r["service_request_id"] for r in client.get_service_requests(status="closed")] == [
            handled.number
        ]

        mine = client.get_service_request(number)
        assert mine["status"] == "open"
        assert (mine["service_code"], mine["service_name"]) == (road_code, "道路破损")
        assert mine["description"] == "井盖旁路面下沉"
        assert mine["agency_responsible"] == "市政公用局"
        assert (mine["lat"], mine["long"]) == (36.015, 120.335)
        assert mine["address_id"] == "370202001001001"
        assert mine["requested_datetime"].endswith("+08:00")
        assert "reporter" not in str(mine)

        done = client.get_service_request(handled.number)
        assert done["status"] == "closed"
        assert done["status_notes"] == "已办结：已责令停工并处罚款"
        assert done["agency_responsible"] == "生态环境局"

        in_xml = GeoReport(base, jurisdiction="370200", output_format="xml")
        assert in_xml.get_service_request(number)["service_request_id"] == number
        assert in_xml.get_service_request(number)["lat"] == "36.015"
        assert [s["service_code"] for s in in_xml.get_service_list()] == [s["service_code"] for s in services]
        assert len(in_xml.get_service_requests()) == 2

        with pytest.raises(requests.HTTPError) as refused:
            GeoReport(base, jurisdiction="110000").get_service_list()
        answer = refused.value.response
        assert answer is not None and answer.status_code == 404
        assert answer.json()[0]["code"] == 404


# ---------------------------------------------------------------- protocol errors


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length): the size is known only once it has been read."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_body_over_the_limit_is_413_in_the_spec_format(
    client: TestClient, session: Session, city: City, api_key: str
) -> None:
    form = f"api_key={api_key}&service_code={code(session, ROAD)}&description=".encode() + b"x" * 1_200_000
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for fmt in ("json", "xml"):
        url = f"{BASE}/requests.{fmt}"
        streamed = client.post(url, content=chunks(form), headers=headers)
        declared = client.post(url, content=form, headers=headers)
        for response in (streamed, declared):
            if fmt == "json":
                assert_error(response, 413, "exceeds")
            else:
                assert response.status_code == 413
                assert xml(response).findtext("error/code") == "413"
    assert event_count(session) == 0


def test_a_method_the_path_does_not_take_is_405_in_the_spec_format(client: TestClient, city: City) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = client.request(method, f"{BASE}/requests.json")
        assert_error(response, 405, method)
        assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}
    services = client.post(f"{BASE}/services.json")
    assert_error(services, 405, "POST")
    assert services.headers["allow"] == "GET"
    root = xml(client.delete(f"{BASE}/requests/20261121-000001.xml"))
    assert root.findtext("error/code") == "405"
    assert_error(client.delete(f"{BASE}/nothing.json"), 404, "no such resource")
