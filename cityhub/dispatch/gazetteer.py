"""The gazetteer: address text → district / street / community, by the city's own names.

Names come from the area tree (with their short forms: 市南区 → 市南, 香港中路街道 → 香港中路) and from
the ``places`` table (roads, landmarks, residential compounds with the area they lie in). The text is
cut by jieba with a user dictionary of exactly these names plus common municipal terms — out of the box
jieba cuts 香港中路 into 香港/中路 and 燃气管道 into 燃气管/道 — and each token that is a known name
becomes a *mention*. The mentions vote for the deepest area consistent with most of them, so 市北区
登州路 does not land on a 登州路 of another district, and an ambiguous name stays at the level where
the text agrees with itself.

With a point (GPS, a map pick) the point wins: the address only fills the levels the point leaves
open, and a disagreement is noted for the dispatcher (:func:`place`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import jieba
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.geo import service as geo
from cityhub.geo.crs import CRS, to_wgs84
from cityhub.kit import csvtext
from cityhub.kit.cache import PerDatabase
from cityhub.kit.errors import BadRequest, NotFound
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.dispatch import Place, PlaceKind

jieba.setLogLevel(logging.WARNING)

# Suffixes people drop when they write an area's name (市南区 → 市南); the rest must keep two characters.
SHORT_FORM_SUFFIXES = ("街道办事处", "街道", "社区居委会", "社区", "区", "市", "县", "镇", "乡")
# Municipal terms the default dictionary cuts wrongly, kept whole so they read as one word everywhere.
DOMAIN_WORDS = (
    "燃气管道",
    "供水管道",
    "供热管道",
    "排水管道",
    "污水管道",
    "雨水管道",
    "雨水篦子",
    "雨水井盖",
    "污水井盖",
    "检查井",
    "井盖",
    "路灯",
    "信号灯",
    "行道树",
    "人行道",
    "非机动车道",
    "占道经营",
    "违章搭建",
    "违章停放",
    "广场舞",
    "油烟净化",
    "渣土车",
    "脚手架",
    "二次供水",
    "暖气片",
    "消防通道",
    "飞线充电",
    "楼道灯",
    "小广告",
    "交叉口",
)
# How much a mention counts when the mentions vote: a full area name is the strongest evidence.
WEIGHT_FULL_NAME = 3.0
WEIGHT_SHORT_NAME = 2.0
WEIGHT_PLACE = 2.0
ADDRESS_LEVELS = (AreaLevel.DISTRICT, AreaLevel.STREET, AreaLevel.COMMUNITY)
RESOLVED_KEPT = 4096  # addresses remembered per index


# ---------------------------------------------------------------- the index


@dataclass(frozen=True)
class PlaceRef:
    """A gazetteer place named in the text."""

    id: int
    name: str
    kind: str
    area_id: int
    lon: float | None
    lat: float | None


@dataclass(frozen=True)
class Meaning:
    """One thing a name can mean: an area (directly, or as the area a place lies in)."""

    area_id: int
    weight: float
    place: PlaceRef | None = None


@dataclass(frozen=True)
class Node:
    id: int
    name: str
    level: AreaLevel
    parent_id: int | None


@dataclass
class Index:
    """Every name the city knows, what it can mean, and the area tree to check mentions against."""

    nodes: dict[int, Node] = field(default_factory=dict)
    names: dict[str, list[Meaning]] = field(default_factory=dict)
    # Addresses already resolved against this index (intake reads each address twice: to locate the
    # report and to explain its location). Bounded; dropped with the index when areas or places change.
    resolved: dict[str, AddressMatch] = field(default_factory=dict, repr=False, compare=False)

    def add(self, name: str, meaning: Meaning) -> None:
        if len(name) >= 2:
            self.names.setdefault(name, []).append(meaning)

    def chain(self, area_id: int) -> list[int]:
        """The area and its ancestors, deepest first."""
        out: list[int] = []
        node = self.nodes.get(area_id)
        while node is not None and len(out) < 8:
            out.append(node.id)
            node = self.nodes.get(node.parent_id) if node.parent_id is not None else None
        return out

    def depth(self, area_id: int) -> int:
        node = self.nodes.get(area_id)
        return node.level.depth if node else -1


def short_forms(name: str) -> list[str]:
    """市南区 → [市南]; 香港中路街道 → [香港中路]; names that would keep fewer than two characters: []."""
    for suffix in SHORT_FORM_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return [name[: -len(suffix)]]
    return []


def _build(session: Session) -> Index:
    index = Index()
    for area in session.execute(select(Area.id, Area.name, Area.level, Area.parent_id)):
        level = AreaLevel(area.level)
        index.nodes[area.id] = Node(area.id, area.name, level, area.parent_id)
        if level in ADDRESS_LEVELS:
            index.add(area.name, Meaning(area.id, WEIGHT_FULL_NAME))
            for short in short_forms(area.name):
                index.add(short, Meaning(area.id, WEIGHT_SHORT_NAME))
    for place in session.scalars(select(Place)):
        ref = PlaceRef(place.id, place.name, str(place.kind), place.area_id, place.lon, place.lat)
        for name in (place.name, *(place.aliases or ())):
            index.add(name, Meaning(place.area_id, WEIGHT_PLACE, ref))
    return index


class _Segmenter:
    """One jieba tokenizer for the process, with the city's names added to its dictionary as they appear."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokenizer: jieba.Tokenizer | None = None
        self._words: set[str] = set()

    def add_words(self, words: Iterable[str]) -> None:
        with self._lock:
            tokenizer = self._ready()
            for word in words:
                if word not in self._words and len(word) >= 2:
                    # The frequency that keeps the word whole against every way of cutting it.
                    tokenizer.add_word(word, freq=tokenizer.suggest_freq(word, tune=False))
                    self._words.add(word)

    def cut(self, text: str) -> list[str]:
        with self._lock:
            tokenizer = self._ready()
        # HMM off: no guessed words, only dictionary words (the names we know and ordinary Chinese).
        return [token for token in tokenizer.cut(text, HMM=False) if token.strip()]

    def warm(self) -> None:
        """Load the dictionary now (about a second of CPU) rather than in the first report's request."""
        with self._lock:
            self._ready()

    def _ready(self) -> jieba.Tokenizer:
        if self._tokenizer is None:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            self._tokenizer = tokenizer
            for word in DOMAIN_WORDS:
                tokenizer.add_word(word, freq=tokenizer.suggest_freq(word, tune=False))
            self._words.update(DOMAIN_WORDS)
        return self._tokenizer


