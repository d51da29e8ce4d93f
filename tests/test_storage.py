"""Storage under concurrency: counters and the audit chain stay consistent."""

from __future__ import annotations

import asyncio

from storage.counters import increment
from storage.database import Storage


async def test_concurrent_increments_of_a_new_counter_are_all_distinct(storage: Storage) -> None:
    values = await asyncio.gather(*(increment(storage.db["counters"], "race") for _ in range(20)))
    assert len(set(values)) == 20 and min(values) >= 1  # racing upserts may leave gaps


async def test_concurrent_audit_entries_form_one_intact_chain(storage: Storage) -> None:
    await storage.ensure_indexes()  # the unique seq index is what orders racing writers
    await asyncio.gather(*(storage.audit.append(f"a{n}", "case.view", True) for n in range(20)))
    entries = list(reversed(await storage.audit.latest(20)))
    assert [e.seq for e in entries] == list(range(1, 21))
    assert (await storage.audit.verify()).intact
    assert {e.actor for e in entries} == {f"a{n}" for n in range(20)}
