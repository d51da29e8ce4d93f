"""Contact tracing: who shared a checkpoint with a person, when, and for how long."""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import CheckpointKind, Visit
from core.ports import Checkpoints, Visits

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class TraceRules:
    """How close in time two visits must be to make a contact."""

    buffer: timedelta = timedelta(minutes=15)  # added before and after the traced visit
    minimum: timedelta = timedelta(minutes=5)  # shortest overlap that counts (not on a bus)
    longest: timedelta = timedelta(hours=12)  # no visit is taken to last longer
    join: timedelta = timedelta(hours=1)  # windows this close are one query (storage's SHORT_STAY)


@dataclass(frozen=True)
class Shared:
    """A time a contact and a traced person were at the same checkpoint."""

    checkpoint_id: str
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        """How long it lasted."""
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class Contact:
    """A person who shared places with traced people (`via`), ranked by `minutes`."""

    person_id: str
    shared: tuple[Shared, ...]
    via: frozenset[str]

    @property
    def minutes(self) -> float:
        """Total overlap in minutes."""
        return sum(item.minutes for item in self.shared)


@dataclass(frozen=True)
class Trace:
    """A traced person's visits, their contacts (F1) and, at depth 2, their contacts' (F2)."""

    person_id: str
    visits: tuple[Visit, ...]
    f1: tuple[Contact, ...]
    f2: tuple[Contact, ...] = ()


def span(visit: Visit, rules: TraceRules, now: datetime) -> Interval:
    """When a visit was: [in, out], an open one until now, never longer than `rules.longest`."""
    return visit.in_at, min(visit.out_at or now, visit.in_at + rules.longest)


def reach(visit: Visit, rules: TraceRules, now: datetime) -> Interval:
    """The traced visit with its buffer before and after."""
    start, end = span(visit, rules, now)
    return start - rules.buffer, end + rules.buffer


def query_windows(
    visits: Iterable[Visit], rules: TraceRules, now: datetime
) -> list[tuple[str, datetime, datetime]]:
    """Per checkpoint, the merged times the visits reach (with their buffers)."""
    ranges: dict[str, list[Interval]] = defaultdict(list)
    for visit in visits:
        ranges[visit.checkpoint_id].append(reach(visit, rules, now))
    merged = ((cp, _merge(found, rules.join)) for cp, found in ranges.items())
    return [(cp, start, end) for cp, found in merged for start, end in found]


def contacts(
    sources: Iterable[Visit],
    candidates: Iterable[Visit],
    buses: Collection[str],
    rules: TraceRules,
    now: datetime,
    exclude: Collection[str] = (),
) -> list[Contact]:
    """Everyone among `candidates` whose visit overlapped a source visit at its checkpoint."""
    found: dict[str, dict[str, list[Interval]]] = defaultdict(lambda: defaultdict(list))
    via: dict[str, set[str]] = defaultdict(set)
    places = _places(candidates, rules, now)
    for source in sources:
        place = places.get(source.checkpoint_id)
        for other, shared in _overlaps(source, place, buses, rules, now):
            if other.person_id not in exclude and other.person_id != source.person_id:
                found[other.person_id][source.checkpoint_id].append(shared)
                via[other.person_id].add(source.person_id)
    ranked = [_contact(person, times, via[person]) for person, times in found.items()]
    return sorted(ranked, key=lambda contact: (-contact.minutes, contact.person_id))


async def trace(
    visits: Visits,
    checkpoints: Checkpoints,
    person_id: str,
    days: int,
    now: datetime,
    rules: TraceRules | None = None,
    depth: int = 1,
) -> Trace:
    """Trace a person over the last `days` days: F1, and F2 with `depth` 2."""
    rules = rules or TraceRules()
    since = now - timedelta(days=days)
    own = await visits.of_person(person_id, since)
    f1 = await _round(visits, checkpoints, own, rules, now, {person_id})
    if depth < 2:
        return Trace(person_id, tuple(own), tuple(f1))
    theirs = await asyncio.gather(*(visits.of_person(c.person_id, since) for c in f1))
    excluded = {person_id, *(contact.person_id for contact in f1)}
    sources = [visit for found in theirs for visit in found]
    f2 = await _round(visits, checkpoints, sources, rules, now, excluded)
    return Trace(person_id, tuple(own), tuple(f1), tuple(f2))


