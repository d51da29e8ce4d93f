"""Organisations and their QR checkpoints."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.models import Checkpoint, Organisation
from core.tokens import new_code
from storage.documents import Collection, Database, Document, to_document, without_id

M = TypeVar("M", bound=BaseModel)
LIVE = {"retired": False}


class _Records(Generic[M]):
    """Reads and conditional writes shared by organisations and checkpoints (few, small)."""

    def __init__(self, collection: Collection, model: type[M]) -> None:
        self._collection = collection
        self._model = model

    def _load(self, document: Document | None) -> M | None:
        document = without_id(document)
        return self._model.model_validate(document) if document else None

    async def _insert(self, record: M, record_id: str) -> None:
        await self._collection.insert_one({"_id": record_id, **to_document(record)})

    async def get(self, record_id: str) -> M | None:
        """A record by id."""
        return self._load(await self._collection.find_one({"_id": record_id}))

    async def _find(self, query: Document) -> list[M]:
        cursor = self._collection.find(query).sort("name", 1)
        return [self._model.model_validate(without_id(document)) async for document in cursor]

    async def _change(self, query: Document, update: Document) -> M | None:
        document = await self._collection.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return self._load(document)

    async def rename(self, record_id: str, name: str) -> M | None:
        """Give a live record a new name; None when it is unknown or retired."""
        return await self._change({"_id": record_id, **LIVE}, {"$set": {"name": name}})

    async def retire(self, record_id: str) -> M | None:
        """Take a record out of use for good (its posters stop working); None when unknown."""
        return await self._change({"_id": record_id}, {"$set": {"retired": True}})


class OrganisationsRepo(_Records[Organisation]):
    """The `orgs` collection."""

    def __init__(self, db: Database) -> None:
        super().__init__(db["orgs"], Organisation)

    async def add(self, org: Organisation) -> Organisation:
        """Store a new organisation: the stored one (the same on a re-run)."""
        try:
            await self._insert(org, org.id)
        except DuplicateKeyError:
            return await self.get(org.id) or org
        return org

    async def list(self, area: str | None = None) -> list[Organisation]:
        """Organisations of one area (None: all), live and retired, by name."""
        return await self._find({} if area is None else {"area": area})


class CheckpointsRepo(_Records[Checkpoint]):
    """The `checkpoints` collection; `code` is unique, for Zalo users to type."""

    def __init__(self, db: Database) -> None:
        super().__init__(db["checkpoints"], Checkpoint)

    async def add(self, checkpoint: Checkpoint) -> Checkpoint:
        """Store a new checkpoint, drawing another code while its code is taken.

        The stored one comes back (the same on a re-run with the same id).
        """
        while True:
            try:
                await self._insert(checkpoint, checkpoint.id)
                return checkpoint
            except DuplicateKeyError:
                if stored := await self.get(checkpoint.id):
                    return stored
                checkpoint = checkpoint.model_copy(update={"code": new_code()})

    async def by_code(self, code: str) -> Checkpoint | None:
        """A checkpoint by its short code."""
        return self._load(await self._collection.find_one({"code": code}))

    async def of_org(self, org_id: str) -> list[Checkpoint]:
        """An organisation's checkpoints, live and retired, by name."""
        return await self._find({"org_id": org_id})

    async def list(self, area: str | None = None) -> list[Checkpoint]:
        """Checkpoints of one area (None: all), by name."""
        return await self._find({} if area is None else {"area": area})

    async def revoke(self, checkpoint_id: str) -> Checkpoint | None:
        """Invalidate every printed poster of a live checkpoint: its version moves on and it
        gets a new code (posters print the code too)."""
        while True:
            try:
                update = {"$inc": {"version": 1}, "$set": {"code": new_code()}}
                return await self._change({"_id": checkpoint_id, **LIVE}, update)
            except DuplicateKeyError:  # that code was taken: draw another
                continue
