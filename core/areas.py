"""The district's communes, loaded from a data file another district can replace."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Area:
    """One commune or town: a stable code and its display name."""

    code: str
    name: str


@dataclass(frozen=True)
class AreaCatalog:
    """The communes of one district, in display order."""

    district: str
    areas: tuple[Area, ...]

    def get(self, code: str) -> Area | None:
        """The area with this code, or None."""
        return next((area for area in self.areas if area.code == code), None)

    def name(self, code: str) -> str:
        """Display name for a code (the code itself if unknown)."""
        area = self.get(code)
        return area.name if area else code


def in_sentence(name: str) -> str:
    """A place name inside a sentence: "Xã Tân Hà" → "xã Tân Hà", "Huyện Tân Châu" → "huyện…"."""
    return name[:1].lower() + name[1:]


def load_areas(path: Path | None = None) -> AreaCatalog:
    """Read the area file (default: Tân Châu district, Tây Ninh) and check it."""
    raw = (
        path.read_text("utf-8")
        if path
        else (resources.files("core").joinpath("data/areas.json").read_text("utf-8"))
    )
    data = json.loads(raw)
    areas = tuple(Area(code=str(a["code"]), name=str(a["name"])) for a in data["areas"])
    codes = [area.code for area in areas]
    if not areas or len(set(codes)) != len(codes):
        raise ValueError("area file needs at least one area and unique codes")
    return AreaCatalog(district=str(data["district"]), areas=areas)
