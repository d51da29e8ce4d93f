"""The district's communes, loaded from a data file another district can replace."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from core.matching import fold


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

    def find(self, typed: str) -> Area | None:
        """The commune a typed code or name means ("tan-ha", "Xã Tân Hà", "tan ha"): case,
        accents and the kind word ("Xã", "Thị trấn") ignored; None when none or several do."""
        wanted = fold(typed)
        exact = [a for a in self.areas if wanted in (fold(a.code), fold(a.name))]
        bare = [a for a in self.areas if _bare(wanted) == _bare(fold(a.name))]
        found = exact or bare
        return found[0] if len(found) == 1 else None

    def named_in(self, text: str) -> list[Area]:
        """The communes a description names, one per comma- or semicolon-separated part
        ("Xã Tân Hội, huyện Tân Châu" → Tân Hội)."""
        parts = (part for piece in text.split(";") for part in piece.split(","))
        found = (self.find(part) for part in parts if part.strip())
        return list(dict.fromkeys(area for area in found if area is not None))

    def name(self, code: str) -> str:
        """Display name for a code (the code itself if unknown)."""
        area = self.get(code)
        return area.name if area else code


_KINDS = ("thi tran ", "xa ", "phuong ", "tt ")


def _bare(folded: str) -> str:
    """A folded commune name without its kind word."""
    kind = next((kind for kind in _KINDS if folded.startswith(kind)), "")
    return folded[len(kind) :].strip()


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
