"""The bus across processes on the real NATS server: each "process" is an ``InProcessBus`` with its bridge."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from cityhub.kit.bus import InProcessBus
from cityhub.kit.natsbus import BusUnavailable, NatsBridge
from tests.conftest import require_service
from tests.kit.nats_service import delete_stream, namespace, require_nats, wait_until

READINGS = "telemetry.readings"


class Process:
    """One process's bus and what its subscribers received."""

    def __init__(self, url: str, ns: str, *, consume_durable: bool = False) -> None:
        self.bus = InProcessBus()
        self.bridge = NatsBridge(url, self.bus, namespace=ns, consume_durable=consume_durable)
        self.seen: list[tuple[str, Any]] = []

    def listen(self, topic: str) -> Callable[[], None]:
        return self.bus.subscribe(topic, lambda t, p: self.seen.append((t, p)))

    def payloads(self, topic: str) -> list[Any]:
        return [p for t, p in self.seen if t == topic]


@pytest.fixture
def hub() -> Iterator[Callable[..., Process]]:
    """Starts "processes" of one hub (one namespace); stops them and removes the hub's stream after."""
    url = require_nats()
    ns = namespace()
    with ExitStack() as stack:

        def start(*, consume_durable: bool = False, topics: tuple[str, ...] = ()) -> Process:
            process = Process(url, ns, consume_durable=consume_durable)
            for topic in topics:
                process.listen(topic)
            process.bridge.start()
            stack.callback(process.bridge.stop)
            return process

        yield start
    delete_stream(f"{ns}_durable")


def test_a_publication_reaches_the_other_process_once_and_its_own_subscribers_once(
    hub: Callable[..., Process],
) -> None:
    a = hub(topics=("events.*",))
    b = hub(topics=("events.*",))
    a.bus.publish("events.create", {"id": 1})
    b.bus.publish("events.accept", {"id": 2})
    wait_until(lambda: b.payloads("events.create") and a.payloads("events.accept"), what="both deliveries")
    # Sent by b after it had both: an echo of a's own message to a would be there before it.
    b.bus.publish("events.flush", {"id": 3})
    wait_until(lambda: a.payloads("events.flush"), what="the flush message")
    assert a.seen == [("events.create", {"id": 1}), ("events.accept", {"id": 2}), ("events.flush", {"id": 3})]
    # a's message may reach b before b publishes its own: the order of those two is not defined.
    assert sorted(b.seen[:2], key=repr) == [("events.accept", {"id": 2}), ("events.create", {"id": 1})]
    assert b.seen[2:] == [("events.flush", {"id": 3})]


def test_local_topics_stay_in_their_process(hub: Callable[..., Process]) -> None:
    a = hub()
    b = hub(topics=("sensing.tick", "rules.webhooks", "events.*"))
    a.bus.publish("sensing.tick", {"at": "now"})
    a.bus.publish("rules.webhooks", {"rule_id": 1})
    a.bus.publish("events.create", {"id": 1})  # sent after them on the same connection
    wait_until(lambda: b.payloads("events.create"), what="the event")
    assert b.seen == [("events.create", {"id": 1})]


def test_readings_wait_in_jetstream_for_a_pipeline_that_starts_late(hub: Callable[..., Process]) -> None:
    api = hub()
    for i in range(3):
        api.bus.publish(READINGS, [{"device": "D1", "value": i}])
    pipeline = hub(consume_durable=True, topics=(READINGS,))
    wait_until(lambda: len(pipeline.seen) == 3, what="three batches")
    assert [p[0]["value"] for p in pipeline.payloads(READINGS)] == [0, 1, 2]
    pipeline.bridge.stop()

    api.bus.publish(READINGS, [{"device": "D1", "value": 3}])  # while no pipeline runs
    restarted = hub(consume_durable=True, topics=(READINGS,))
    wait_until(lambda: restarted.seen, what="the batch published meanwhile")
    time.sleep(0.5)
    # Acknowledged batches are not delivered again; the one published meanwhile is.
    assert restarted.payloads(READINGS) == [[{"device": "D1", "value": 3}]]


