"""``cityhub anomaly``: score a sensor CSV file for anomalies without a fixed threshold."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from cityhub.anomaly.detectors import AnomalyDetector, Detection, fit_on_input
from cityhub.anomaly.io import DataError, Frame, match_resolution, read_frame

app = typer.Typer(help="Anomaly detection on sensor series (no fixed thresholds).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Anomaly detection on sensor series (no fixed thresholds)."""


def _split(names: str | None) -> list[str] | None:
    if names is None:
        return None
    parts = [n.strip() for n in names.split(",") if n.strip()]
    return parts


def _load(
    input_path: Path,
    train: Path | None,
    time_col: str,
    value_cols: list[str] | None,
    sep: str,
    ignore: list[str],
) -> tuple[Frame, Frame | None]:
    frame = read_frame(input_path, time_col, value_cols, sep=sep, ignore_cols=ignore)
    if train is None:
        return frame, None
    normal = read_frame(train, time_col, list(frame.columns), sep=sep)
    # Train at the input's recording resolution: rounding alone must not look like an anomaly.
    return frame, match_resolution(normal, frame)


def _write(path: Path, time_col: str, frame: Frame, result: Detection) -> None:
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow([time_col, "score", "is_anomaly"])
            for stamp, score, alarm in zip(frame.raw_times, result.score, result.is_anomaly, strict=True):
                writer.writerow([stamp, f"{score:.6g}", int(alarm)])
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from exc


@app.command()
def detect(
    input_path: Annotated[
        Path, typer.Option("--input", help="CSV file to score, one row per time step.", show_default=False)
    ],
    time_col: Annotated[str, typer.Option("--time-col", help="Name of the time column.", show_default=False)],
    output: Annotated[
        Path, typer.Option("--output", help="CSV to write: time, score, is_anomaly.", show_default=False)
    ],
    value_cols: Annotated[
        str | None,
        typer.Option("--value-cols", help="Comma-separated sensors (default: every numeric column)."),
    ] = None,
    sep: Annotated[
        str, typer.Option("--sep", help="Field separator of the input files (';' for SKAB).")
    ] = ",",
    train: Annotated[
        Path | None, typer.Option("--train", help="CSV of normal operation to learn from (same columns).")
    ] = None,
    ignore_cols: Annotated[
        str | None, typer.Option("--ignore-cols", help="Comma-separated columns to leave out (e.g. labels).")
    ] = None,
    train_rows: Annotated[
        int | None,
        typer.Option("--train-rows", min=1, help="Without --train: learn from the first N input rows only."),
    ] = None,
) -> None:
    """Score every row of --input; score > 1 means anomaly.

    Normal behaviour is learned from --train (rounded to the input's resolution), else from the
    first --train-rows input rows, else from the whole input (fine while anomalies are rare).
    """
    if train is not None and train_rows is not None:
        raise _fail("give either --train or --train-rows, not both")
    try:
        frame, normal = _load(input_path, train, time_col, _split(value_cols), sep, _split(ignore_cols) or [])
        detector = AnomalyDetector().fit(normal) if normal is not None else fit_on_input(frame, train_rows)
        result = detector.detect(frame)
        _write(output, time_col, frame, result)
    except DataError as exc:
        raise _fail(str(exc)) from None
    alarms = int(result.is_anomaly.sum())
    source = train.name if train else (f"first {train_rows} rows" if train_rows else "the input itself")
    typer.echo(
        f"{len(frame)} rows, {len(frame.columns)} sensors, learned from {source}: "
        f"{alarms} anomalous rows ({100.0 * alarms / max(len(frame), 1):.1f} %) -> {output}"
    )


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)
