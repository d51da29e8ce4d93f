"""Normalised selfies in the GridFS bucket `selfies`."""

from __future__ import annotations

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile

from storage.documents import Database

BUCKET = "selfies"


class PhotoRepo:
    """JPEG photos by id (the str of their GridFS ObjectId)."""

    def __init__(self, db: Database) -> None:
        self._bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)

    async def put(self, jpeg: bytes, metadata: dict[str, str]) -> str:
        """Store a photo and return its id."""
        file_id = await self._bucket.upload_from_stream(
            "selfie.jpg", jpeg, metadata={"contentType": "image/jpeg", **metadata}
        )
        return str(file_id)

    async def get(self, photo_id: str) -> bytes | None:
        """The JPEG bytes, or None when the id is unknown or malformed."""
        if not ObjectId.is_valid(photo_id):
            return None
        try:
            stream = await self._bucket.open_download_stream(ObjectId(photo_id))
        except NoFile:
            return None
        return await stream.read()
