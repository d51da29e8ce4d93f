"""Contact tracing: the overlap rules, ranking, F2, and the visits repository's queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.models import Checkpoint, CheckpointKind, Visit
from core.tracing import (
    Contact,
    Shared,
    TraceRules,
    contacts,
    long_stretches,
    query_windows,
    trace,
)
from storage.database import Storage

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
RULES = TraceRules()
LATER = T0 + timedelta(days=1)
BUS = "bus000000001"


def visit(person: str, minutes: int, until: int | None, checkpoint: str = "gate00000001") -> Visit:
    """A visit of `person` from T0 + `minutes` to T0 + `until` (None: still open)."""
    return Visit(
        id=f"{person}-{checkpoint}-{minutes}",
        person_id=person,
        checkpoint_id=checkpoint,
        in_at=T0 + timedelta(minutes=minutes),
        due_at=T0 + timedelta(minutes=minutes, hours=12),
        out_at=None if until is None else T0 + timedelta(minutes=until),
    )


def traced(others: list[Visit], now: datetime = LATER, *sources: Visit) -> list[Contact]:
    """Contacts of the index visit 10:00-10:30 (or `sources`) among `others`."""
    index = list(sources) or [visit("index", 0, 30)]
    return contacts(index, [*index, *others], {BUS}, RULES, now)


def minutes_of(found: list[Contact]) -> dict[str, float]:
    """Each contact's total overlap."""
    return {contact.person_id: contact.minutes for contact in found}


@pytest.fixture
async def storage(storage: Storage) -> Storage:
    """The repositories, with their indexes (one open visit per person is one of them)."""
    await storage.ensure_indexes()
    return storage


def test_the_buffer_extends_the_visit_and_the_minimum_applies() -> None:
    found = traced([visit("gap10", 40, 60), visit("gap12", 42, 60), visit("before", -20, -10)])
    assert minutes_of(found) == {"gap10": 5.0, "before": 5.0}


def test_a_shared_bus_trip_always_counts() -> None:
    index = visit("index", 0, 30, BUS)
    others = [visit("brief", 29, 31, BUS), visit("next_trip", 42, 50, BUS)]
    assert minutes_of(traced(others, LATER, index)) == {"brief": 2.0}
    assert traced([visit("brief", 29, 31)]) == []  # the same elsewhere is too short


def test_open_visits_last_until_now_and_no_longer_than_the_longest_stay() -> None:
    open_visit = visit("open", 20, None)
    assert minutes_of(traced([open_visit], T0 + timedelta(minutes=25))) == {"open": 5.0}
    assert traced([open_visit], T0 + timedelta(minutes=22)) == []
    assert traced([visit("forgot", -13 * 60, None)]) == []  # taken to end 12 h after 21:00


def test_contacts_are_merged_per_person_and_ranked_by_total_minutes() -> None:
    sources = [visit("index", 0, 30), visit("index", 120, 150, "canteen00001")]
    others = [
        visit("colleague", 0, 30),
        visit("colleague", 120, 150, "canteen00001"),
        visit("passer", 10, 20),
        visit("elsewhere", 0, 30, "canteen00001"),
    ]
    found = traced(others, LATER, *sources)
    assert [(c.person_id, c.minutes) for c in found] == [("colleague", 60.0), ("passer", 10.0)]
    assert found[0].shared == (
        Shared("gate00000001", T0, T0 + timedelta(minutes=30)),
        Shared("canteen00001", T0 + timedelta(hours=2), T0 + timedelta(minutes=150)),
    )
    assert found[0].via == {"index"}


def test_query_windows_are_buffered_and_joined_when_close() -> None:
    visits = [visit("index", 0, 30), visit("index", 100, 110), visit("index", 200, 210)]
    windows = query_windows(visits, RULES, LATER)
    assert windows == [
        ("gate00000001", T0 - timedelta(minutes=15), T0 + timedelta(minutes=125)),
        ("gate00000001", T0 + timedelta(minutes=185), T0 + timedelta(minutes=225)),
    ]


