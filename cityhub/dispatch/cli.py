"""``cityhub dispatch train|predict``: the dispatch text classifier on CSV or TSV files.

Inputs are UTF-8 (a BOM is fine; GB18030, as Excel writes it on Chinese Windows, is accepted with a
warning) CSV with the usual quoting, or any one-character separator (``--sep '\\t'`` for TSV). Columns are
named by the header, or with ``--no-header`` by 0-based position. Blank lines are not rows.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from cityhub.dispatch.classifier import TextClassifier

app = typer.Typer(help="Train and run the dispatch text classifier.", no_args_is_help=True)

_PREDICT_BATCH = 2_000
_SEPARATORS = {"\\t": "\t", "tab": "\t", "TAB": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


class InputError(Exception):
    """A problem with the user's files or arguments, reported as one line without a traceback."""


@app.callback()
def _group() -> None:
    """Train and run the dispatch text classifier."""


# ---------------------------------------------------------------- reading tables


@dataclass(frozen=True)
class Table:
    """A delimited file: its header (None with ``--no-header``) and its non-blank rows."""

    path: Path
    header: list[str] | None
    rows: list[list[str]]

    def column(self, name: str) -> int:
        """The index of a column given by header name or, without a header, by 0-based position."""
        if self.header is not None:
            stripped = [h.strip() for h in self.header]
            for candidates in (self.header, stripped):
                if name in candidates:
                    return candidates.index(name)
            if name.strip().isdigit() and int(name) < len(self.header):
                return int(name)
            raise InputError(
                f"{self.path}: no column {name!r}; the columns are {', '.join(map(repr, stripped))}"
            )
        if not name.strip().isdigit():
            raise InputError(f"with --no-header, columns are 0-based positions (0, 1, …), not {name!r}")
        index = int(name)
        width = max((len(row) for row in self.rows), default=0)
        if index >= width:
            raise InputError(
                f"{self.path}: column {index} is out of range (rows have {width} columns, from 0)"
            )
        return index

    def values(self, index: int) -> list[str]:
        """The column's cells; a short (ragged) row has an empty cell there."""
        return [row[index] if index < len(row) else "" for row in self.rows]


def separator(sep: str | None, path: Path) -> str:
    """The delimiter: ``\\t`` written as two characters means a tab; default by the file's extension."""
    if sep is None:
        return "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    sep = _SEPARATORS.get(sep, sep)
    if len(sep) != 1:
        raise InputError(f"--sep must be one character (or '\\t' for a tab), not {sep!r}")
    return sep


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise InputError(f"{path} is neither UTF-8 nor GB18030 text") from None
    typer.secho(f"warning: {path} is not UTF-8; read it as GB18030", fg=typer.colors.YELLOW, err=True)
    return text


def read_table(path: Path, sep: str | None, *, header: bool) -> Table:
    """Read a delimited text file; quoted fields may hold separators and line breaks."""
    text = _decode(path)
    rows = _parse(text, separator(sep, path), path)
    if header:
        if not rows:
            raise InputError(f"{path} is empty: expected a header row")
        return Table(path, rows[0], rows[1:])
    return Table(path, None, rows)


def _parse(text: str, sep: str, path: Path) -> list[list[str]]:
    """Rows of ``text``, honouring quotes unless a stray one would swallow lines.

    Raw exports (TSV above all) often hold texts that start with a quote and never close it; a CSV
    reader then merges every following line into that field. When reading with quotes gives fewer rows
    than splitting line by line, and the split rows all have the same width, the split is the file's
    real shape; legitimate multi-line quoted fields leave split rows of uneven width.
    """
    # Citizen reports can be longer than the csv module's default 128 KiB field limit. The limit is the
    # process's: it is put back, so that the hub's uploads keep theirs (kit/csvtext.py).
    limit = csv.field_size_limit(2**31 - 1)
    try:
        quoted = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if row]
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable delimited file ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    split = [[_unquote(cell) for cell in line.split(sep)] for line in lines if line]
    if len(split) > len(quoted) and len({len(row) for row in split}) == 1:
        return split
    return quoted


def _unquote(cell: str) -> str:
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        return cell[1:-1].replace('""', '"')
    return cell


def read_user_words(path: Path | None) -> list[str]:
    """A jieba-style user dictionary: one word a line, optionally followed by frequency and tag."""
    if path is None:
        return []
    return [line.split()[0] for line in _decode(path).splitlines() if line.strip()]


