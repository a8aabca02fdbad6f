"""The category taxonomy: import from CSV (one column per level), look up by code, path or name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.kit import csvtext
from cityhub.kit.cache import PerDatabase
from cityhub.kit.errors import BadRequest, Unprocessable
from cityhub.kit.text import has_control
from cityhub.models.category import Category

SEPARATOR = "/"
T = TypeVar("T")


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
            if has_control(name):
                raise BadRequest(f"row {line}: category name {name!r} contains control characters")
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
    rows = list(csvtext.rows(text))
    if rows and any("分类" in cell or "level" in cell.lower() for cell in rows[0]):
        rows = rows[1:]
    if not rows:
        raise BadRequest("the taxonomy file has no rows")
    return import_rows(session, rows)


@dataclass(frozen=True)
class CategoryRef:
    id: int
    code: str
    name: str
    level: int
    parent_id: int | None
    path: str


@dataclass
class Taxonomy:
    """The whole taxonomy in memory (a few hundred rows): intake looks a category up on every report."""

    by_id: dict[int, CategoryRef] = field(default_factory=dict)
    by_key: dict[str, list[CategoryRef]] = field(default_factory=dict)  # code, path and name

    def add(self, category: CategoryRef) -> None:
        self.by_id[category.id] = category
        for key in {category.code, category.path, category.name}:
            self.by_key.setdefault(key, []).append(category)

    def path(self, category_id: int | None) -> str | None:
        found = self.by_id.get(category_id) if category_id is not None else None
        return found.path if found else None

    def lineage(self, category_id: int) -> list[int]:
        out: list[int] = []
        found = self.by_id.get(category_id)
        while found is not None and len(out) < 8:
            out.append(found.id)
            found = self.by_id.get(found.parent_id) if found.parent_id is not None else None
        return out or [category_id]


_COLUMNS = (Category.id, Category.code, Category.name, Category.level, Category.parent_id, Category.path)


def _build(session: Session) -> Taxonomy:
    taxonomy = Taxonomy()
    for row in session.execute(select(*_COLUMNS).order_by(Category.id)):
        taxonomy.add(CategoryRef(*row))
    return taxonomy


_cache = PerDatabase(_build)


def taxonomy(session: Session) -> Taxonomy:
    return _cache.get(session)


def find(session: Session, ref: str) -> CategoryRef:
    """A category by code (01.02.03), full path (城乡建设/安全生产/安全隐患) or unique name."""
    ref = ref.strip()
    matches = taxonomy(session).by_key.get(ref, [])
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        exact = [c for c in matches if c.code == ref or c.path == ref]
        if exact:
            return exact[0]
        raise BadRequest(f"category {ref!r} is ambiguous; give its code or full path")
    # Every caller names the category in a request's body or a command's option, not in a path.
    raise Unprocessable(f"no category {ref!r}: give a code, full path or name of the taxonomy")


def along_lineage(
    by_category: Mapping[int | None, Sequence[T]], lineage: Sequence[int]
) -> Iterator[tuple[int, T]]:
    """The rows kept for each category of ``lineage`` (deepest first), then those for any category
    (``None``), each with how specific its match is: ``len(lineage)`` for the deepest, 0 for any."""
    for depth, category in enumerate(lineage):
        for row in by_category.get(category, ()):
            yield len(lineage) - depth, row
    for row in by_category.get(None, ()):
        yield 0, row


def lineage(session: Session, category_id: int | None) -> list[int]:
    """The category and its ancestors, deepest first."""
    return [] if category_id is None else taxonomy(session).lineage(category_id)
