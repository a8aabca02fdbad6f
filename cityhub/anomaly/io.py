"""Reading sensor CSV files into a :class:`Frame` (no pandas: csv + numpy).

Supported time formats, detected from the data: ISO 8601 (``2020-03-09 10:14:33``, NAB's
``2015-02-26 21:42:53`` and fractional seconds, SKAB), BATADAL's ``dd/mm/yy HH``
(``04/01/17 00``) and ``dd/mm/yyyy HH:MM[:SS]``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]


class DataError(ValueError):
    """A file or column that cannot be used, with a message a person can act on."""


@dataclass(frozen=True)
class Frame:
    """Sensor readings: one row per time step, one column per sensor.

    ``times`` are naive ``datetime64[s]`` (the files carry no zone); ``raw_times`` keeps the
    text as read so outputs can echo it unchanged. Missing readings are NaN.
    """

    times: TimeArray
    values: FloatArray
    columns: tuple[str, ...]
    raw_times: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.columns):
            raise DataError(f"values of shape {self.values.shape} do not match {len(self.columns)} columns")
        if self.times.shape[0] != self.values.shape[0]:
            raise DataError("times and values have different lengths")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def select(self, columns: Sequence[str]) -> Frame:
        """The same rows restricted to ``columns`` (in that order)."""
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise DataError(f"column(s) {', '.join(missing)} not found; available: {', '.join(self.columns)}")
        idx = [self.columns.index(c) for c in columns]
        return Frame(self.times, self.values[:, idx], tuple(columns), self.raw_times)

    def where(self, keep: npt.NDArray[np.bool_]) -> Frame:
        """Only the rows where ``keep`` is true, in order."""
        raw = tuple(t for t, k in zip(self.raw_times, keep, strict=True) if k) if self.raw_times else ()
        return Frame(self.times[keep], self.values[keep], self.columns, raw)

    def rows(self, start: int, stop: int) -> Frame:
        """Rows ``start:stop`` (a window of a stream)."""
        raw = self.raw_times[start:stop] if self.raw_times else ()
        return Frame(self.times[start:stop], self.values[start:stop], self.columns, raw)


@dataclass(frozen=True)
class Table:
    """A CSV file as text: header names (stripped) and rows of cells."""

    header: tuple[str, ...]
    rows: list[list[str]]

    def column(self, name: str) -> list[str]:
        """All cells of one column."""
        if name not in self.header:
            raise DataError(f"column {name!r} not found; available: {', '.join(self.header)}")
        i = self.header.index(name)
        return [row[i] if i < len(row) else "" for row in self.rows]


def read_table(path: Path, sep: str = ",") -> Table:
    """Read a delimited text file; header names are stripped (BATADAL releases pad them)."""
    if len(sep) != 1:
        raise DataError(f"separator must be one character, got {sep!r}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=sep)
            header = next(reader, None)
            rows = [row for row in reader if row and any(cell.strip() for cell in row)]
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text") from exc
    if header is None:
        raise DataError(f"{path} is empty")
    names = tuple(h.strip() for h in header)
    if len(names) == 1 and sep == "," and ";" in names[0]:
        raise DataError(f"{path} looks semicolon-separated; pass --sep ';'")
    return Table(names, rows)


def _parse_float(cell: str) -> float:
    text = cell.strip()
    if not text or text.lower() in {"nan", "na", "null", "none"}:
        return math.nan
    return float(text)


def numeric_columns(table: Table, exclude: Iterable[str] = ()) -> list[str]:
    """Columns whose every non-empty cell is a number, in file order."""
    skip = set(exclude)
    out = []
    for name in table.header:
        if name in skip:
            continue
        try:
            cells = [_parse_float(c) for c in table.column(name)]
        except ValueError:
            continue
        if any(not math.isnan(v) for v in cells):
            out.append(name)
    return out


_STRPTIME_FORMATS = ("%d/%m/%y %H", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%y %H:%M")


def _parsers() -> list[Callable[[str], datetime]]:
    def strp(fmt: str) -> Callable[[str], datetime]:
        return lambda text: datetime.strptime(text, fmt)

    return [datetime.fromisoformat, *(strp(f) for f in _STRPTIME_FORMATS)]


def parse_times(cells: Sequence[str]) -> TimeArray:
    """Parse a time column, choosing the first format that reads every cell.

    Timezone offsets, when present, are converted to UTC and dropped so that all frames
    compare on one naive clock.
    """
    texts = [c.strip() for c in cells]
    furthest = 0  # the format that read most rows points at the row to blame
    for parse in _parsers():
        parsed = []
        try:
            for text in texts:
                parsed.append(parse(text))
        except ValueError:
            furthest = max(furthest, len(parsed))
            continue
        return np.array([_naive_utc(d) for d in parsed], dtype="datetime64[s]")
    raise DataError(
        f"cannot parse time value {texts[furthest]!r} (data row {furthest + 1}): "
        "expected ISO 8601 (2020-03-09 10:14:33) or dd/mm/yy HH (04/01/17 00)"
    )


def _naive_utc(moment: datetime) -> np.datetime64:
    offset = moment.utcoffset()
    if offset is not None:
        moment = moment.replace(tzinfo=None) - offset
    return np.datetime64(moment.replace(microsecond=0), "s")


def frame_from_table(table: Table, time_col: str, value_cols: Sequence[str]) -> Frame:
    """Build a :class:`Frame` from parsed text; raises :class:`DataError` on bad cells."""
    raw_times = table.column(time_col)
    times = parse_times(raw_times)
    columns = []
    for name in value_cols:
        try:
            columns.append([_parse_float(c) for c in table.column(name)])
        except ValueError as exc:
            raise DataError(f"column {name!r} is not numeric: {exc}") from exc
    values = np.array(columns, dtype=np.float64).T if columns else np.empty((len(raw_times), 0))
    return Frame(times, values.reshape(len(raw_times), len(value_cols)), tuple(value_cols), tuple(raw_times))


def read_frame(
    path: Path,
    time_col: str,
    value_cols: Sequence[str] | None = None,
    *,
    sep: str = ",",
    ignore_cols: Sequence[str] = (),
) -> Frame:
    """Read ``path`` into a frame; value columns default to every numeric column but time and ignored."""
    table = read_table(path, sep)
    if time_col not in table.header:
        raise DataError(f"time column {time_col!r} not found in {path}; available: {', '.join(table.header)}")
    if value_cols is None:
        value_cols = numeric_columns(table, exclude=[time_col, *ignore_cols])
    missing = [c for c in value_cols if c not in table.header]
    if missing:
        raise DataError(
            f"column(s) {', '.join(missing)} not found in {path}; available: {', '.join(table.header)}"
        )
    if not value_cols:
        raise DataError(f"no numeric value columns in {path} (after excluding {time_col!r} and ignored ones)")
    return frame_from_table(table, time_col, value_cols)


def decimals(values: FloatArray, most: int = 6) -> npt.NDArray[np.int64]:
    """Per column, the fewest decimal places that represent every reading (``most`` if more)."""
    out = np.full(values.shape[1], most, dtype=np.int64)
    for j in range(values.shape[1]):
        col = values[:, j][np.isfinite(values[:, j])]
        for places in range(most):
            if np.all(np.abs(np.round(col, places) - col) <= 1e-9 * np.maximum(1.0, np.abs(col))):
                out[j] = places
                break
    return out


def match_resolution(normal: Frame, reference: Frame) -> Frame:
    """Round ``normal`` to the coarser recording resolution of ``reference``, column by column.

    A detector trained on finely recorded history learns relations exact to the 9th decimal and
    then alarms on the rounding of a live feed kept at 2 decimals (BATADAL's dataset03 vs 04).
    """
    if normal.columns != reference.columns:
        raise DataError("normal and reference frames have different columns")
    fine, coarse = decimals(normal.values), decimals(reference.values)
    values = normal.values.copy()
    for j in np.where(coarse < fine)[0]:
        values[:, j] = np.round(values[:, j], int(coarse[j]))
    return Frame(normal.times, values, normal.columns, normal.raw_times)
