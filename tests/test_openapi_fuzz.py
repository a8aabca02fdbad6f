"""Schemathesis against the OpenAPI schema, authenticated as an administrator: no operation may 5xx,
and every error is problem+json. A bounded number of examples per operation keeps it to a minute."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy.orm import Session, sessionmaker

from cityhub.app import create_app
from cityhub.dispatch import routing
from cityhub.events import categories
from cityhub.kit.settings import Mode, Settings
from tests.factories import build_city, login

EXAMPLES_PER_OPERATION = 25

# The schema only; requests go to an app bound to the test's database below.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(Settings(mode=Mode.TEST, database_url="sqlite://"), run_scheduler=False),
)


@pytest.fixture
def fuzz_client(
    settings: Settings, session_factory: sessionmaker[Session], session: Session
) -> Iterator[TestClient]:
    city = build_city(session)
    routing.add_rule(
        session,
        category_id=categories.find(session, "城乡建设/市政设施/道路破损").id,
        lead_department_id=city.departments["roads"].id,
    )
    session.flush()
    app = create_app(settings, session_factory, run_scheduler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(login(client, "admin"))
        yield client


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_operation_answers_5xx(case: schemathesis.Case, fuzz_client: TestClient) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    kwargs.pop("cookies", None)  # the API uses no cookies; httpx deprecates per-request cookies
    if not case.headers:
        kwargs.pop("headers", None)  # keep the client's Authorization header
    if isinstance(kwargs.get("data"), (bytes, str)):
        kwargs["content"] = kwargs.pop("data")
    response = fuzz_client.request(**kwargs)
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, f"{where} → {response.status_code}: {response.text[:500]}"
    # Open311 answers errors in its own spec format; everything else in problem+json.
    if response.status_code >= 400 and not case.path.startswith("/open311"):
        content_type = response.headers.get("content-type", "")
        assert content_type.startswith("application/problem+json"), f"{where} → {content_type}"