async def test_trace_finds_f1_and_f2_excluding_the_index_and_f1s(storage: Storage) -> None:
    await storage.checkpoints.add(
        Checkpoint(
            id=BUS,
            org_id="org000000001",
            kind=CheckpointKind.BUS,
            name="Xe 51B-123.45",
            area="tan-ha",
            code="KB00000001",
            created_by="test",
            created_at=T0,
        )
    )
    scans = [
        visit("index", 0, 30),
        visit("b", 0, 30),
        visit("d", 10, 25),
        visit("night", -600, 20),  # began 10 h before: found by reaching back the longest stay
        visit("index", 60, 70, BUS),
        visit("e", 69, 71, BUS),  # two minutes, but on the bus
        visit("b", 240, 300, "canteen00001"),
        visit("d", 240, 260, "canteen00001"),  # an F1: not an F2
        visit("c", 250, 300, "canteen00001"),  # the F2
        visit("b", 400, 430, "office000001"),
        visit("index", 400, 430, "office000001"),  # the index person: not an F2
    ]
    for scan in scans:
        assert await storage.visits.check_in(scan) == scan
    result = await trace(storage.visits, storage.checkpoints, "index", 14, LATER, depth=2)
    assert [visit.id for visit in result.visits] == [s.id for s in scans if s.person_id == "index"]
    assert minutes_of(list(result.f1)) == {"b": 60.0, "night": 35.0, "d": 15.0, "e": 2.0}
    assert [(c.person_id, c.minutes, c.via) for c in result.f2] == [
        ("c", 50.0, frozenset({"b", "d"}))
    ]
    alone = await trace(storage.visits, storage.checkpoints, "index", 14, LATER)
    assert alone.f1 == result.f1 and alone.f2 == ()


async def test_one_open_visit_per_person_closed_once(storage: Storage) -> None:
    first = visit("p", 0, None)
    assert await storage.visits.check_in(first) == first
    assert await storage.visits.check_in(first) == first  # a re-run
    assert await storage.visits.check_in(visit("p", 5, None, "canteen00001")) is None
    assert await storage.visits.open_visit("p") == first
    out = T0 + timedelta(minutes=20)
    closed = await storage.visits.close(first, out, "scan")
    assert closed == first.model_copy(update={"out_at": out, "closed": "scan"})
    assert await storage.visits.close(first, out, "timeout") is None
    assert await storage.visits.open_visit("p") is None
    assert await storage.visits.check_in(visit("p", 30, None, "canteen00001")) is not None


async def test_queries_return_exactly_their_ranges(storage: Storage) -> None:
    scans = [visit("p", 0, 10), visit("p", 60, 70, "canteen00001"), visit("q", 30, 40)]
    for scan in scans:
        await storage.visits.check_in(scan)
    since = T0 + timedelta(minutes=1)
    assert await storage.visits.of_person("p", T0) == scans[:2]
    assert await storage.visits.of_person("p", since) == scans[1:2]


async def test_a_checkpoints_visits_reach_back_one_hour_or_the_longest_stay(
    storage: Storage,
) -> None:
    window = (T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    scans = [
        visit("short", 125, 130),  # began within the hour before the window
        visit("earlier", 110, 130),  # began over an hour before: cannot reach it
        visit("long", 0, 190),
        visit("open", 60, None),
        visit("ends", 240, 250),  # begins at the window's end
        visit("other", 125, 130, "canteen00001"),
        visit("closed", 30, None),
    ]
    for scan in scans:
        await storage.visits.check_in(scan)
    await storage.visits.close(scans[-1], T0 + timedelta(minutes=40), "scan")  # short now
    short = await storage.visits.short_at("gate00000001", *window)
    assert sorted(v.person_id for v in short) == ["short"]
    start, end = window
    found = await storage.visits.long_at("gate00000001", start - RULES.longest, end)
    assert sorted(v.person_id for v in found) == ["long", "open"]
    cut = await storage.visits.long_at("gate00000001", start - timedelta(hours=2), end)
    assert sorted(v.person_id for v in cut) == ["open"]


async def test_overdue_lists_open_visits_past_their_due_time(storage: Storage) -> None:
    scans = [visit("a", 0, None), visit("b", 60, None), visit("c", 0, 30)]
    for scan in scans:
        await storage.visits.check_in(scan)
    due = scans[0].due_at
    assert await storage.visits.overdue(due) == []
    assert await storage.visits.overdue(due + timedelta(seconds=1)) == scans[:1]
    later = due + timedelta(hours=2)
    assert sorted(v.person_id for v in await storage.visits.overdue(later)) == ["a", "b"]
    assert len(await storage.visits.overdue(later, limit=1)) == 1
    await storage.visits.close(scans[0], due, "timeout")
    assert await storage.visits.overdue(later) == scans[1:2]


def test_long_visits_are_asked_once_per_stretch_of_windows_a_long_stay_apart() -> None:
    day = timedelta(days=1)
    windows = [
        ("zone00000001", T0, T0 + timedelta(hours=8)),
        ("zone00000001", T0 + day, T0 + day + timedelta(hours=8)),  # 16 h later: one stretch
        ("zone00000001", T0 + 3 * day, T0 + 3 * day + timedelta(hours=1)),  # 40 h later
        ("gate00000001", T0, T0 + timedelta(minutes=30)),
    ]
    assert long_stretches(windows, timedelta(hours=12)) == [
        ("zone00000001", T0 - timedelta(hours=12), T0 + day + timedelta(hours=8)),
        ("zone00000001", T0 + 3 * day - timedelta(hours=12), T0 + 3 * day + timedelta(hours=1)),
        ("gate00000001", T0 - timedelta(hours=12), T0 + timedelta(minutes=30)),
    ]
