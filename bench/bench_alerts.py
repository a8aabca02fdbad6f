"""Alert latency: from a reading's arrival at the hub to the alert being visible through the API, under load.

The hub runs in its own process (uvicorn, development mode, the app as ``cityhub serve`` builds it: the
sensing pipeline on its worker thread) on a fresh database with the tiny test city, ``--devices``
registered water-level sensors and one indicator (``bench.level``: the last water level per sensor, red at
9 m, alerting at red). While ``--clients`` connections send normal readings over HTTP batches at a fixed
``--rate`` (open loop: batch *i* is due at ``i × batch / rate``), a probe every ``--probe-every`` seconds
sends one reading of 9.5 m for a sensor not in the load, in its own request, and then polls
``GET /api/v1/alerts?device=…`` every 10 ms until the alert is there. Latency = first poll that sees the
alert − the probe's send time (its arrival, to within the loopback). Polls and the probe's own request are
part of what is measured.

    python bench/bench_alerts.py                          # SQLite and PostgreSQL, 10 000/s, 60 s
    python bench/bench_alerts.py --backend sqlite --seconds 30 --markdown
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.bench_ingest, tests.factories

from bench.bench_ingest import database, define_indicator, seed, server
from tests.factories import PASSWORD

TARGET_P99_S = 1.0


@dataclass
class Outcome:
    backend: str
    rate: float
    seconds: float
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)  # the probe's own POST, until its answer (durable)
    missed: int = 0

    @property
    def achieved(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def pct(self, q: float, values: list[float] | None = None) -> float:
        values = self.latencies if values is None else values
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = orjson.dumps({"username": "admin", "password": PASSWORD})
    conn.request("POST", "/api/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
    token = str(orjson.loads(conn.getresponse().read())["access_token"])
    conn.close()
    return token


def _body(codes: list[str], value: float) -> bytes:
    ts = datetime.now(UTC).isoformat()
    return orjson.dumps([{"device": c, "metric": "water_level", "ts": ts, "value": value} for c in codes])


def load(
    port: int, token: str, codes: list[str], args: argparse.Namespace, out: Outcome, stop: threading.Event
) -> None:
    """Open loop: batch i of every client is due at its slot; a late client sends at once (and stays late)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    interval = args.batch * args.clients / args.rate
    lock = threading.Lock()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        began = time.perf_counter() + n * interval / args.clients
        i = 0
        while not stop.is_set():
            due = began + i * interval
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            start = (i * args.clients + n) * args.batch % len(codes)
            chunk = [codes[(start + k) % len(codes)] for k in range(args.batch)]
            conn.request("POST", "/api/v1/telemetry", body=_body(chunk, 1.0 + (i % 50) / 10), headers=headers)
            response = conn.getresponse()
            data = response.read()
            with lock:
                out.sent += args.batch
                if response.status == 200:
                    out.accepted += int(orjson.loads(data)["accepted"])
                else:
                    out.refused += args.batch
            i += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def probe(port: int, gateway: str, admin: str, code: str, timeout_s: float) -> tuple[float | None, float]:
    """Send one alarming reading; seconds until ``GET /api/v1/alerts?device=code`` shows the alert, and
    seconds until the POST itself was answered."""
    send = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    poll = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {gateway}", "Content-Type": "application/json"}
    began = time.perf_counter()
    send.request("POST", "/api/v1/telemetry", body=_body([code], 9.5), headers=headers)
    send.getresponse().read()
    acked = time.perf_counter() - began
    try:
        while time.perf_counter() - began < timeout_s:
            poll.request("GET", f"/api/v1/alerts?device={code}", headers={"Authorization": f"Bearer {admin}"})
            response = poll.getresponse()
            body = response.read()
            if response.status == 200 and orjson.loads(body)["total"] > 0:
                return time.perf_counter() - began, acked
            time.sleep(0.01)
        return None, acked
    finally:
        send.close()
        poll.close()


def run_backend(backend: str, args: argparse.Namespace) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="cityhub-bench-alerts-") as tmp:
        workdir = Path(tmp)
        with database(backend, workdir) as url:
            pairs, token = seed(url, args.devices + args.probes)
            define_indicator(url)
            codes = [code for _id, code in pairs]
            loaded, probes = codes[: args.devices], codes[args.devices :]
            with server(url, workdir, None) as port:
                admin = _login(port)
                outcome = Outcome(backend, args.rate, args.seconds)
                stop = threading.Event()
                driver = threading.Thread(target=load, args=(port, token, loaded, args, outcome, stop))
                began = time.perf_counter()
                driver.start()
                time.sleep(args.warmup)
                for code in probes:
                    if time.perf_counter() - began > args.warmup + args.seconds:
                        break
                    latency, acked = probe(port, token, admin, code, timeout_s=30)
                    outcome.acks.append(acked)
                    if latency is None:
                        outcome.missed += 1
                    else:
                        outcome.latencies.append(latency)
                    time.sleep(max(0.0, args.probe_every - (latency or 0)))
                remaining = args.warmup + args.seconds - (time.perf_counter() - began)
                time.sleep(max(0.0, remaining))
                stop.set()
                driver.join()
                outcome.seconds = time.perf_counter() - began
    return outcome


def report(outcomes: list[Outcome], markdown: bool) -> str:
    rows = [
        (
            o.backend,
            f"{o.rate:,.0f}",
            f"{o.achieved:,.0f}",
            str(len(o.latencies)),
            f"{o.pct(0.5) * 1000:,.0f}",
            f"{o.pct(0.99) * 1000:,.0f}",
            f"{max(o.latencies, default=float('nan')) * 1000:,.0f}",
            f"{o.pct(0.5, o.acks) * 1000:,.0f} / {o.pct(0.99, o.acks) * 1000:,.0f}",
            str(o.missed),
            "yes" if o.pct(0.99) < TARGET_P99_S and not o.missed else "no",
        )
        for o in outcomes
    ]
    head = (
        "backend",
        "offered /s",
        "accepted /s",
        "probes",
        "p50 ms",
        "p99 ms",
        "max ms",
        "ingest ack p50/p99 ms",
        "missed",
        "p99 < 1 s",
    )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    width = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, width, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, width, strict=True)) for r in rows]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rate", type=float, default=10_000, help="readings per second offered")
    parser.add_argument("--seconds", type=float, default=60, help="measured time (after the warm-up)")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--devices", type=int, default=2_000, help="sensors in the load")
    parser.add_argument("--probes", type=int, default=200, help="sensors kept for probes (one alert each)")
    parser.add_argument("--probe-every", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=500, help="readings per HTTP request")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--markdown", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    outcomes = []
    for backend in backends:
        outcome = run_backend(backend, args)
        outcomes.append(outcome)
        counts = (
            f"{outcome.sent:,} sent, {outcome.accepted:,} accepted, {outcome.refused:,} refused (429/503)"
        )
        print(f"{backend}: {counts}, p50 {outcome.pct(0.5):.3f} s, p99 {outcome.pct(0.99):.3f} s", flush=True)
    print(report(outcomes, args.markdown))
    return 0 if all(o.pct(0.99) < TARGET_P99_S and not o.missed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