async def _round(
    visits: Visits,
    checkpoints: Checkpoints,
    sources: Sequence[Visit],
    rules: TraceRules,
    now: datetime,
    exclude: Collection[str],
) -> list[Contact]:
    """Short visits: one query per merged window; open or long ones: one query per stretch
    of windows less than the longest stay apart (their reach back overlaps anyway). Only
    indexed fields are queried; the overlaps are found in Python."""
    windows = query_windows(sources, rules, now)
    stretches = long_stretches(windows, rules.longest)
    found = await asyncio.gather(
        *(visits.short_at(*window) for window in windows),
        *(visits.long_at(*stretch) for stretch in stretches),
    )
    buses = await _buses(checkpoints, {checkpoint for checkpoint, _, _ in windows})
    candidates = {visit.id: visit for batch in found for visit in batch}
    return contacts(sources, candidates.values(), buses, rules, now, exclude)


def long_stretches(
    windows: Iterable[tuple[str, datetime, datetime]], longest: timedelta
) -> list[tuple[str, datetime, datetime]]:
    """Per checkpoint, the times when an open or long visit reaching into a window may have
    begun ([start - longest, end) of each), joined where they meet or are close."""
    reaches: dict[str, list[Interval]] = defaultdict(list)
    for checkpoint, start, end in windows:
        reaches[checkpoint].append((start - longest, end))
    return [
        (checkpoint, start, end)
        for checkpoint, found in reaches.items()
        for start, end in _merge(found, longest)
    ]


async def _buses(checkpoints: Checkpoints, ids: Iterable[str]) -> set[str]:
    """The checkpoints among `ids` that are buses (a shared trip always counts)."""
    found = await asyncio.gather(*(checkpoints.get(checkpoint) for checkpoint in ids))
    return {cp.id for cp in found if cp is not None and cp.kind == CheckpointKind.BUS}


@dataclass(frozen=True)
class _Place:
    """One checkpoint's candidate visits by start time, with their spans."""

    starts: list[datetime]
    visits: list[Visit]
    spans: list[Interval]
    longest: timedelta  # the longest span: how long before a visit another may have begun


def _places(visits: Iterable[Visit], rules: TraceRules, now: datetime) -> dict[str, _Place]:
    """Visits grouped per checkpoint, sorted for bisection."""
    grouped: dict[str, list[Visit]] = defaultdict(list)
    for visit in visits:
        grouped[visit.checkpoint_id].append(visit)
    places = {}
    for checkpoint, found in grouped.items():
        found.sort(key=lambda visit: visit.in_at)
        spans = [span(visit, rules, now) for visit in found]
        longest = max(end - start for start, end in spans)
        places[checkpoint] = _Place([visit.in_at for visit in found], found, spans, longest)
    return places


def _overlaps(
    source: Visit,
    place: _Place | None,
    buses: Collection[str],
    rules: TraceRules,
    now: datetime,
) -> Iterable[tuple[Visit, Interval]]:
    """The visits of `place` that overlap `source` enough, each with the time they shared."""
    if place is None:
        return
    start, end = reach(source, rules, now)
    bus = source.checkpoint_id in buses
    own = span(source, rules, now)
    first = bisect_left(place.starts, start - place.longest)
    for index in range(first, bisect_left(place.starts, end)):
        theirs = place.spans[index]
        shared = (max(start, theirs[0]), min(end, theirs[1]))
        if shared[1] - shared[0] >= rules.minimum or (bus and _meet(own, theirs)):
            yield place.visits[index], shared


def _meet(first: Interval, second: Interval) -> bool:
    """Whether two intervals share any time (a shared bus trip)."""
    return first[0] < second[1] and second[0] < first[1]


def _contact(person: str, places: dict[str, list[Interval]], via: set[str]) -> Contact:
    """A contact with its shared times merged per checkpoint, in time order."""
    shared = [Shared(cp, *interval) for cp, found in places.items() for interval in _merge(found)]
    return Contact(person, tuple(sorted(shared, key=lambda item: item.start)), frozenset(via))


def _merge(intervals: Iterable[Interval], gap: timedelta = timedelta(0)) -> list[Interval]:
    """Intervals that overlap or are less than `gap` apart, joined, in time order."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start < merged[-1][1] + gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
