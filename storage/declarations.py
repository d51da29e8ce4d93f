"""Health declarations: one per (case, date, slot) for scheduled windows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from core.imaging import BANDED_DISTANCE, hash_bands, hash_distance
from core.models import Ack, Declaration, OutgoingMessage, Review
from storage.documents import Database, Document, Session, to_document, without_id
from storage.outbox import OutboxRepo
from storage.photos import PhotoRepo

REUSE_WINDOW = timedelta(days=14)
# One equality per band plus a time range, on exactly these fields (DESIGN.md, query shapes).
HASH_BAND_INDEX = IndexModel([("dhash_bands", ASCENDING), ("submitted_at", ASCENDING)])


class DeclarationsRepo:
    """The `declarations` collection.

    `slot_key` is "<date>/<slot>" for scheduled declarations and "adhoc/<id>" otherwise, so a
    unique (case_id, slot_key) index allows one declaration per window. `dhash_bands` holds
    the selfie hash's bands, so a copy of another resident's photo is found by a few indexed
    lookups (`HASH_BAND_INDEX`) instead of a scan. `needs_review` and
    `needs_ack` exist only while a flagged selfie or a symptom page waits for staff, which
    keeps those queues small, indexed and bounded.
    """

    def __init__(self, db: Database, outbox: OutboxRepo) -> None:
        self._declarations = db["declarations"]
        self._photos = db["selfies"]
        self._outbox = outbox

    @staticmethod
    def document(declaration: Declaration) -> Document:
        """A declaration as stored, with the internal keys its indexes use."""
        return _document(declaration)

    async def add(
        self,
        declaration: Declaration,
        page: Sequence[OutgoingMessage] = (),
        selfie: bytes | None = None,
    ) -> Declaration | None:
        """Store a declaration, its selfie and its page to staff, in one transaction.

        Returns the stored declaration: the same one when this update runs again (its page,
        if still unacknowledged, queued again), None when its window already has another.
        """
        document = self.document(declaration)
        messages = await self._outbox.numbered(page)

        photo_id = declaration.selfie_id

        async def store(session: Session) -> None:
            if selfie is not None and photo_id is not None:
                photo = PhotoRepo.document(photo_id, selfie, declaration.case_id)
                await self._photos.insert_one(photo, session=session)
            await self._declarations.insert_one(document, session=session)
            await self._outbox.insert(messages, session)

        try:
            async with self._declarations.database.client.start_session() as session:
                await session.with_transaction(store)
        except DuplicateKeyError:
            existing = await self.get(declaration.id)  # None: another one has the window
            if existing is not None and existing.ack is None and page:
                await self._outbox.enqueue(page)
            return existing
        return declaration

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

    async def of_case(self, case_id: str) -> list[Declaration]:
        """Every declaration of a case, oldest first (one indexed key lookup)."""
        cursor = self._declarations.find({"case_id": case_id})
        found = [Declaration.model_validate(without_id(d)) async for d in cursor]
        return sorted(found, key=lambda declaration: declaration.submitted_at)

    async def declared_cases(self, day: date, slot: str) -> set[str]:
        """Ids of the cases that declared for a window (one indexed key lookup)."""
        cursor = self._declarations.find({"slot_key": f"{day}/{slot}"}, {"case_id": 1})
        return {str(document["case_id"]) async for document in cursor}

    async def hashes(self, case_id: str, excluding: str = "") -> list[int]:
        """Perceptual hashes of a case's selfies, but for one declaration's own; with that
        declaration, also those of other cases' selfies of the 14 days before it that are
        near its own."""
        cursor = self._declarations.find({"case_id": case_id}, {"dhash": 1})
        own = [
            int(str(document["dhash"]), 16)
            async for document in cursor
            if document.get("dhash") and document["_id"] != excluding
        ]
        found = await self._declarations.find_one(
            {"_id": excluding}, {"dhash": 1, "submitted_at": 1}
        )
        if not found or not found.get("dhash"):
            return own
        return own + await self._near_elsewhere(
            case_id, int(str(found["dhash"]), 16), found["submitted_at"]
        )

    async def _near_elsewhere(self, case_id: str, dhash: int, before: datetime) -> list[int]:
        """Hashes of other cases' recent selfies within BANDED_DISTANCE bits of `dhash`."""
        near: dict[str, int] = {}
        for band in hash_bands(dhash):
            query = {
                "dhash_bands": band,
                "submitted_at": {"$gte": before - REUSE_WINDOW, "$lt": before},
            }
            async for document in self._declarations.find(query, {"dhash": 1, "case_id": 1}):
                other = int(str(document["dhash"]), 16)
                if (
                    document["case_id"] != case_id
                    and hash_distance(dhash, other) <= BANDED_DISTANCE
                ):
                    near[str(document["_id"])] = other
        return list(near.values())

    async def checks_pending(self) -> list[Declaration]:
        """Declarations whose selfie has not been checked yet (a small, indexed set)."""
        cursor = self._declarations.find({"checks_pending": True})
        return [Declaration.model_validate(without_id(d)) async for d in cursor]

    async def checked(
        self, declaration_id: str, faces: int, distance: float | None, flags: list[str]
    ) -> bool:
        """Store the selfie check once, beside the flags found on arrival; flagged photos join
        the review queue."""
        changes: dict[str, object] = {"faces": faces, "face_distance": distance}
        update: dict[str, object] = {"$set": changes, "$unset": {"checks_pending": ""}}
        if flags:
            changes["needs_review"] = True
            update["$addToSet"] = {"flags": {"$each": flags}}
        result = await self._declarations.update_one(
            {"_id": declaration_id, "checks_pending": True}, update
        )
        return result.modified_count == 1

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
    for internal in ("slot_key", "needs_review", "needs_ack", "dhash_bands"):
        document.pop(internal, None)
    return Declaration.model_validate(document)


def _document(declaration: Declaration) -> Document:
    """A declaration as stored, with the internal keys its indexes use."""
    slot = declaration.slot
    document = {
        "_id": declaration.id,
        **to_document(declaration),
        "slot_key": f"{declaration.local_date}/{slot}" if slot else f"adhoc/{declaration.id}",
    }
    if declaration.dhash:
        document["dhash_bands"] = hash_bands(int(declaration.dhash, 16))
    if declaration.flags:
        document["needs_review"] = True
    if not declaration.checks_pending:
        del document["checks_pending"]
    if declaration.answers.symptomatic:
        document["needs_ack"] = True
    return document
