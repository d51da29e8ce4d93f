"""Distances on the Earth and the "at the quarantine place" rule (pure, no I/O)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
MAX_ACCURACY_M = 500.0  # a phone fix vaguer than this cannot tell one house from the next
_COORDINATES = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Point:
    """A WGS 84 position in decimal degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"not a position on Earth: {self.lat}, {self.lon}")


def distance_m(a: Point, b: Point) -> float:
    """The great-circle (haversine) distance between two points, in metres."""
    phi_a, phi_b = math.radians(a.lat), math.radians(b.lat)
    d_phi, d_lambda = phi_b - phi_a, math.radians(b.lon - a.lon)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def allowed_m(radius_m: float, accuracy_m: float | None) -> float:
    """How far from home still counts as home: the radius widened by the fix's uncertainty.

    The widening is capped so that a vague fix (a phone indoors, without GPS) cannot make a
    resident kilometres away read as at home.
    """
    return radius_m + min(max(accuracy_m or 0.0, 0.0), MAX_ACCURACY_M)


def at_home(home: Point, here: Point, radius_m: float, accuracy_m: float | None) -> bool:
    """Whether `here` (reported with `accuracy_m`) is within the radius of `home`."""
    return distance_m(home, here) <= allowed_m(radius_m, accuracy_m)


class Check(StrEnum):
    """Whether a commune asks residents to confirm where they are with each declaration."""

    OFF = "off"
    ASK = "ask"  # offered, with a skip button
    REQUIRE = "require"  # no declaration without a location


@dataclass(frozen=True)
class LocationRules:
    """The location check's settings: a default mode, per-commune modes and the radius."""

    mode: Check = Check.ASK
    areas: tuple[tuple[str, Check], ...] = ()
    radius_m: float = 100.0

    def mode_for(self, area: str) -> Check:
        """The mode in one commune."""
        return dict(self.areas).get(area, self.mode)


def parse_areas(text: str) -> tuple[tuple[str, Check], ...]:
    """ "tan-hoi:require,suoi-day:off" → per-commune modes; raises ValueError when malformed."""
    modes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        area, sep, mode = item.partition(":")
        if not sep or not area.strip():
            raise ValueError(f"expected <commune code>:<off|ask|require>, got {item!r}")
        modes.append((area.strip(), Check(mode.strip())))
    return tuple(modes)


def parse_point(text: str) -> Point | None:
    """Typed coordinates such as "10.776, 106.700" (latitude first); None when not a position."""
    found = _COORDINATES.match(text)
    if found is None:
        return None
    try:
        return Point(float(found.group(1)), float(found.group(2)))
    except ValueError:
        return None
