"""Normalised selfies: one document each in `selfies` (a JPEG of at most 1280 px is a few
hundred kB, far below a document's 16 MB), so a selfie is stored in the same transaction as
its declaration and costs one insert."""

from __future__ import annotations

from collections.abc import Iterable

from bson import Binary
from pymongo.errors import DuplicateKeyError

from storage.documents import Database, Document


class PhotoRepo:
    """JPEG photos by the id the caller chose (storing the same id again changes nothing)."""

    def __init__(self, db: Database) -> None:
        self._photos = db["selfies"]

    @staticmethod
    def document(photo_id: str, jpeg: bytes, case_id: str) -> Document:
        """A photo as stored."""
        return {"_id": photo_id, "case_id": case_id, "jpeg": Binary(jpeg)}

    async def put(self, photo_id: str, jpeg: bytes, case_id: str) -> None:
        """Store a photo of a case under `photo_id`."""
        try:
            await self._photos.insert_one(self.document(photo_id, jpeg, case_id))
        except DuplicateKeyError:
            return

    async def get(self, photo_id: str) -> bytes | None:
        """The JPEG bytes, or None when the id is unknown."""
        found = await self._photos.find_one({"_id": photo_id})
        return bytes(found["jpeg"]) if found else None

    async def delete(self, photo_ids: Iterable[str]) -> int:
        """Erase photos; returns how many there were."""
        result = await self._photos.delete_many({"_id": {"$in": list(photo_ids)}})
        return result.deleted_count

    async def of_cases(self, case_ids: Iterable[str]) -> list[str]:
        """The ids of every photo of these cases (also one whose declaration never stored)."""
        cursor = self._photos.find({"case_id": {"$in": list(case_ids)}}, {"_id": 1})
        return [str(document["_id"]) async for document in cursor]