segmenter = _Segmenter()


def _build_and_teach(session: Session) -> Index:
    index = _build(session)
    segmenter.add_words(index.names)
    return index


_cache = PerDatabase(_build_and_teach)


def index(session: Session) -> Index:
    return _cache.get(session)


def local_words(session: Session) -> list[str]:
    """The user dictionary: area names and short forms, places, municipal terms and category names.

    The text classifier gets the same words, so that it reads 香港中路 and 燃气管道 as the city does.
    """
    names = set(index(session).names) | set(DOMAIN_WORDS)
    names |= {name for name in session.scalars(select(Category.name)) if len(name) >= 2}
    return sorted(names)


def cut(session: Session, text: str) -> list[str]:
    """The text cut into words with the city's dictionary."""
    index(session)  # makes sure the city's names are in the dictionary
    return segmenter.cut(text)


# ---------------------------------------------------------------- address text → areas


@dataclass(frozen=True)
class AddressMatch:
    """What an address says: its areas by level, the places it names, and whether names were ambiguous."""

    areas: dict[AreaLevel, int]
    places: tuple[PlaceRef, ...] = ()
    mentions: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()

    def located(self) -> geo.Located:
        point = next((p for p in self.places if p.lon is not None and p.lat is not None), None)
        return geo.Located(dict(self.areas), point.lon if point else None, point.lat if point else None)


def resolve(session: Session, text: str | None) -> AddressMatch:
    """The areas an address names, by voting over the known names found in it (see the module doc)."""
    if not text or not text.strip():
        return AddressMatch({})
    idx = index(session)
    known = idx.resolved.get(text)
    if known is None:
        known = _resolve(idx, text)
        if len(idx.resolved) >= RESOLVED_KEPT:
            idx.resolved.clear()
        idx.resolved[text] = known
    return known


