"""Quarantine cases and their invitations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.models import Case, CaseStatus, Invite
from storage.counters import increment
from storage.documents import Database, to_document, without_id


class CasesRepo:
    """The `cases` collection; `number` is a short, human-friendly case number."""

    def __init__(self, db: Database) -> None:
        self._cases = db["cases"]
        self._counters = db["counters"]

    async def next_number(self) -> int:
        """The next case number (1, 2, 3...)."""
        return await increment(self._counters, "cases")

    async def add(self, case: Case) -> None:
        """Store a new case."""
        await self._cases.insert_one({"_id": case.id, **to_document(case)})

    async def save(self, case: Case) -> None:
        """Replace a case after a change (dates, status, tests, reference face)."""
        await self._cases.replace_one({"_id": case.id}, {"_id": case.id, **to_document(case)})

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

    async def active(self, areas: Iterable[str] | None = None) -> list[Case]:
        """Active cases, in some areas or everywhere, by number."""
        query: dict[str, object] = {"status": CaseStatus.ACTIVE.value}
        if areas is not None:
            query["area"] = {"$in": list(areas)}
        cursor = self._cases.find(query).sort("number", 1)
        return [Case.model_validate(without_id(document)) async for document in cursor]

    async def ending_on(self, day: date) -> list[Case]:
        """Active cases whose last quarantine day is `day`."""
        query = {"status": CaseStatus.ACTIVE.value, "end": day.isoformat()}
        return [Case.model_validate(without_id(d)) async for d in self._cases.find(query)]


class InvitesRepo:
    """The `invites` collection: single use, looked up by id (deep link) or code (Zalo)."""

    def __init__(self, db: Database) -> None:
        self._invites = db["invites"]

    async def add(self, invite: Invite) -> bool:
        """Store an invite; False when its code is taken (the caller draws another)."""
        try:
            await self._invites.insert_one({"_id": invite.id, **to_document(invite)})
        except DuplicateKeyError:
            return False
        return True

    async def find(self, invite_id: str | None = None, code: str | None = None) -> Invite | None:
        """An invite by id or by code."""
        query = {"_id": invite_id} if invite_id else {"code": code}
        document = without_id(await self._invites.find_one(query))
        return Invite.model_validate(document) if document else None

    async def claim(self, invite_id: str, by: str, now: datetime) -> Invite | None:
        """Mark an unused, unexpired invite used, atomically; None when that is not possible."""
        document = await self._invites.find_one_and_update(
            {"_id": invite_id, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now, "used_by": by}},
            return_document=ReturnDocument.AFTER,
        )
        return Invite.model_validate(without_id(document)) if document else None


def _case(document: dict[str, object] | None) -> Case | None:
    document = without_id(document)
    return Case.model_validate(document) if document else None
