"""Time series: window queries, rollups raw → 1 min → 1 h (late data included), retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.models.telemetry import DeadLetter, DeadLetterStatus, Reading, Resolution, Rollup
from cityhub.telemetry import ingest, repository, rollup
from cityhub.telemetry.service import ingest_batch
from tests.entities.helpers import add_device
from tests.factories import build_city, login
from tests.telemetry.helpers import iso, reading

NOW = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
LIMITS = ingest.Limits(max_future=timedelta(minutes=5), max_age=timedelta(days=30))


def _push(session: Session, code: str, metric: str, points: list[tuple[datetime, float]]) -> ingest.Outcome:
    items = [reading(code, metric, v, t) for t, v in points]
    return ingest_batch(session, SYSTEM, items, channel=ingest.Channel.REPLAY, limits=LIMITS)


def test_rollups_minutes_hours_late_data_and_the_series_api(client: TestClient, session: Session) -> None:
    build_city(session)
    admin = login(client, "admin")  # on the real clock: the token must still be valid on it
    clock.freeze(NOW)
    code = add_device(session, "water_level").code
    t0 = datetime(2026, 11, 21, 8, 59, 0, tzinfo=UTC)
    # 08:59:00, :20, :40 and 09:00:00, :30 — two minutes in two different hours.
    points = [(t0, 1.0), (t0 + timedelta(seconds=20), 3.0), (t0 + timedelta(seconds=40), 2.0)]
    points += [(t0 + timedelta(seconds=60), 5.0), (t0 + timedelta(seconds=90), 4.0)]
    assert _push(session, code, "water_level", points).accepted == 5
    assert rollup.rollup(session, now=NOW, raw_retention=timedelta(days=30)) == rollup.RollupReport(2, 2)
    params = {
        "device": code,
        "metric": "water_level",
        "since": iso(t0 - timedelta(hours=1)),
        "until": iso(NOW),
    }
    minutes = client.get(
        "/api/v1/telemetry/series", params={**params, "resolution": "1m"}, headers=admin
    ).json()
    assert [(p["min"], p["max"], p["avg"], p["count"], p["last"]) for p in minutes["points"]] == [
        (1.0, 3.0, 2.0, 3, 2.0),
        (4.0, 5.0, 4.5, 2, 4.0),
    ]
    # A late reading for 08:59 marks the minute dirty again; the next run recomputes it and its hour.
    assert _push(session, code, "water_level", [(t0 + timedelta(seconds=50), 9.0)]).accepted == 1
    assert rollup.rollup(session, now=NOW, raw_retention=timedelta(days=30)).minutes == 1
    hours = client.get(
        "/api/v1/telemetry/series", params={**params, "resolution": "1h"}, headers=admin
    ).json()
    assert [(p["ts"][:13], p["max"], p["count"], p["last"]) for p in hours["points"]] == [
        ("2026-11-21T08", 9.0, 4, 9.0),
        ("2026-11-21T09", 5.0, 2, 4.0),
    ]
    raw = client.get("/api/v1/telemetry/series", params={**params, "limit": 3}, headers=admin).json()
    assert [p["value"] for p in raw["points"]] == [1.0, 3.0, 2.0] and raw["truncated"]
    wrong = client.get("/api/v1/telemetry/series", params={**params, "metric": "pm25"}, headers=admin)
    assert wrong.status_code == 422 and "water_level" in wrong.json()["detail"]
    naive = client.get(
        "/api/v1/telemetry/series", params={**params, "since": "2026-11-21T08:00:00"}, headers=admin
    )
    assert naive.status_code == 422


def test_retention_keeps_hours_forever(session: Session) -> None:
    clock.freeze(NOW)
    build_city(session)
    code = add_device(session, "noise").code
    old = NOW - timedelta(days=20)
    limits = ingest.Limits(max_future=timedelta(minutes=5), max_age=timedelta(days=30))
    items = [reading(code, "noise", 50 + i, old + timedelta(minutes=i)) for i in range(3)]
    items.append(reading(code, "noise", 60, NOW - timedelta(minutes=1)))
    ingest_batch(session, SYSTEM, items, channel=ingest.Channel.REPLAY, limits=limits)
    rollup.rollup(session, now=NOW, raw_retention=timedelta(days=30))
    kept = rollup.retention(session, now=NOW, raw_days=10, minute_days=15, dead_letter_days=30)
    assert kept == rollup.RetentionReport(raw_deleted=3, minutes_deleted=3, dead_letters_deleted=0)
    assert session.scalar(select(func.count()).select_from(Reading)) == 1
    by_resolution = dict(
        session.execute(select(Rollup.resolution, func.count()).group_by(Rollup.resolution)).all()  # type: ignore[arg-type]
    )
    assert by_resolution == {Resolution.MINUTE: 1, Resolution.HOUR: 2}
    # Readings older than raw retention are refused at the door, not stored and silently deleted.
    late = ingest_batch(
        session,
        SYSTEM,
        [reading(code, "noise", 55, NOW - timedelta(days=31))],
        channel=ingest.Channel.REPLAY,
        limits=limits,
    )
    assert late.rejections[0].reason is ingest.Reason.TOO_OLD


def test_query_functions_for_other_domains(session: Session) -> None:
    clock.freeze(NOW)
    build_city(session)
    a = add_device(session, "rain_gauge")
    b = add_device(session, "rain_gauge")
    for device, values in ((a, [1.0, 4.0, 2.0]), (b, [7.0])):
        pts = [(NOW - timedelta(minutes=10 - i), v) for i, v in enumerate(values)]
        _push(session, device.code, "rainfall", pts)
    since, until = NOW - timedelta(hours=1), NOW
    stats = repository.aggregate(session, "rainfall", since, until)
    assert (stats[a.id].max, stats[a.id].avg, stats[a.id].last, stats[b.id].count) == (4.0, 7 / 3, 2.0, 1)
    assert repository.aggregate(session, "rainfall", since, until, entity_ids=[b.id]).keys() == {b.id}
    latest = repository.latest(session, [a.id, b.id], "rainfall")
    assert (latest[a.id].value, latest[b.id].value) == (2.0, 7.0)
    assert [p.value for p in repository.window(session, a.id, "rainfall", since, until)] == [1.0, 4.0, 2.0]


def _reject_at(session: Session, at: datetime, device: str) -> int:
    """A reading of an unregistered device, rejected with the hub's clock at ``at``."""
    clock.freeze(at)
    out = ingest_batch(
        session, SYSTEM, [reading(device, "noise", 50, at)], channel=ingest.Channel.HTTP, limits=LIMITS
    )
    assert out.rejections[0].reason is ingest.Reason.UNKNOWN_DEVICE
    letter_id = out.dead_letter_ids[0]
    assert letter_id is not None
    return letter_id