def _resolve(idx: Index, text: str) -> AddressMatch:
    mentions = [(token, idx.names[token]) for token in segmenter.cut(text) if token in idx.names]
    if not mentions:
        return AddressMatch({})
    best = _vote(idx, mentions)
    chain = idx.chain(best[0]) if len(best) == 1 else _common_ancestors(idx, best)
    areas = {idx.nodes[a].level: a for a in chain if idx.nodes[a].level in (*ADDRESS_LEVELS, AreaLevel.GRID)}
    places = _named_places(idx, mentions, chain)
    ambiguous = tuple(token for token, meanings in mentions if len(best) > 1 and len(meanings) > 1)
    return AddressMatch(areas, places, tuple(token for token, _ in mentions), ambiguous)


def _vote(idx: Index, mentions: Sequence[tuple[str, list[Meaning]]]) -> list[int]:
    """The best-supported areas, each mention counting once with its best agreeing weight.

    One area when the best are all on one line of the tree (the deepest of them wins); otherwise the
    deepest of each disagreeing branch, so that the caller keeps only what they have in common.
    """
    chains = {m.area_id: idx.chain(m.area_id) for _, meanings in mentions for m in meanings}

    def support(area_id: int) -> float:
        mine = chains[area_id]
        total = 0.0
        for _token, meanings in mentions:
            agreeing = [m.weight for m in meanings if m.area_id in mine or area_id in chains[m.area_id]]
            total += max(agreeing, default=0.0)
        return total

    scored = {area_id: support(area_id) for area_id in chains}
    top = max(scored.values())
    best = sorted((a for a, score in scored.items() if score == top), key=lambda a: (-idx.depth(a), a))
    return [a for a in best if not any(a != b and a in chains[b] for b in best)]


def _common_ancestors(idx: Index, area_ids: list[int]) -> list[int]:
    chains = [idx.chain(a) for a in area_ids]
    shared = set(chains[0]).intersection(*map(set, chains[1:]))
    return [a for a in chains[0] if a in shared]


def _named_places(
    idx: Index, mentions: Sequence[tuple[str, list[Meaning]]], chain: list[int]
) -> tuple[PlaceRef, ...]:
    """The places mentioned that lie around the chosen area (a road of its district) or inside it."""
    found: dict[int, PlaceRef] = {}
    for _token, meanings in mentions:
        for meaning in meanings:
            place = meaning.place
            if place is None:
                continue
            inside = len(meanings) == 1 and chain and chain[0] in idx.chain(place.area_id)
            if place.area_id in chain or inside:
                found.setdefault(place.id, place)
    return tuple(found.values())


# ---------------------------------------------------------------- point + address


@dataclass(frozen=True)
class Placement:
    """Where an event is: the combined areas, what the address said, and notes for the dispatcher."""

    located: geo.Located
    address: AddressMatch
    source: str  # point, address, point+address or none
    notes: tuple[str, ...] = ()


def place(session: Session, point: geo.Located | None, address: str | None) -> Placement:
    """The point wins; the address fills the levels the point leaves open; a disagreement is noted."""
    match = resolve(session, address)
    if point is None:
        source = "address" if match.areas else "none"
        return Placement(match.located(), match, source, _ambiguity(match))
    if not match.areas:
        return Placement(point, match, "point", _ambiguity(match))
    areas = dict(point.areas)
    idx = index(session)
    filled = _fill(idx, areas, match)
    notes = _disagreements(idx, point.areas, match) + _ambiguity(match)
    source = "point+address" if filled else "point"
    return Placement(geo.Located(areas, point.lon, point.lat), match, source, notes)


def locate(session: Session, point: geo.Located | None, address: str | None) -> geo.Located:
    """What intake stores: the point's areas, completed from the address (see :func:`place`)."""
    return place(session, point, address).located


def _fill(idx: Index, areas: dict[AreaLevel, int], match: AddressMatch) -> bool:
    """Copy the address's levels the point lacks, when they sit under the point's deepest area."""
    known = [areas[level] for level in ADDRESS_LEVELS if level in areas]
    filled = False
    for level in ADDRESS_LEVELS:
        if level in areas or level not in match.areas:
            continue
        candidate = match.areas[level]
        if not known or known[-1] in idx.chain(candidate):
            areas[level] = candidate
            filled = True
    return filled


