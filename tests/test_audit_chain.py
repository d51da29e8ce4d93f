"""The audit trail is a chain sealed with AUDIT_KEY: `python -m bot audit verify` proves it
intact, and names the first entry of a forged, changed, shortened or re-hashed trail."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import Awaitable, Callable

import pytest
from pymongo import AsyncMongoClient

from core.audit import GENESIS, canonical
from core.clock import FixedClock
from core.models import AuditEntry
from storage.database import Storage
from storage.documents import Document, without_id
from tests.chat import User
from tests.conftest import TEST_AUDIT_KEY
from tests.test_casework import a_case, chat_of
from tests.test_staff import Done


async def audit_verify(mongo_uri: str, storage: Storage, key: str = TEST_AUDIT_KEY) -> Done:
    """Run `python -m bot audit verify` against the test database, as an operator would."""
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": storage.db.name,
        "TELEGRAM_BOT_TOKEN": "",
        "ZALO_BOT_TOKEN": "",
        "AUDIT_KEY": key,
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "audit", "verify"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return Done(process.returncode or 0, stdout.decode(), stderr.decode())


async def some_entries(storage: Storage, count: int = 5) -> None:
    """`count` entries of an officer reading case files, through the repository."""
    for n in range(1, count + 1):
        await storage.audit.append("telegram:200002", "case.view", True, f"c{n}", person=f"p{n}")


async def test_real_commands_chain_verify_and_a_forged_entry_is_named(
    officer: User, user: User, storage: Storage, mongo_uri: str, clock: FixedClock
) -> None:
    case = await a_case(storage, 4, chat_of(officer))
    await officer.says("/case 4")
    await officer.says("/cases")
    await user.says("/audit")  # a stranger: refused, and recorded too
    intact = await audit_verify(mongo_uri, storage)
    assert intact.returncode == 0, intact.stderr
    seq, head = await storage.audit.head()
    assert seq == 3 and intact.stdout.strip() == f"audit chain intact: 3 entries, head {head}"

    # Someone with database access writes an entry of their own: they cannot seal it.
    forged = AuditEntry(
        seq=4,
        at=clock.now(),
        actor="telegram:200002",
        action="case.view",
        allowed=True,
        target=case.id,
        person=case.person_id,
        prev_hash=head,
        hash=hashlib.sha256(b"made up").hexdigest(),
    )
    await storage.db["audit"].insert_one(forged.model_dump())
    broken = await audit_verify(mongo_uri, storage)
    assert broken.returncode == 1
    assert broken.stderr.strip() == (
        "audit chain broken at entry 4: its hash does not match its content "
        "(changed, or sealed with another key)"
    )


async def changed_details(storage: Storage) -> None:
    await storage.db["audit"].update_one({"seq": 3}, {"$set": {"details": {"why": "nothing"}}})


async def deleted(storage: Storage) -> None:
    await storage.db["audit"].delete_one({"seq": 3})


async def rehashed_without_the_key(storage: Storage) -> None:
    """Rewrite entry 3 and re-hash the chain from there as SHA-256 (the key is elsewhere)."""
    audit = storage.db["audit"]
    await audit.update_one({"seq": 3}, {"$set": {"person": "someone-else"}})
    previous = await audit.find_one({"seq": 2})
    assert previous is not None
    prev_hash = str(previous["hash"])
    for seq in range(3, 6):
        document = await audit.find_one({"seq": seq})
        assert document is not None
        entry = AuditEntry.model_validate(without_id(document))
        entry.prev_hash = prev_hash
        prev_hash = hashlib.sha256(f"{prev_hash}{canonical(entry)}".encode()).hexdigest()
        await audit.update_one(
            {"seq": seq}, {"$set": {"prev_hash": entry.prev_hash, "hash": prev_hash}}
        )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            changed_details,
            "its hash does not match its content (changed, or sealed with another key)",
        ),
        (deleted, "entry 3 is missing (next found is 4)"),
        (
            rehashed_without_the_key,
            "its hash is a plain SHA-256, not sealed with AUDIT_KEY (written without the key)",
        ),
    ],
)
async def test_a_tampered_trail_fails_verification_naming_the_entry(
    storage: Storage,
    mongo_uri: str,
    tamper: Callable[[Storage], Awaitable[None]],
    reason: str,
) -> None:
    await storage.ensure_indexes()
    await some_entries(storage)
    assert (await audit_verify(mongo_uri, storage)).returncode == 0
    await tamper(storage)
    broken = await audit_verify(mongo_uri, storage)
    assert broken.returncode == 1
    assert broken.stderr.strip() == f"audit chain broken at entry 3: {reason}"


async def test_a_trail_checked_with_another_key_does_not_verify(
    storage: Storage, mongo_uri: str
) -> None:
    await some_entries(storage, 2)
    other = await audit_verify(mongo_uri, storage, key="another-audit-key-0123456789-abcdefghij")
    assert other.returncode == 1 and "broken at entry 1: its hash does not match" in other.stderr


async def test_verification_streams_in_windows_and_finds_a_hole_past_the_last_one(
    storage: Storage,
) -> None:
    await storage.ensure_indexes()
    await some_entries(storage, 12)
    verdict = await storage.audit.verify(batch=5)
    seq, head = await storage.audit.head()
    assert (verdict.intact, verdict.count, verdict.head) == (True, 12, head) and seq == 12
    # A whole window missing, and more entries after it: the first missing one is named.
    await storage.db["audit"].delete_many({"seq": {"$gte": 5, "$lte": 11}})
    verdict = await storage.audit.verify(batch=5)
    assert (verdict.broken_at, verdict.reason) == (5, "entry 5 is missing (next found is 12)")


async def test_an_entry_outside_the_numbering_is_caught(storage: Storage) -> None:
    await some_entries(storage, 2)
    await storage.db["audit"].insert_one({"seq": "9", "actor": "nobody", "hash": "x"})
    verdict = await storage.audit.verify()
    assert verdict.broken_at == 3 and "stray entry" in verdict.reason


async def test_fifty_concurrent_appends_from_two_processes_still_verify(
    storage: Storage, mongo_uri: str, clock: FixedClock
) -> None:
    await storage.ensure_indexes()  # the unique seq index is what orders racing writers
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    other = Storage.over(client[storage.db.name], clock, TEST_AUDIT_KEY.encode())
    await asyncio.gather(
        *(
            (storage if n % 2 else other).audit.append(f"telegram:{n}", "case.view", True)
            for n in range(50)
        )
    )
    await client.close()
    verdict = await storage.audit.verify(batch=16)
    assert verdict.intact and verdict.count == 50
    assert (50, verdict.head) == await storage.audit.head()
    actors = {e.actor for e in await storage.audit.latest(50)}
    assert actors == {f"telegram:{n}" for n in range(50)}


async def test_an_empty_trail_is_intact(storage: Storage, mongo_uri: str) -> None:
    done = await audit_verify(mongo_uri, storage)
    assert (done.returncode, done.stdout.strip()) == (
        0,
        f"audit chain intact: 0 entries, head {GENESIS}",
    )
