"""Address text → areas with the city's own names; the point wins, the address fills gaps."""

from __future__ import annotations

import jieba
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.dispatch import gazetteer
from cityhub.geo import service as geo
from cityhub.geo.generate import AreaRecord
from cityhub.models.area import Area, AreaLevel
from cityhub.models.dispatch import PlaceKind
from tests.factories import build_city, login, square

# Two districts side by side, two streets in 市南 (the western half of the district is not covered by a
# street, so a point there has no street), one in 市北; 杭州路 exists in both districts.
S = 0.01


def qingdao_like() -> list[AreaRecord]:
    return [
        square("370290", "青岛测试市", "city", None, 120.50, 36.00, 8 * S),
        square("370292", "市南区", "district", "370290", 120.50, 36.00, 4 * S),
        square("370292001", "香港中路街道", "street", "370292", 120.52, 36.00, 2 * S),
        square("370292002", "八大关街道", "street", "370292", 120.52, 36.02, 2 * S),
        square("370293", "市北区", "district", "370290", 120.54, 36.00, 4 * S),
        square("370293001", "登州路街道", "street", "370293", 120.54, 36.00, 4 * S),
    ]


def build(session: Session) -> dict[str, Area]:
    geo.import_records(session, qingdao_like())
    gazetteer.add_places(
        session,
        [
            gazetteer.PlaceIn("香港中路", PlaceKind.ROAD, "370292"),
            gazetteer.PlaceIn("五四广场", PlaceKind.LANDMARK, "370292001", lon=120.53, lat=36.01),
            gazetteer.PlaceIn("杭州路", PlaceKind.ROAD, "370292"),
            gazetteer.PlaceIn("杭州路", PlaceKind.ROAD, "370293"),
            gazetteer.PlaceIn("登州路", PlaceKind.ROAD, "370293", aliases=("登州路啤酒街",)),
        ],
    )
    return {a.code: a for a in session.query(Area).where(Area.code.like("37029%"))}


def names(session: Session, areas: dict[AreaLevel, int]) -> dict[str, str]:
    return {str(level): session.get(Area, area_id).name for level, area_id in areas.items()}  # type: ignore[union-attr]


def test_out_of_the_box_jieba_cuts_local_words_wrongly_and_the_city_dictionary_fixes_it(
    session: Session,
) -> None:
    build(session)
    text = "香港中路燃气管道漏气"
    plain = list(jieba.Tokenizer().cut(text, HMM=False))
    assert "香港中路" not in plain and "燃气管道" not in plain
    assert {"香港", "中路", "燃气管"} <= set(plain)
    assert gazetteer.cut(session, text)[:2] == ["香港中路", "燃气管道"]
    assert {"香港中路", "燃气管道", "市南区", "市南", "香港中路街道"} <= set(gazetteer.local_words(session))


def test_addresses_are_read_with_full_and_short_area_names(session: Session) -> None:
    build(session)
    assert names(session, gazetteer.resolve(session, "青岛市市南区八大关街道").areas) == {
        "district": "市南区",
        "street": "八大关街道",
    }
    # 市南 for 市南区 and 香港中路 for 香港中路街道, as people write them.
    match = gazetteer.resolve(session, "市南香港中路100号")
    assert names(session, match.areas) == {"district": "市南区", "street": "香港中路街道"}
    assert [p.name for p in match.places] == ["香港中路"]
    assert gazetteer.resolve(session, "城市南部的一条路").areas == {}  # 市南 inside 城市南部 is not 市南


def test_a_name_of_two_districts_is_settled_by_the_rest_of_the_address_or_left_open(session: Session) -> None:
    areas = build(session)
    north = gazetteer.resolve(session, "市北杭州路5号")
    assert north.areas == {AreaLevel.DISTRICT: areas["370293"].id}
    assert [p.area_id for p in north.places] == [areas["370293"].id]
    unsure = gazetteer.resolve(session, "杭州路5号")
    assert unsure.areas == {} and unsure.ambiguous == ("杭州路",)
    placed = gazetteer.place(session, None, "杭州路5号")
    assert placed.notes and "杭州路" in placed.notes[0]
    # A landmark with a point lends it to an address-only report; an alias names the same place.
    assert gazetteer.resolve(session, "五四广场东侧").located().lon == 120.53
    alias = gazetteer.resolve(session, "登州路啤酒街")
    assert names(session, alias.areas) == {"district": "市北区"} and [p.name for p in alias.places] == [
        "登州路"
    ]


