"""Restricting domain tags as data (``tags.yaml``): which tags make a resource's sharing need the owner's
approval and which raise the smallest group an aggregate may release. ``cityhub.access.policy`` decides
with them; this module only reads and checks the file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel

TAGS_FILE = Path(__file__).with_name("tags.yaml")


class TagRule(BaseModel):
    """What one restricting tag does to a resource that carries it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meaning: str = Field(min_length=1)
    approval: bool = False
    min_k: int | None = Field(None, ge=2, le=1000)


class _TagFile(RootModel[dict[str, TagRule]]):
    pass


@cache
def restricting_tags() -> dict[str, TagRule]:
    """Tag → rule, from ``tags.yaml`` (read once)."""
    raw = yaml.safe_load(TAGS_FILE.read_text(encoding="utf-8")) or {}
    return dict(_TagFile.model_validate(raw).root)
