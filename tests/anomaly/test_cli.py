"""``cityhub anomaly detect`` on small synthetic files in the NAB, BATADAL and SKAB layouts."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from cityhub.anomaly.cli import app
from cityhub.anomaly.io import read_frame

runner = CliRunner()
DAY = 144  # rows per day at one reading every 10 minutes


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], sep: str = ",") -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter=sep)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def stamps(start: datetime, n: int, step: timedelta, fmt: str) -> list[str]:
    return [(start + i * step).strftime(fmt) for i in range(n)]


def sine(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10.0 + 3.0 * np.sin(2 * np.pi * np.arange(n) / DAY) + rng.normal(0.0, 0.2, n)


def read_output(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def nab_files(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """NAB layout ``timestamp,value``: a clean week to learn from, then two days with a spike."""
    start = datetime(2024, 1, 1)
    train_times = stamps(start, 7 * DAY, timedelta(minutes=10), "%Y-%m-%d %H:%M:%S")
    train = write_csv(
        tmp_path / "normal.csv", ["timestamp", "value"], list(zip(train_times, sine(7 * DAY, 1), strict=True))
    )
    live_values = sine(2 * DAY, 2)
    live_values[150] += 4.0
    live_times = stamps(start + timedelta(days=7), 2 * DAY, timedelta(minutes=10), "%Y-%m-%d %H:%M:%S")
    live = write_csv(
        tmp_path / "live.csv", ["timestamp", "value"], list(zip(live_times, live_values, strict=True))
    )
    return train, live, live_times


def test_writes_one_row_per_input_row_in_order_and_flags_the_spike(tmp_path: Path) -> None:
    train, live, times = nab_files(tmp_path)
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "detect",
            "--input",
            str(live),
            "--time-col",
            "timestamp",
            "--train",
            str(train),
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = read_output(out)
    assert rows[0] == ["timestamp", "score", "is_anomaly"]
    assert [r[0] for r in rows[1:]] == times
    flags = [int(r[2]) for r in rows[1:]]
    assert set(flags) <= {0, 1}
    assert flags[150] == 1
    assert sum(flags) < 0.05 * len(flags)
    assert "1 sensors" in result.output and "anomalous rows" in result.output


def test_without_train_it_learns_from_the_input_itself(tmp_path: Path) -> None:
    _, live, _ = nab_files(tmp_path)
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["detect", "--input", str(live), "--time-col", "timestamp", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = read_output(out)[1:]
    assert len(rows) == 2 * DAY
    assert rows[150][2] == "1"


def test_batadal_layout_day_first_hours_padded_headers_and_ignored_label(tmp_path: Path) -> None:
    """dd/mm/yy HH times, headers with leading spaces, ATT_FLAG left out; a spoofed level."""
    rng = np.random.default_rng(3)
    header = ["DATETIME", " L_T1", " F_PU1", " ATT_FLAG"]

    def rows(start: datetime, n: int, spoof: slice | None = None) -> list[list[object]]:
        flow = 50.0 + 10.0 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 0.5, n)
        level = 0.05 * flow + rng.normal(0, 0.05, n)
        label = np.zeros(n, dtype=int)
        if spoof is not None:  # the attacker replays a plausible but unrelated level
            level[spoof] = level[spoof][::-1]
            label[spoof] = 1
        times = stamps(start, n, timedelta(hours=1), "%d/%m/%y %H")
        return [
            [t, round(a, 2), round(b, 2), c] for t, a, b, c in zip(times, level, flow, label, strict=True)
        ]

    train = write_csv(tmp_path / "dataset03.csv", header, rows(datetime(2014, 1, 6), 24 * 60))
    live_rows = rows(datetime(2016, 7, 4), 24 * 20, spoof=slice(240, 300))
    live = write_csv(tmp_path / "dataset04.csv", header, live_rows)
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "detect",
            "--input",
            str(live),
            "--train",
            str(train),
            "--time-col",
            "DATETIME",
            "--ignore-cols",
            "ATT_FLAG",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 sensors" in result.output  # L_T1 and F_PU1, not the label
    out_rows = read_output(out)[1:]
    assert [r[0] for r in out_rows] == [r[0] for r in live_rows]
    assert out_rows[0][0] == "04/07/16 00"
    flags = np.array([int(r[2]) for r in out_rows])
    assert flags[250:300].mean() > 0.6  # most spoofed hours; a replay crossing the truth is invisible
    assert flags[:240].mean() < 0.05


def test_skab_layout_semicolons_iso_times_and_first_rows_as_normal(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 600
    current = 1.0 + rng.normal(0, 0.02, n)
    flow = 32.0 * current + rng.normal(0, 0.1, n)
    flow[400:] -= 3.0  # the inlet valve closes: less flow for the same current
    labels = (np.arange(n) >= 400).astype(float)
    times = stamps(datetime(2020, 3, 9, 10, 14, 33), n, timedelta(seconds=1), "%Y-%m-%d %H:%M:%S")
    rows = [[t, c, f, a, 0.0] for t, c, f, a in zip(times, current, flow, labels, strict=True)]
    live = write_csv(
        tmp_path / "1.csv",
        ["datetime", "Current", "Volume Flow RateRMS", "anomaly", "changepoint"],
        rows,
        ";",
    )
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "detect",
            "--input",
            str(live),
            "--sep",
            ";",
            "--time-col",
            "datetime",
            "--ignore-cols",
            "anomaly,changepoint",
            "--train-rows",
            "300",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    flags = np.array([int(r[2]) for r in read_output(out)[1:]])
    assert flags[410:].mean() > 0.9
    assert flags[:400].mean() < 0.05


def test_missing_value_column_exits_non_zero_with_a_message(tmp_path: Path) -> None:
    _, live, _ = nab_files(tmp_path)
    result = runner.invoke(
        app,
        [
            "detect",
            "--input",
            str(live),
            "--time-col",
            "timestamp",
            "--value-cols",
            "pressure",
            "--output",
            str(tmp_path / "out.csv"),
        ],
    )
    assert result.exit_code != 0
    assert "pressure" in result.output and "not found" in result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert not (tmp_path / "out.csv").exists()


def test_missing_time_column_names_the_available_ones(tmp_path: Path) -> None:
    _, live, _ = nab_files(tmp_path)
    result = runner.invoke(
        app, ["detect", "--input", str(live), "--time-col", "time", "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code != 0
    assert "'time' not found" in result.output and "timestamp" in result.output


def test_train_file_lacking_a_sensor_is_refused(tmp_path: Path) -> None:
    _, live, _ = nab_files(tmp_path)
    other = write_csv(tmp_path / "other.csv", ["timestamp", "flow"], [["2024-01-01 00:00:00", 1.0]] * 50)
    result = runner.invoke(
        app,
        [
            "detect",
            "--input",
            str(live),
            "--train",
            str(other),
            "--time-col",
            "timestamp",
            "--output",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code != 0
    assert "value" in result.output and "not found" in result.output


def test_unreadable_times_and_wrong_separator_are_explained(tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", ["timestamp", "value"], [["yesterday", 1.0], ["today", 2.0]])
    result = runner.invoke(
        app, ["detect", "--input", str(bad), "--time-col", "timestamp", "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code != 0 and "cannot parse time value 'yesterday'" in result.output

    semi = write_csv(tmp_path / "semi.csv", ["datetime", "a"], [["2020-01-01 00:00:00", 1.0]], sep=";")
    result = runner.invoke(
        app, ["detect", "--input", str(semi), "--time-col", "datetime", "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code != 0 and "--sep ';'" in result.output


def test_train_and_train_rows_together_are_refused(tmp_path: Path) -> None:
    train, live, _ = nab_files(tmp_path)
    result = runner.invoke(
        app,
        [
            "detect",
            "--input",
            str(live),
            "--train",
            str(train),
            "--train-rows",
            "100",
            "--time-col",
            "timestamp",
            "--output",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code != 0 and "either --train or --train-rows" in result.output


def test_missing_input_file_is_reported(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "detect",
            "--input",
            str(tmp_path / "nope.csv"),
            "--time-col",
            "t",
            "--output",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code != 0 and "nope.csv" in result.output


def test_batadal_times_are_read_day_first(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["DATETIME", "x"], [["04/01/17 00", 1.0], ["13/01/17 23", 2.0]])
    frame = read_frame(path, "DATETIME")
    assert frame.times.tolist() == [datetime(2017, 1, 4, 0), datetime(2017, 1, 13, 23)]
    assert frame.raw_times == ("04/01/17 00", "13/01/17 23")
