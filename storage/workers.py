"""Organisations' worker lists, by phone, and the worker records kept on people."""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument

from core.models import LabTest, Vaccination, Worker
from storage.documents import Database, to_document, without_id


class WorkersRepo:
    """The `workers` collection: `_id` is "<org id>/<phone>", one entry per person and list."""

    def __init__(self, db: Database) -> None:
        self._workers = db["workers"]

    async def upsert(self, worker: Worker) -> Worker:
        """Add a worker to a list or refresh the list's details (a re-import); the link to
        a person, once made, stays."""
        details = to_document(worker)
        kept = {
            key: details.pop(key) for key in ("person_id", "added_by", "added_at", "invited_at")
        }
        document = await self._workers.find_one_and_update(
            {"_id": worker.id},
            {"$set": details, "$setOnInsert": kept},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return Worker.model_validate(without_id(document))

    async def get(self, worker_id: str) -> Worker | None:
        """One entry of a list."""
        document = without_id(await self._workers.find_one({"_id": worker_id}))
        return Worker.model_validate(document) if document else None

    async def of_org(self, org_id: str) -> list[Worker]:
        """An organisation's list, by name."""
        cursor = self._workers.find({"org_id": org_id}).sort("name", 1)
        return [Worker.model_validate(without_id(document)) async for document in cursor]

    async def with_phone(self, phone: str) -> list[Worker]:
        """Every list entry for this phone (+84 form)."""
        cursor = self._workers.find({"phone": phone})
        return [Worker.model_validate(without_id(document)) async for document in cursor]

    async def invited(self, worker_id: str, at: datetime) -> bool:
        """Mark an entry's invitation sent; False when it had been sent already."""
        result = await self._workers.update_one(
            {"_id": worker_id, "invited_at": None}, {"$set": {"invited_at": at}}
        )
        return result.modified_count == 1

    async def link(self, worker_id: str, person_id: str) -> Worker | None:
        """Link an entry to the person who agreed: the linked entry, None if it was already."""
        document = await self._workers.find_one_and_update(
            {"_id": worker_id, "person_id": ""},
            {"$set": {"person_id": person_id}},
            return_document=ReturnDocument.AFTER,
        )
        return Worker.model_validate(without_id(document)) if document else None


def merged_records(
    tests: list[LabTest],
    vaccinations: list[Vaccination],
    new_tests: list[LabTest],
    new_vaccinations: list[Vaccination],
) -> tuple[list[LabTest], list[Vaccination]]:
    """Records with the new ones added, once each (a re-imported list adds nothing)."""
    test_keys = {(test.kind, test.on, test.result) for test in tests}
    dose_keys = {(dose.dose, dose.on) for dose in vaccinations}
    return (
        [*tests, *(t for t in new_tests if (t.kind, t.on, t.result) not in test_keys)],
        [*vaccinations, *(v for v in new_vaccinations if (v.dose, v.on) not in dose_keys)],
    )
