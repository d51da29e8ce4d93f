"""Named counters in the `counters` collection (case numbers, outbox sequence blocks)."""

from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from storage.documents import Collection


async def increment(counters: Collection, name: str, by: int = 1) -> int:
    """Add `by` to the counter `name` (created at 0) and return the new value.

    Callers creating the same counter at once race on the upsert: the loser gets a duplicate
    key error (MongoDB) or no document (SecantusDB, which may have applied the increment);
    by then the counter exists, so one more increment settles it. Values are unique but may
    skip numbers.
    """
    for _ in range(2):
        try:
            counter = await counters.find_one_and_update(
                {"_id": name},
                {"$inc": {"seq": by}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            continue
        if counter is not None:
            return int(counter["seq"])
    raise RuntimeError(f"counter {name!r} could not be incremented")
