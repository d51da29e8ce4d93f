"""Health declarations: one per (case, date, slot) for scheduled windows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pymongo.errors import DuplicateKeyError

from core.models import Ack, Declaration, Review
from storage.documents import Database, to_document, without_id


class DeclarationsRepo:
    """The `declarations` collection.

    `slot_key` is "<date>/<slot>" for scheduled declarations and "adhoc/<id>" otherwise, so a
    unique (case_id, slot_key) index allows one declaration per window. `needs_review` and
    `needs_ack` exist only while a flagged selfie or a symptom page waits for staff, which
    keeps those queues small, indexed and bounded.
    """

    def __init__(self, db: Database) -> None:
        self._declarations = db["declarations"]

    async def add(self, declaration: Declaration) -> bool:
        """Store a declaration; False when its window already has one."""
        slot = declaration.slot
        document = {
            "_id": declaration.id,
            **to_document(declaration),
            "slot_key": f"{declaration.local_date}/{slot}" if slot else f"adhoc/{declaration.id}",
        }
        if declaration.flags:
            document["needs_review"] = True
        if declaration.answers.symptomatic:
            document["needs_ack"] = True
        try:
            await self._declarations.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, declaration_id: str) -> Declaration | None:
        """A declaration by id."""
        return _declaration(await self._declarations.find_one({"_id": declaration_id}))

    async def by_receipt(self, receipt: str) -> Declaration | None:
        """A declaration by its receipt code."""
        return _declaration(await self._declarations.find_one({"receipt": receipt}))

    async def on_dates(self, case_ids: Iterable[str], days: Iterable[date]) -> list[Declaration]:
        """Declarations of some cases on some local dates, oldest first."""
        query = {
            "case_id": {"$in": list(case_ids)},
            "local_date": {"$in": [d.isoformat() for d in days]},
        }
        cursor = self._declarations.find(query).sort("submitted_at", 1)
        return [Declaration.model_validate(without_id(d)) async for d in cursor]

    async def declared_cases(self, day: date, slot: str) -> set[str]:
        """Ids of the cases that declared for a window (one indexed key lookup)."""
        cursor = self._declarations.find({"slot_key": f"{day}/{slot}"}, {"case_id": 1})
        return {str(document["case_id"]) async for document in cursor}

    async def hashes(self, case_id: str) -> list[int]:
        """Perceptual hashes of a case's earlier selfies."""
        cursor = self._declarations.find({"case_id": case_id, "dhash": {"$ne": ""}}, {"dhash": 1})
        return [int(str(document["dhash"]), 16) async for document in cursor]

    async def waiting_review(self, areas: Iterable[str] | None) -> list[Declaration]:
        """Flagged selfies no one has reviewed yet, oldest first."""
        return await self._waiting("needs_review", areas)

    async def waiting_ack(self, areas: Iterable[str] | None) -> list[Declaration]:
        """Symptom pages no one has acknowledged yet, oldest first."""
        return await self._waiting("needs_ack", areas)

    async def _waiting(self, flag: str, areas: Iterable[str] | None) -> list[Declaration]:
        query: dict[str, object] = {flag: True}
        if areas is not None:
            query["area"] = {"$in": list(areas)}
        cursor = self._declarations.find(query).sort("submitted_at", 1)
        return [Declaration.model_validate(without_id(d)) async for d in cursor]

    async def decide(self, declaration_id: str, review: Review) -> bool:
        """Record a review decision once; False when it was already decided."""
        result = await self._declarations.update_one(
            {"_id": declaration_id, "needs_review": True},
            {"$set": {"review": review.model_dump()}, "$unset": {"needs_review": ""}},
        )
        return result.modified_count == 1

    async def acknowledge(self, declaration_id: str, ack: Ack) -> bool:
        """Record that staff took over a symptom page; False when already acknowledged."""
        result = await self._declarations.update_one(
            {"_id": declaration_id, "needs_ack": True},
            {"$set": {"ack": ack.model_dump()}, "$unset": {"needs_ack": ""}},
        )
        return result.modified_count == 1


def _declaration(document: dict[str, object] | None) -> Declaration | None:
    document = without_id(document)
    if document is None:
        return None
    for internal in ("slot_key", "needs_review", "needs_ack"):
        document.pop(internal, None)
    return Declaration.model_validate(document)
