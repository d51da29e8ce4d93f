"""Quarantine cases and their invitations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.models import Case, CaseStatus, ChatRef, Home, Invite, LabTest
from storage.counters import increment
from storage.documents import Database, Document, to_document, without_id

ACTIVE = {"status": CaseStatus.ACTIVE.value}
EXPORT_BATCH = 500


class CasesRepo:
    """The `cases` collection; `number` is a short, human-friendly case number."""

    def __init__(self, db: Database) -> None:
        self._cases = db["cases"]
        self._counters = db["counters"]

    async def next_number(self) -> int:
        """The next case number (1, 2, 3...)."""
        return await increment(self._counters, "cases")

    async def add(self, case: Case) -> Case | None:
        """Store a new case: the stored one (the same on a re-run), None if the person has one.

        One active case per person is a unique partial index, so two officers enrolling the
        same person at once get one case between them.
        """
        try:
            await self._cases.insert_one({"_id": case.id, **to_document(case)})
        except DuplicateKeyError:
            return await self.get(case.id)
        return case

    async def extend(self, case_id: str, end: date) -> Case | None:
        """Move an active case's last day; None when the case is no longer active."""
        return await self._change({"_id": case_id, **ACTIVE}, {"$set": {"end": end.isoformat()}})

    async def end(self, case_id: str, reason: str, at: datetime) -> Case | None:
        """End an active case now; None when it had ended already."""
        return await self._change({"_id": case_id, **ACTIVE}, {"$set": _ended(reason, at)})

    async def complete(self, case_id: str, day: date, at: datetime) -> bool:
        """End a case whose last day is `day` or earlier; False when it was extended or ended."""
        query = {"_id": case_id, **ACTIVE, "end": {"$lte": day.isoformat()}}
        return await self._change(query, {"$set": _ended("completed", at)}) is not None

    async def add_test(self, case_id: str, test: LabTest) -> bool:
        """Append a test result; False when the case is unknown."""
        return (
            await self._change({"_id": case_id}, {"$push": {"tests": to_document(test)}})
            is not None
        )

    async def set_reference(self, case_id: str, face: list[float], selfie_id: str) -> bool:
        """Set the reference face once, while the case is active: False when it has one."""
        query = {"_id": case_id, **ACTIVE, "reference_face": None}
        changes = {"reference_face": face, "reference_selfie": selfie_id}
        return await self._change(query, {"$set": changes}) is not None

    async def set_home(self, case_id: str, home: Home, first: bool = False) -> Case | None:
        """Set where the case is quarantined; with `first`, only while it has no home yet."""
        query = {"_id": case_id, **({"home": None} if first else {})}
        return await self._change(query, {"$set": {"home": to_document(home)}})

    async def confirm_home(self, case_id: str) -> Case | None:
        """Staff confirm the home the resident proposed; None when the case has none."""
        query = {"_id": case_id, "home": {"$ne": None}}
        return await self._change(query, {"$set": {"home.confirmed": True}})

    async def move_to_person(self, case_id: str, old: str, new: str) -> bool:
        """Put a case under another person's record; False when it was moved meanwhile."""
        query = {"_id": case_id, "person_id": old}
        return await self._change(query, {"$set": {"person_id": new}}) is not None

    async def move_staff_chat(self, old: ChatRef, new: ChatRef) -> int:
        """Send the pages of every case of chat `old` to `new` (a group became a supergroup)."""
        query = {"staff_chat.platform": old.platform.value, "staff_chat.chat_id": old.chat_id}
        result = await self._cases.update_many(query, {"$set": {"staff_chat": new.model_dump()}})
        return result.modified_count

    async def _change(self, query: Document, update: Document) -> Case | None:
        """Apply a conditional update; the case afterwards, or None when nothing matched."""
        document = await self._cases.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return _case(document)

    async def get(self, case_id: str) -> Case | None:
        """A case by id."""
        return _case(await self._cases.find_one({"_id": case_id}))

    async def by_number(self, number: int) -> Case | None:
        """A case by its number."""
        return _case(await self._cases.find_one({"number": number}))

    async def active_for_person(self, person_id: str) -> Case | None:
        """The person's active case, if any."""
        query = {"person_id": person_id, "status": CaseStatus.ACTIVE.value}
        return _case(await self._cases.find_one(query))

    async def add_proxy(self, case_id: str, person_id: str) -> Case | None:
        """Let a person declare for the case (once, however often it is asked)."""
        return await self._change({"_id": case_id}, {"$addToSet": {"proxies": person_id}})

    async def active_for_proxy(self, person_id: str) -> list[Case]:
        """The active cases a person declares for, by number."""
        query = {"proxies": person_id, "status": CaseStatus.ACTIVE.value}
        cursor = self._cases.find(query).sort("number", 1)
        return [Case.model_validate(without_id(document)) async for document in cursor]

    async def active(self, areas: Iterable[str] | None = None) -> list[Case]:
        """Active cases, in some areas or everywhere, by number."""
        query: dict[str, object] = {"status": CaseStatus.ACTIVE.value}
        if areas is not None:
            query["area"] = {"$in": list(areas)}
        cursor = self._cases.find(query).sort("number", 1)
        return [Case.model_validate(without_id(document)) async for document in cursor]

    async def of_area(self, area: str, batch: int = EXPORT_BATCH) -> AsyncIterator[list[Case]]:
        """Every case of a commune, active ones first, by number within a batch."""
        for status in CaseStatus:
            cursor = self._cases.find({"area": area, "status": status.value}, batch_size=batch)
            found: list[Case] = []
            async for document in cursor:
                found.append(Case.model_validate(without_id(document)))
                if len(found) == batch:
                    yield sorted(found, key=lambda case: case.number)
                    found = []
            if found:
                yield sorted(found, key=lambda case: case.number)

    async def ending_on(self, day: date) -> list[Case]:
        """Active cases whose last quarantine day is `day`."""
        query = {"status": CaseStatus.ACTIVE.value, "end": day.isoformat()}
        return [Case.model_validate(without_id(d)) async for d in self._cases.find(query)]


