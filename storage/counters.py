"""Named counters in the `counters` collection (case numbers, outbox sequence blocks)."""

from __future__ import annotations

from contextlib import suppress

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from storage.documents import Collection, Document


async def increment(
    counters: Collection, name: str, by: int = 1, on_insert: Document | None = None
) -> int:
    """Add `by` to the counter `name` (created at 0) and return the new value.

    The increment never upserts: callers creating the same counter at once would race on the
    upsert, and SecantusDB may apply the loser's increment without returning it. A missing
    counter is inserted at 0 first (the loser of that race gets a harmless duplicate key),
    with the fields of `on_insert`.
    """
    for _ in range(2):
        counter = await counters.find_one_and_update(
            {"_id": name}, {"$inc": {"seq": by}}, return_document=ReturnDocument.AFTER
        )
        if counter is not None:
            return int(counter["seq"])
        with suppress(DuplicateKeyError):
            await counters.insert_one({"_id": name, "seq": 0, **(on_insert or {})})
    raise RuntimeError(f"counter {name!r} could not be incremented")
