"""CSV uploads: a line the csv module cannot read is a 400 that names it, in every import of the hub."""

from __future__ import annotations

import csv
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.kit import csvtext
from cityhub.kit.errors import BadRequest
from tests.catalog.helpers import PERMITS, add_stewards, register
from tests.factories import build_city, login

LONG = "9" * 200_000  # over the csv module's field limit (128 KiB)


@pytest.fixture(autouse=True)
def default_field_limit() -> Iterator[None]:
    """The csv module's limit is the process's: these tests read with its default, whatever ran before."""
    before = csv.field_size_limit(128 * 1024)
    yield
    csv.field_size_limit(before)


def test_rows_and_records_skip_the_bom_and_name_the_line_they_cannot_read() -> None:
    assert list(csvtext.rows("\ufeffa,b\n1,2\n")) == [["a", "b"], ["1", "2"]]
    records = csvtext.records('\ufeffa,b\n1,"two\nlines"\n')
    assert records.fieldnames == ["a", "b"] and list(records) == [{"a": "1", "b": "two\nlines"}]
    with pytest.raises(BadRequest, match=r"line 3: .*field larger than field limit"):
        list(csvtext.rows(f"a,b\n1,2\n{LONG},x\n"))
    with pytest.raises(BadRequest, match="line 1: "):
        csvtext.records(f"{LONG},b\n1,2\n")
    with pytest.raises(BadRequest, match="line 2: "):
        list(csvtext.records(f"a,b\n{LONG},x\n"))


def test_every_csv_upload_answers_400_naming_the_line_of_an_over_long_cell(
    client: TestClient, session: Session
) -> None:
    city = build_city(session)
    add_stewards(session, city)
    register(session, PERMITS)
    admin, steward = login(client, "admin"), login(client, "roads_steward")
    uploads = (
        ("POST", "/api/v1/categories/import", f"code,name\n{LONG},x\n", admin),
        ("POST", "/api/v1/entities/import", f"code,name\n{LONG},x\n", admin),
        ("POST", "/api/v1/gazetteer/places/import", f"name,kind,area_code\n{LONG},x,370201\n", admin),
        (
            "PUT",
            "/api/v1/catalog/resources/ROADS-PERMITS/sample",
            f"permit_no,applicant\n{LONG},x\n",
            steward,
        ),
    )
    for method, url, text, headers in uploads:
        files = {"file": ("l.csv", text.encode(), "text/csv")}
        response = client.request(method, url, files=files, headers=headers)
        assert response.status_code == 400, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "line 2" in response.json()["detail"], url
