"""``cityhub dispatch train|predict`` on small synthetic CSV and TSV files."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cityhub.dispatch.cli import app
from tests.dispatch import synthetic_reports

runner = CliRunner()


def write_rows(path: Path, rows: Sequence[Sequence[str]], *, sep: str = ",", encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        csv.writer(out, delimiter=sep).writerows(rows)
    return path


def read_predictions(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as source:
        return list(csv.DictReader(source))


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained through the CLI on a CSV with a BOM, quoted fields and rows to skip."""
    folder = tmp_path_factory.mktemp("dispatch-cli")
    texts, labels = synthetic_reports(per_category=15, seed=11)
    rows = [
        ["编号", "text", "category"],
        *([str(i), t, y] for i, (t, y) in enumerate(zip(texts, labels, strict=True))),
    ]
    rows += [["x1", "没有分类的留言", ""], ["x2", "", "城乡建设"], ["x3", "路灯不亮，\n第二行", "城乡建设"]]
    source = write_rows(folder / "train.csv", rows, encoding="utf-8-sig")
    result = invoke(
        "train",
        "--input",
        source,
        "--text-col",
        "text",
        "--label-col",
        "category",
        "--model",
        folder / "m.pkl",
    )
    assert result.exit_code == 0, result.output
    assert "skipped 1 without a label and 1 with empty text; training on 61" in result.output
    return folder / "m.pkl"


def test_predict_writes_one_row_per_input_row_in_order(model: Path, tmp_path: Path) -> None:
    texts = [
        "香港中路夜间施工噪音",
        "",
        '书院路"公交车不停站", 请处理',
        "学校违规补课\n还收费",
        "长江路井盖缺失",
    ]
    source = write_rows(tmp_path / "in.csv", [["id", "text"], *([str(i), t] for i, t in enumerate(texts))])
    out = tmp_path / "out" / "pred.csv"
    result = invoke("predict", "--model", model, "--input", source, "--text-col", "text", "--output", out)
    assert result.exit_code == 0, result.output
    rows = read_predictions(out)
    assert len(rows) == len(texts)
    assert list(rows[0]) == ["label", "confidence", "top3"]
    assert [rows[i]["label"] for i in (0, 2, 3, 4)] == ["环境保护", "交通运输", "教育文体", "城乡建设"]
    for row in rows:
        assert 0.0 <= float(row["confidence"]) <= 1.0
        top3 = row["top3"].split("|")
        assert len(top3) == 3 and top3[0] == row["label"]


@pytest.mark.parametrize("sep", ["\\t", "\t"])
def test_tsv_without_header_uses_column_positions(sep: str, tmp_path: Path) -> None:
    texts, labels = synthetic_reports(per_category=6, seed=12)
    rows = [[t, y] for t, y in zip(texts, labels, strict=True)]
    rows[0][0] = '"客户说网络很差' + rows[0][0]  # a stray quote must not swallow the following lines
    source = tmp_path / "train.tsv"
    source.write_text("".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    model = tmp_path / "m.pkl"
    trained = invoke(
        "train",
        "--input",
        source,
        "--sep",
        sep,
        "--no-header",
        "--text-col",
        "0",
        "--label-col",
        "1",
        "--model",
        model,
    )
    assert trained.exit_code == 0, trained.output
    assert f"training on {len(rows)}" in trained.output
    out = tmp_path / "pred.csv"
    result = invoke(
        "predict",
        "--model",
        model,
        "--input",
        source,
        "--sep",
        sep,
        "--no-header",
        "--text-col",
        "0",
        "--output",
        out,
    )
    assert result.exit_code == 0, result.output
    predicted = [row["label"] for row in read_predictions(out)]
    assert len(predicted) == len(rows)
    assert sum(p == y for p, y in zip(predicted, labels, strict=True)) >= 0.9 * len(rows)


def test_gb18030_input_is_read_with_a_warning(model: Path, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "gbk.csv", [["text"], ["餐馆油烟扰民"]], encoding="gb18030")
    out = tmp_path / "pred.csv"
    result = invoke("predict", "--model", model, "--input", source, "--text-col", "text", "--output", out)
    assert result.exit_code == 0, result.output
    assert "GB18030" in result.output
    assert read_predictions(out)[0]["label"] == "环境保护"


def assert_fails(result: Result, *message: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a traceback
    for part in message:
        assert part in result.output


def test_unknown_column_is_an_error_naming_the_columns(model: Path, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.csv", [["id", "text"], ["1", "路灯不亮"]])
    result = invoke(
        "predict", "--model", model, "--input", source, "--text-col", "body", "--output", tmp_path / "p.csv"
    )
    assert_fails(result, "no column 'body'", "'id', 'text'")
    result = invoke(
        "train",
        "--input",
        source,
        "--text-col",
        "text",
        "--label-col",
        "category",
        "--model",
        tmp_path / "m.pkl",
    )
    assert_fails(result, "no column 'category'")
    assert not (tmp_path / "m.pkl").exists()


def test_unreadable_inputs_are_errors(model: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    out = tmp_path / "p.csv"
    assert_fails(
        invoke("predict", "--model", model, "--input", missing, "--text-col", "text", "--output", out),
        "no such file",
    )
    source = write_rows(tmp_path / "in.csv", [["text"], ["路灯不亮"]])
    assert_fails(
        invoke("predict", "--model", source, "--input", source, "--text-col", "text", "--output", out),
        "not a cityhub dispatch model",
    )
    assert_fails(
        invoke(
            "predict",
            "--model",
            tmp_path / "none.pkl",
            "--input",
            source,
            "--text-col",
            "text",
            "--output",
            out,
        ),
        "no such model file",
    )
    assert_fails(
        invoke(
            "predict",
            "--model",
            model,
            "--input",
            source,
            "--no-header",
            "--text-col",
            "text",
            "--output",
            out,
        ),
        "0-based positions",
    )
    assert_fails(
        invoke(
            "predict",
            "--model",
            model,
            "--input",
            source,
            "--sep",
            "::",
            "--text-col",
            "text",
            "--output",
            out,
        ),
        "--sep must be one character",
    )
    assert not out.exists()


def test_training_on_one_category_is_an_error(tmp_path: Path) -> None:
    source = write_rows(
        tmp_path / "one.csv", [["text", "label"], ["路灯不亮", "城乡建设"], ["井盖缺失", "城乡建设"]]
    )
    result = invoke(
        "train",
        "--input",
        source,
        "--text-col",
        "text",
        "--label-col",
        "label",
        "--model",
        tmp_path / "m.pkl",
    )
    assert_fails(result, "two different categories")
