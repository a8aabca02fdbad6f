"""The category taxonomy: import from CSV (one column per level), look up by code, path or name."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, bindparam, literal, or_, select
from sqlalchemy.orm import Session, aliased

from cityhub.kit.errors import BadRequest, NotFound
from cityhub.models.category import Category

SEPARATOR = "/"


def import_rows(session: Session, rows: Iterable[Sequence[str]]) -> int:
    """Each row lists the names from level 1 down (e.g. 城乡建设, 安全生产, 安全隐患); returns new count."""
    existing = {c.path: c for c in session.scalars(select(Category))}
    children: dict[int | None, int] = {}
    for c in existing.values():
        children[c.parent_id] = children.get(c.parent_id, 0) + 1
    created = 0
    for line, row in enumerate(rows, start=1):
        names = [name.strip() for name in row if name and name.strip()]
        if not names:
            continue
        parent: Category | None = None
        for level, name in enumerate(names, start=1):
            if SEPARATOR in name:
                raise BadRequest(f"row {line}: category name {name!r} must not contain {SEPARATOR!r}")
            path = SEPARATOR.join(names[:level])
            category = existing.get(path)
            if category is None:
                parent_id = parent.id if parent else None
                serial = children.get(parent_id, 0) + 1
                children[parent_id] = serial
                code = f"{parent.code}.{serial:02d}" if parent else f"{serial:02d}"
                category = Category(code=code, name=name, level=level, parent_id=parent_id, path=path)
                session.add(category)
                session.flush()
                existing[path] = category
                created += 1
            parent = category
    return created


def import_csv(session: Session, text: str) -> int:
    """Import a taxonomy CSV; a header row (一级分类,…) is detected and skipped."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = list(reader)
    if rows and any("分类" in cell or "level" in cell.lower() for cell in rows[0]):
        rows = rows[1:]
    if not rows:
        raise BadRequest("the taxonomy file has no rows")
    return import_rows(session, rows)


# Intake looks a category up and walks its lineage on every report: the statements are built once here
# (building a statement, a recursive one above all, costs more than SQLite takes to run it).
_BY_REF = (
    select(Category)
    .where(
        or_(
            Category.code == bindparam("ref"),
            Category.path == bindparam("ref"),
            Category.name == bindparam("ref"),
        )
    )
    .limit(2)
)


def _lineage_statement() -> Select[int]:
    up = (
        select(Category.id, Category.parent_id, literal(0).label("depth"))
        .where(Category.id == bindparam("category_id"))
        .cte("lineage", recursive=True)
    )
    parent = aliased(Category)
    up = up.union_all(select(parent.id, parent.parent_id, up.c.depth + 1).where(parent.id == up.c.parent_id))
    return select(up.c.id).order_by(up.c.depth)


_LINEAGE = _lineage_statement()


def find(session: Session, ref: str) -> Category:
    """A category by code (01.02.03), full path (城乡建设/安全生产/安全隐患) or unique name."""
    ref = ref.strip()
    matches = list(session.scalars(_BY_REF, {"ref": ref}))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        exact = [c for c in matches if c.code == ref or c.path == ref]
        if exact:
            return exact[0]
        raise BadRequest(f"category {ref!r} is ambiguous; give its code or full path")
    raise NotFound(f"no category {ref!r}")


def lineage(session: Session, category_id: int | None) -> list[int]:
    """The category and its ancestors, deepest first (remembered for the rest of the session's work)."""
    known: dict[int, list[int]] = session.info.setdefault("category_lineage", {})
    if category_id is None:
        return []
    if category_id not in known:
        # One recursive query up the tree (a taxonomy is three or four levels deep).
        found = list(session.scalars(_LINEAGE, {"category_id": category_id}))
        known[category_id] = found or [category_id]
    return list(known[category_id])