def test_readings_wait_while_the_pipeline_has_not_subscribed_yet(hub: Callable[..., Process]) -> None:
    api = hub()
    pipeline = hub(consume_durable=True)  # connected, but its sensing stream is still starting
    api.bus.publish(READINGS, [{"device": "D1", "value": 1}])
    time.sleep(0.5)
    pipeline.listen(READINGS)
    wait_until(lambda: pipeline.seen, what="the batch, handed back and delivered again")
    assert pipeline.payloads(READINGS) == [[{"device": "D1", "value": 1}]]


def test_the_pipelines_own_readings_stay_local_and_arrive_once(hub: Callable[..., Process]) -> None:
    worker = hub(consume_durable=True, topics=(READINGS,))  # e.g. its MQTT ingest
    worker.bus.publish(READINGS, [{"device": "D1", "value": 1}])
    other = hub()
    other.bus.publish(READINGS, [{"device": "D2", "value": 2}])
    wait_until(lambda: len(worker.seen) == 2, what="both batches")
    time.sleep(0.5)
    assert worker.payloads(READINGS) == [[{"device": "D1", "value": 1}], [{"device": "D2", "value": 2}]]


def test_a_batch_larger_than_a_nats_message_arrives_whole_in_parts(hub: Callable[..., Process]) -> None:
    api = hub()
    pipeline = hub(consume_durable=True, topics=(READINGS,))
    batch = [
        {"device": f"370201DV{i:08d}X", "metric": "noise", "ts": 1.0e9 + i, "value": i} for i in range(20_000)
    ]
    api.bus.publish(READINGS, batch)  # about 1.4 MB of JSON, above the server's 1 MiB
    wait_until(lambda: sum(len(p) for p in pipeline.payloads(READINGS)) >= len(batch), what="every reading")
    parts = pipeline.payloads(READINGS)
    assert len(parts) > 1 and [r for part in parts for r in part] == batch


def test_an_unreachable_server_fails_at_start_with_the_reason() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    bus = InProcessBus()
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match=f"cannot reach NATS at nats://127.0.0.1:{port}"):
        NatsBridge(f"nats://127.0.0.1:{port}", bus).start()
    assert time.monotonic() - started < 15
    bus.publish("events.create", {"id": 1})  # nothing attached: the bus stays local


NATS_SERVER = "/usr/sbin/nats-server"


class OwnServer:
    """A NATS server of the test's own (to stop and start again), on a free port."""

    def __init__(self, store: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.store = store
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(up, timeout=20, what="nats-server listening")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


def test_after_nats_comes_back_the_bridge_relays_again_and_caches_are_rebuilt(tmp_path: Path) -> None:
    require_service("nats-server", None if Path(NATS_SERVER).exists() else f"{NATS_SERVER} is not installed")
    server = OwnServer(tmp_path)
    server.start()
    a, b = Process(server.url, "gap"), Process(server.url, "gap")
    b.listen("events.*")
    b.listen("entities.changed")
    try:
        a.bridge.start()
        b.bridge.start()
        server.stop()
        time.sleep(4)  # more than the attempts a first connection gets: a connected bridge never gives up
        server.start()
        # What changed while the bridges were away was not heard: the caches are told to rebuild.
        wait_until(lambda: b.payloads("entities.changed"), timeout=30, what="the reload after the reconnect")
        assert b.payloads("entities.changed") == [None]

        def relayed() -> bool:
            a.bus.publish("events.create", {"id": 7})  # until a's connection is back too
            time.sleep(0.2)
            return bool(b.payloads("events.create"))

        wait_until(relayed, timeout=30, what="a relayed message after the reconnect")
    finally:
        a.bridge.stop()
        b.bridge.stop()
        server.stop()
