"""Single-use invitations to a staff role."""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.models import StaffInvite
from storage.documents import Database, to_document, without_id


class StaffInvitesRepo:
    """The `staff_invites` collection: looked up by id (deep link) or code (typed on Zalo)."""

    def __init__(self, db: Database) -> None:
        self._invites = db["staff_invites"]

    async def add(self, invite: StaffInvite) -> StaffInvite | None:
        """Store an invite: the stored one (the same on a re-run), None when its code is taken."""
        try:
            await self._invites.insert_one({"_id": invite.id, **to_document(invite)})
        except DuplicateKeyError:
            return await self.find(invite_id=invite.id)
        return invite

    async def find(
        self, invite_id: str | None = None, code: str | None = None
    ) -> StaffInvite | None:
        """An invite by id or by code."""
        query = {"_id": invite_id} if invite_id else {"code": code}
        document = without_id(await self._invites.find_one(query))
        return StaffInvite.model_validate(document) if document else None

    async def claim(
        self, invite_id: str, by: str, update: str, now: datetime
    ) -> StaffInvite | None:
        """Take an unused, unexpired invite for `by` atomically; None when it was used or
        expired (the update that claimed it may claim it again: it is being run again)."""
        document = await self._invites.find_one_and_update(
            {"_id": invite_id, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now, "used_by": by, "used_update": update}},
            return_document=ReturnDocument.AFTER,
        ) or await self._invites.find_one(
            {"_id": invite_id, "used_at": {"$ne": None}, "used_update": update}
        )
        return StaffInvite.model_validate(without_id(document)) if document else None
