"""Files staff sent from our upload page (Zalo bots receive no files), kept for a day.

They hold personal data: nothing serves them back over HTTP, and a TTL index drops them.
"""

from __future__ import annotations

from bson import Binary

from core.ports import Clock
from storage.documents import Database


class UploadsRepo:
    """The `uploads` collection: `_id` is the upload id the inbox event names."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._uploads = db["uploads"]
        self._clock = clock

    async def put(self, upload_id: str, data: bytes, filename: str, mime: str) -> None:
        """Store a file; storing the same id again keeps the first one."""
        document = {
            "data": Binary(data),
            "filename": filename,
            "mime": mime,
            "size": len(data),
            "at": self._clock.now(),
        }
        await self._uploads.update_one({"_id": upload_id}, {"$setOnInsert": document}, upsert=True)

    async def get(self, upload_id: str) -> tuple[bytes, str, str] | None:
        """Bytes, file name and MIME type of an upload, or None when unknown or expired."""
        document = await self._uploads.find_one({"_id": upload_id})
        if document is None:
            return None
        return bytes(document["data"]), str(document["filename"]), str(document["mime"])

    async def delete(self, upload_id: str) -> None:
        """Forget an upload (done with it)."""
        await self._uploads.delete_one({"_id": upload_id})
