"""``cityhub scenarios``: the scenario packs shipped with the hub, and installing them."""

from __future__ import annotations

from typing import Annotated

import typer

from cityhub.access.principal import SYSTEM

app = typer.Typer(
    help="Scenario packs (独居老人关怀, 城市内涝, 燃气管网安全, 高楼消防风险码).", no_args_is_help=True
)


@app.command("list")
def list_() -> None:
    """The packs, with what each holds."""
    from cityhub.scenarios import pack as packs

    for p in packs.builtin():
        incidents = ", ".join(i.name for i in p.incidents)
        held = f"{len(p.indicators)} indicators, {len(p.watches)} watches, {len(p.rules)} rules"
        typer.echo(f"{p.key:<16} {p.name_zh:<8} {p.domain}  {held}; devices: {', '.join(p.devices)}")
        typer.echo(f"{'':<16} incidents: {incidents}")


@app.command("install")
def install(
    keys: Annotated[list[str] | None, typer.Argument(help="pack keys (default: all)")] = None,
) -> None:
    """Store the packs' indicators, watches and rules (create or replace by key)."""
    from cityhub.cli import fail, system_session
    from cityhub.scenarios import pack as packs

    try:
        chosen = [packs.get(k) for k in keys] if keys else list(packs.builtin())
    except KeyError as exc:
        raise fail(str(exc)) from exc
    with system_session() as session:
        for p in chosen:
            counts = packs.install(session, SYSTEM, p)
            typer.echo(f"{p.key}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))


def simulate(
    url: Annotated[str, typer.Option(help="the hub's base URL (HTTP transport)")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(envvar="CITYHUB_TOKEN", help="API token of a gateway user")
    ] = None,
    transport: Annotated[str, typer.Option(help="http (POST /api/v1/telemetry) or mqtt")] = "http",
    mqtt_url: Annotated[str, typer.Option(help="the MQTT broker")] = "mqtt://127.0.0.1:1883",
    topic_prefix: Annotated[
        str, typer.Option(help="MQTT topic prefix (one topic per device)")
    ] = "cityhub/telemetry",
    seconds: Annotated[float, typer.Option(help="how long to run (0: until interrupted)")] = 0.0,
    step: Annotated[float, typer.Option(help="seconds between batches")] = 1.0,
    load: Annotated[
        int, typer.Option(help="load generator: this many devices (0: the demo's scenario devices)")
    ] = 0,
    rate: Annotated[float, typer.Option(help="load generator: readings per second per device")] = 1.0,
    incident_every: Annotated[float, typer.Option(help="seconds between injected incidents")] = 240.0,
    backfill_hours: Annotated[float, typer.Option(help="first send this many hours of history")] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Simulate the city's sensors (daily cycles, noise, dropouts, incidents) against a running hub, over HTTP
    or MQTT; with --load N --rate M it is the load generator (N devices × M readings per second)."""
    from cityhub.cli import fail
    from cityhub.sim import sensors

    try:
        sensors.simulate(
            url=url,
            token=token,
            transport=transport,
            mqtt_url=mqtt_url,
            topic_prefix=topic_prefix,
            seconds=seconds,
            step=step,
            load=load,
            rate=rate,
            incident_every=incident_every,
            backfill_hours=backfill_hours,
            seed=seed,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
