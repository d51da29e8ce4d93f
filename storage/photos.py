"""Normalised selfies in the GridFS bucket `selfies`."""

from __future__ import annotations

from collections.abc import Iterable

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile

from storage.documents import Database

BUCKET = "selfies"


class PhotoRepo:
    """JPEG photos by id: the id the caller chose, so storing again changes nothing."""

    def __init__(self, db: Database) -> None:
        self._bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)
        self._files = db[f"{BUCKET}.files"]

    async def put(self, photo_id: str, jpeg: bytes, metadata: dict[str, str]) -> None:
        """Store a photo under `photo_id` (nothing happens when it is stored already)."""
        if await self._files.find_one({"_id": photo_id}, {"_id": 1}):
            return
        await self._bucket.upload_from_stream_with_id(
            photo_id, "selfie.jpg", jpeg, metadata={"contentType": "image/jpeg", **metadata}
        )

    async def get(self, photo_id: str) -> bytes | None:
        """The JPEG bytes, or None when the id is unknown."""
        try:
            stream = await self._bucket.open_download_stream(photo_id)
        except NoFile:
            return None
        return await stream.read()

    async def delete(self, photo_ids: Iterable[str]) -> None:
        """Erase photos and their chunks (unknown ids are skipped)."""
        for photo_id in photo_ids:
            try:
                await self._bucket.delete(photo_id)
            except NoFile:
                continue