def _disagreements(idx: Index, point: dict[AreaLevel, int], match: AddressMatch) -> tuple[str, ...]:
    for level in ADDRESS_LEVELS:
        said, found = match.areas.get(level), point.get(level)
        if said is not None and found is not None and said != found:
            said_name, found_name = idx.nodes[said].name, idx.nodes[found].name
            return (
                f"地址写的是{said_name}，坐标落在{found_name}，以坐标为准 "
                f"(the address says {said_name}, the point lies in {found_name}; the point wins)",
            )
    return ()


def _ambiguity(match: AddressMatch) -> tuple[str, ...]:
    if not match.ambiguous:
        return ()
    names = "、".join(match.ambiguous)
    return (f"地名不唯一：{names} (ambiguous names; located only as far as the text agrees)",)


# ---------------------------------------------------------------- maintaining places


@dataclass(frozen=True)
class PlaceIn:
    """A place to add or update: its name, kind, the code of the area it lies in, optional point."""

    name: str
    kind: PlaceKind
    area_code: str
    lon: float | None = None
    lat: float | None = None
    crs: CRS = CRS.WGS84
    aliases: tuple[str, ...] = ()


def add_places(session: Session, rows: Iterable[PlaceIn], *, source: str = "import") -> list[Place]:
    """Insert or update places by (name, area); a point is converted to WGS-84."""
    areas = {code: area_id for code, area_id in session.execute(select(Area.code, Area.id))}
    existing = {(p.name, p.area_id): p for p in session.scalars(select(Place))}
    saved: list[Place] = []
    for row in rows:
        area_id = areas.get(row.area_code)
        if area_id is None:
            raise BadRequest(f"place {row.name!r}: no area with code {row.area_code!r}")
        found = existing.get((row.name, area_id))
        entry = found or Place(name=row.name, area_id=area_id)
        entry.kind, entry.aliases, entry.source = row.kind, list(row.aliases), source
        entry.lon, entry.lat = _wgs84(row)
        if found is None:
            session.add(entry)
            existing[(row.name, area_id)] = entry
        saved.append(entry)
    session.flush()
    return saved


def _wgs84(row: PlaceIn) -> tuple[float | None, float | None]:
    if row.lon is None or row.lat is None:
        return None, None
    try:
        return to_wgs84(row.lon, row.lat, row.crs)
    except ValueError as exc:
        raise BadRequest(f"place {row.name!r}: {exc}") from exc


CSV_COLUMNS = ("name", "kind", "area_code")


def parse_csv(text: str) -> list[PlaceIn]:
    """``name,kind,area_code[,lon,lat,crs,aliases]`` with a header row; aliases separated by ``|``."""
    reader = csvtext.records(text)
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BadRequest(f"the places CSV needs the columns {', '.join(CSV_COLUMNS)}; missing {missing}")
    return [_row(line, raw) for line, raw in enumerate(reader, start=2)]


def _row(line: int, raw: dict[str, str | None]) -> PlaceIn:
    def cell(name: str) -> str:
        return (raw.get(name) or "").strip()

    name, kind = cell("name"), cell("kind") or PlaceKind.ROAD.value
    if not name or len(name) > 100:
        raise BadRequest(f"line {line}: name must have 1–100 characters")
    try:
        return PlaceIn(
            name=name,
            kind=PlaceKind(kind),
            area_code=cell("area_code"),
            lon=float(cell("lon")) if cell("lon") else None,
            lat=float(cell("lat")) if cell("lat") else None,
            crs=CRS(cell("crs") or CRS.WGS84.value),
            aliases=tuple(a.strip() for a in cell("aliases").split("|") if 2 <= len(a.strip()) <= 100),
        )
    except ValueError as exc:
        raise BadRequest(f"line {line}: {exc}") from exc


def list_places(session: Session, *, q: str | None = None, limit: int = 100, offset: int = 0) -> list[Place]:
    stmt = select(Place).order_by(Place.name, Place.id)
    if q:
        stmt = stmt.where(Place.name.contains(q, autoescape=True))
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def delete_place(session: Session, place_id: int) -> None:
    entry = session.get(Place, place_id)
    if entry is None:
        raise NotFound(f"no place {place_id}")
    session.delete(entry)
    session.flush()