def test_the_point_wins_the_address_fills_gaps_and_a_disagreement_is_noted(session: Session) -> None:
    build(session)
    # In 市南区 where no street polygon lies: the address gives the street.
    west = geo.locate(session, 120.505, 36.005)
    placed = gazetteer.place(session, west, "市南区八大关街道")
    assert names(session, placed.located.areas) == {
        "city": "青岛测试市",
        "district": "市南区",
        "street": "八大关街道",
    }
    assert placed.source == "point+address" and placed.notes == ()
    # The point lies in 市南区 香港中路街道; the address says 市北区: the point wins, the dispatcher is told.
    south = geo.locate(session, 120.525, 36.005)
    placed = gazetteer.place(session, south, "市北区登州路8号")
    assert names(session, placed.located.areas)["district"] == "市南区"
    assert placed.source == "point" and "市北区" in placed.notes[0] and "市南区" in placed.notes[0]


def test_intake_locates_by_address_and_shows_the_dispatcher_how(client: TestClient, session: Session) -> None:
    build_city(session)
    build(session)
    headers = login(client, "dispatcher")
    by_address = client.post(
        "/api/v1/events", json={"title": "路灯不亮", "address": "市北区登州路8号"}, headers=headers
    ).json()
    assert by_address["areas"]["district"]["name"] == "市北区"
    assert by_address["areas"]["street"]["name"] == "登州路街道"
    assert by_address["suggestion"]["location"] == {"source": "address", "places": ["登州路"], "notes": []}
    both = client.post(
        "/api/v1/events",
        json={"title": "井盖缺失", "address": "市北区登州路", "location": {"lon": 120.525, "lat": 36.005}},
        headers=headers,
    ).json()
    assert both["areas"]["district"]["name"] == "市南区"
    assert "市北区" in both["suggestion"]["location"]["notes"][0]


def test_places_are_managed_by_csv_and_api_and_bad_rows_are_4xx(client: TestClient, session: Session) -> None:
    build_city(session)
    build(session)
    admin, dispatcher = login(client, "admin"), login(client, "dispatcher")
    csv_text = "name,kind,area_code,lon,lat,crs,aliases\n台东步行街,landmark,370293001,,,,台东|台东商圈\n"
    imported = client.post(
        "/api/v1/gazetteer/places/import",
        files={"file": ("places.csv", csv_text.encode(), "text/csv")},
        headers=admin,
    )
    assert imported.status_code == 200 and imported.json() == {"saved": 1}
    resolved = client.get("/api/v1/gazetteer/resolve", params={"address": "台东商圈北门"}, headers=dispatcher)
    assert resolved.json()["areas"]["street"]["name"] == "登州路街道"
    assert resolved.json()["places"] == ["台东步行街"]
    bad = "name,kind,area_code\n某路,road,999999\n"
    response = client.post(
        "/api/v1/gazetteer/places/import", files={"file": ("p.csv", bad.encode(), "text/csv")}, headers=admin
    )
    assert response.status_code == 400 and "999999" in response.json()["detail"]
    assert (
        client.post(
            "/api/v1/gazetteer/places", json={"name": "某路", "area": "370292"}, headers=dispatcher
        ).status_code
        == 403
    )
    added = client.post(
        "/api/v1/gazetteer/places", json={"name": "南京路", "area": "370292", "kind": "road"}, headers=admin
    )
    assert added.status_code == 201
    listed = client.get("/api/v1/gazetteer/places", params={"q": "南京"}, headers=dispatcher).json()
    assert [p["name"] for p in listed] == ["南京路"]
    assert client.delete(f"/api/v1/gazetteer/places/{added.json()['id']}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/gazetteer/places/{added.json()['id']}", headers=admin).status_code == 404
