"""The real NATS server the scale-out tests talk to (JetStream on; ``scripts/services.sh`` starts it)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import nats
from nats.js.errors import NotFoundError

from tests.conftest import require_service

NATS_URL = os.environ.get("CITYHUB_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _problem() -> str | None:
    async def probe() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{NATS_URL}: {exc or type(exc).__name__}"
    return None


def require_nats() -> str:
    """The server's URL; skips (fails under CI=true) when NATS with JetStream is not reachable."""
    require_service("NATS", _problem())
    return NATS_URL


def namespace() -> str:
    """A namespace of its own for a test: subjects, stream and consumer no other run shares."""
    return f"test_{uuid.uuid4().hex[:12]}"


def delete_stream(name: str) -> None:
    async def delete() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        try:
            await nc.jetstream().delete_stream(name)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(delete())


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")
