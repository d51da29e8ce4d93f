"""Storage under concurrency: counters and the audit chain stay consistent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from storage.counters import increment
from storage.database import Storage

SWEEPER_INTERVAL = 60  # seconds: secantusdb's default `ttl_sweep_seconds`


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


async def test_the_test_server_keeps_what_a_simulated_day_stored(storage: Storage) -> None:
    # The server's TTL sweeper runs every 60 s by its real clock: left on, it deletes the
    # conversations and attempt counters of a simulated November day at once, mid-test.
    await storage.ensure_indexes()
    simulated = datetime(2026, 11, 28, tzinfo=UTC)  # expired by the real clock
    await storage.db["conversations"].insert_one({"_id": "ttl-probe", "expires_at": simulated})
    await asyncio.sleep(SWEEPER_INTERVAL + 5)
    assert await storage.db["conversations"].find_one({"_id": "ttl-probe"}) is not None