def test_dead_letters_are_purged_after_their_retention(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_city(session)
    unknown = [f"370201DV0000{n:04d}" for n in range(5)]
    ages = {  # dead letter → how long before NOW it was received
        "old": timedelta(days=45),
        "just_over": timedelta(days=30, seconds=1),
        "just_under": timedelta(days=30) - timedelta(seconds=1),
        "recent": timedelta(days=2),
    }
    ids = {name: _reject_at(session, NOW - age, unknown[i]) for i, (name, age) in enumerate(ages.items())}
    # A replayed letter is history, and goes with the rest once it is old.
    replayed = session.get(DeadLetter, _reject_at(session, NOW - timedelta(days=31), unknown[4]))
    assert replayed is not None
    replayed.status = DeadLetterStatus.REPLAYED
    session.flush()

    clock.freeze(NOW)
    monkeypatch.delenv("CITYHUB_TELEMETRY_DEAD_LETTER_RETENTION_DAYS", raising=False)
    defaults = Settings(mode="test")
    assert defaults.telemetry_dead_letter_retention_days == 30
    _done, kept = rollup.maintain(session, defaults, clock.now())
    assert kept.dead_letters_deleted == 3 and kept.raw_deleted == 0
    left = set(session.scalars(select(DeadLetter.id)))
    assert left == {ids["just_under"], ids["recent"]}

    # The setting comes from the environment; a shorter retention purges more, the next run nothing again.
    monkeypatch.setenv("CITYHUB_TELEMETRY_DEAD_LETTER_RETENTION_DAYS", "7")
    shorter = Settings(mode="test")
    assert shorter.telemetry_dead_letter_retention_days == 7
    assert rollup.maintain(session, shorter, clock.now())[1].dead_letters_deleted == 1
    assert set(session.scalars(select(DeadLetter.id))) == {ids["recent"]}
    assert rollup.maintain(session, shorter, clock.now())[1].dead_letters_deleted == 0


@pytest.mark.parametrize("size", [2, 3, 511, 512, 1000, 1300])
def test_batches_of_any_size_are_stored_whole_and_duplicates_found(session: Session, size: int) -> None:
    """On SQLite rows go in multi-row statements of a few fixed sizes: every row lands, whatever the size."""
    build_city(session)
    device = add_device(session, "rain_gauge")
    start = repository.to_us(NOW - timedelta(days=1))
    rows = [(device.id, "rainfall", start + i * 1_000_000, float(i % 7), None) for i in range(size)]
    assert repository.insert_readings(session, rows[: size // 2]) == set()
    # The second half with the first row again: that key is reported, the rest are stored.
    duplicates = repository.insert_readings(session, [rows[0], *rows[size // 2 :]])
    assert duplicates == {rows[0][:3]}
    stored = session.execute(
        select(Reading.ts, Reading.value).where(Reading.entity_id == device.id).order_by(Reading.ts)
    ).all()
    assert [(ts, value) for ts, value in stored] == [(r[2], r[3]) for r in rows]