class InvitesRepo:
    """The `invites` collection: single use, looked up by id (deep link) or code (Zalo)."""

    def __init__(self, db: Database) -> None:
        self._invites = db["invites"]

    async def add(self, invite: Invite) -> Invite | None:
        """Store an invite: the stored one (the same on a re-run), None when its code is taken."""
        try:
            await self._invites.insert_one({"_id": invite.id, **to_document(invite)})
        except DuplicateKeyError:
            return await self.find(invite_id=invite.id)
        return invite

    async def find(self, invite_id: str | None = None, code: str | None = None) -> Invite | None:
        """An invite by id or by code."""
        query = {"_id": invite_id} if invite_id else {"code": code}
        document = without_id(await self._invites.find_one(query))
        return Invite.model_validate(document) if document else None

    async def claim(self, invite_id: str, by: str, now: datetime) -> Invite | None:
        """Take an unexpired invite for `by`, atomically; None when someone else has it.

        Claiming again by the same account is allowed: it finishes what it started.
        """
        document = await self._invites.find_one_and_update(
            {"_id": invite_id, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now, "used_by": by}},
            return_document=ReturnDocument.AFTER,
        ) or await self._invites.find_one({"_id": invite_id, "used_by": by})
        return Invite.model_validate(without_id(document)) if document else None


def _ended(reason: str, at: datetime) -> Document:
    """The changes that end a case; its face descriptor is not kept beyond the quarantine."""
    return {
        "status": CaseStatus.ENDED.value,
        "end_reason": reason,
        "ended_at": at,
        "reference_face": None,
    }


def _case(document: dict[str, object] | None) -> Case | None:
    document = without_id(document)
    return Case.model_validate(document) if document else None
