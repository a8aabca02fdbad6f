"""Reading uploaded CSV text: a byte-order mark is skipped, and a line the csv module cannot read (a cell
over its field limit of 128 KiB, for one) is a 400 that names the line, not an exception out of the reader."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from cityhub.kit.errors import BadRequest


def rows(text: str) -> Iterator[list[str]]:
    """The rows of a CSV text, as lists of cells."""
    reader = csv.reader(_lines(text))
    with _named_line(reader):
        yield from reader


def records(text: str) -> _Records:
    """The rows of a CSV text with a header row, as dicts by column name (``csv.DictReader``); the header
    is read here, so ``fieldnames`` is ready."""
    reader = _Records(_lines(text))
    with _named_line(reader.reader):
        _ = reader.fieldnames
    return reader


if TYPE_CHECKING:
    _DictReader = csv.DictReader[str]
else:
    _DictReader = csv.DictReader  # generic in the stubs only


class _Records(_DictReader):
    def __next__(self) -> dict[str | Any, str | Any]:
        with _named_line(self.reader):
            return super().__next__()


def _lines(text: str) -> io.StringIO:
    return io.StringIO(text.removeprefix("\ufeff"))


class _Reader(Protocol):
    @property
    def line_num(self) -> int: ...


@contextmanager
def _named_line(reader: _Reader) -> Iterator[None]:
    try:
        yield
    except csv.Error as exc:
        # line_num counts the lines read, the one the reader stopped in included.
        raise BadRequest(f"the CSV cannot be read at line {reader.line_num}: {exc}") from exc