# ---------------------------------------------------------------- commands


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _training_rows(table: Table, text_col: str, label_col: str) -> tuple[list[str], list[str]]:
    """Texts and labels to train on; rows without a label or without text are skipped, and counted."""
    texts_all = table.values(table.column(text_col))
    labels_all = table.values(table.column(label_col))
    texts, labels = [], []
    no_label = no_text = 0
    for text, label in zip(texts_all, labels_all, strict=True):
        if not label.strip():
            no_label += 1
        elif not text.strip():
            no_text += 1
        else:
            texts.append(text)
            labels.append(label.strip())
    typer.echo(
        f"read {len(table.rows)} rows from {table.path}; skipped {no_label} without a label "
        f"and {no_text} with empty text; training on {len(texts)}"
    )
    return texts, labels


@app.command()
def train(
    input_path: Annotated[Path, typer.Option("--input", help="Training CSV/TSV file.", show_default=False)],
    text_col: Annotated[
        str, typer.Option("--text-col", help="Text column (name, or position with --no-header).")
    ],
    label_col: Annotated[str, typer.Option("--label-col", help="Category column (name or position).")],
    model_path: Annotated[
        Path, typer.Option("--model", help="Where to write the model.", show_default=False)
    ],
    sep: Annotated[
        str | None,
        typer.Option("--sep", help="Separator, one character; '\\t' for TSV. Default: ',' (tab for .tsv)."),
    ] = None,
    no_header: Annotated[bool, typer.Option("--no-header", help="The file has no header row.")] = False,
    user_dict: Annotated[
        Path | None, typer.Option("--user-dict", help="Extra words for jieba (place names…), one a line.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Train a classifier on labelled texts and save it."""
    started = time.perf_counter()
    try:
        table = read_table(input_path, sep, header=not no_header)
        texts, labels = _training_rows(table, text_col, label_col)
        words = read_user_words(user_dict)
        classifier = TextClassifier.fit(texts, labels, seed=seed, user_words=words)
        classifier.save(model_path)
    except (InputError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write {model_path}: {exc.strerror or exc}") from None
    typer.echo(
        f"trained model {classifier.version} on {len(texts)} texts, {len(classifier.labels)} categories, "
        f"in {time.perf_counter() - started:.1f} s; saved to {model_path}"
    )


def _predicted_rows(classifier: TextClassifier, texts: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(texts), _PREDICT_BATCH):
        for p in classifier.predict(texts[start : start + _PREDICT_BATCH], explain=False):
            yield [p.label, f"{p.confidence:.6f}", "|".join(name for name, _ in p.top)]


def _write_predictions(path: Path, rows: Iterator[list[str]]) -> int:
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["label", "confidence", "top3"])
            for row in rows:
                writer.writerow(row)
                count += 1
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return count


@app.command()
def predict(
    model_path: Annotated[
        Path, typer.Option("--model", help="A model written by train.", show_default=False)
    ],
    input_path: Annotated[Path, typer.Option("--input", help="CSV/TSV file of texts.", show_default=False)],
    text_col: Annotated[
        str, typer.Option("--text-col", help="Text column (name, or position with --no-header).")
    ],
    output_path: Annotated[
        Path, typer.Option("--output", help="Predictions CSV: label, confidence, top3.", show_default=False)
    ],
    sep: Annotated[
        str | None,
        typer.Option("--sep", help="Separator, one character; '\\t' for TSV. Default: ',' (tab for .tsv)."),
    ] = None,
    no_header: Annotated[bool, typer.Option("--no-header", help="The file has no header row.")] = False,
) -> None:
    """Predict the category of every row of a file, in order."""
    started = time.perf_counter()
    try:
        table = read_table(input_path, sep, header=not no_header)
        texts = table.values(table.column(text_col))
        classifier = _load(model_path)
        count = _write_predictions(output_path, _predicted_rows(classifier, texts))
    except InputError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"wrote {count} predictions to {output_path} with model {classifier.version} "
        f"in {time.perf_counter() - started:.1f} s"
    )


def _load(path: Path) -> TextClassifier:
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    try:
        return TextClassifier.load(path)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


if __name__ == "__main__":  # pragma: no cover - python -m cityhub.dispatch.cli
    app()
