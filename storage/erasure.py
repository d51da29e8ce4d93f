"""Erasing a person: every record about them, in every collection, and a count of it.

What stays is an anonymised record of the erasure (when, and how many items of each kind)
and the audit trail, whose entries name people only by an id that now leads nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from core.models import (
    DAILY_NOTICE_PREFIX,
    ERASED_PROXY,
    REPORT_NOTICE_PREFIX,
    Account,
    report_photo_owner,
)
from storage.documents import Database
from storage.media import media_digest
from storage.photos import PhotoRepo
from storage.subscribers import SubscribersRepo


class ErasureRepo:
    """Deletes a person's data across collections; `erasures` keeps the anonymised records."""

    def __init__(self, db: Database, photos: PhotoRepo) -> None:
        self._db = db
        self._photos = photos

    async def request(self, person_id: str, at: datetime) -> None:
        """Remember to erase the person once their active case has ended."""
        await self._db["people"].update_one(
            {"_id": person_id}, {"$set": {"erasure_requested_at": at}}
        )

    async def requested(self) -> list[str]:
        """People whose erasure waits (for their case to end)."""
        cursor = self._db["people"].find({"erasure_requested_at": {"$ne": None}}, {"_id": 1})
        return [str(document["_id"]) async for document in cursor]

    async def erase(
        self, person_id: str, accounts: Sequence[Account], at: datetime
    ) -> dict[str, int]:
        """Erase the person and all about them; returns how many items of each kind went."""
        db = self._db
        case_ids = [str(c["_id"]) async for c in db["cases"].find({"person_id": person_id})]
        declarations = [
            document async for document in db["declarations"].find({"case_id": {"$in": case_ids}})
        ]
        selfies = await self._photos.of_cases(case_ids)
        erased = {
            "accounts": len(accounts),
            "cases": len(case_ids),
            "declarations": len(declarations),
            "selfies": len(selfies),
            "visits": (await db["visits"].delete_many({"person_id": person_id})).deleted_count,
            "daily_checks": (
                await db["daily_checks"].delete_many({"person_id": person_id})
            ).deleted_count,
            "worker_entries": await self._erase_worker_entries(person_id),
            "cards": (await db["cards"].delete_many({"person_id": person_id})).deleted_count,
            "subscriptions": await SubscribersRepo(db).remove_person(person_id),
        }
        erased |= await self._erase_reports(person_id, accounts)
        erased["sent_copies"] = await self._erase_copies(selfies)
        await self._photos.delete(selfies)
        erased["messages"] = await self._erase_messages(accounts, [d["_id"] for d in declarations])
        await self._erase_conversations(accounts)
        await db["invites"].delete_many({"case_id": {"$in": case_ids}})
        await db["declarations"].delete_many({"case_id": {"$in": case_ids}})
        await db["cases"].delete_many({"person_id": person_id})
        await self._erase_proxy(person_id)
        for account in accounts:
            await db["channel_accounts"].delete_one(
                {"platform": account.platform.value, "user_id": account.user_id}
            )
        await db["people"].delete_one({"_id": person_id})
        await db["erasures"].insert_one({"at": at, "erased": erased})
        return erased

    async def _erase_reports(self, person_id: str, accounts: Sequence[Account]) -> dict[str, int]:
        """Their field reports, the photos sent with them (and drafts') and the notices."""
        reports, outbox = self._db["reports"], self._db["outbox"]
        chats = [{"platform": a.platform.value, "user_id": a.user_id} for a in accounts]
        mine = {"$or": [{"person_id": person_id}, *chats]}
        found = [document async for document in reports.find(mine, {"_id": 1, "photos": 1})]
        owners = [report_photo_owner(a.platform, a.user_id) for a in accounts]
        sent = (str(photo) for document in found for photo in document.get("photos", []))
        photos = list({*await self._photos.of_cases(owners), *sent})
        copies = await self._erase_copies(photos)
        await self._photos.delete(photos)
        notices = 0
        for document in found:
            prefix = f"^{re.escape(REPORT_NOTICE_PREFIX + str(document['_id']))}:"
            notices += (await outbox.delete_many({"key": {"$regex": prefix}})).deleted_count
        await reports.delete_many({"_id": {"$in": [document["_id"] for document in found]}})
        return {
            "reports": len(found),
            "report_photos": len(photos),
            "report_copies": copies,
            "report_messages": notices,
        }

    async def _erase_worker_entries(self, person_id: str) -> int:
        """The person's entries on organisations' worker lists: linked, or by their phone."""
        workers, person = self._db["workers"], await self._db["people"].find_one({"_id": person_id})
        removed = (await workers.delete_many({"person_id": person_id})).deleted_count
        if person is not None:
            removed += (await workers.delete_many({"phone": person["phone"]})).deleted_count
        return removed

    async def _erase_proxy(self, person_id: str) -> None:
        """A proxy's erasure leaves the cases they declared for without them, and no trace."""
        db = self._db
        served = [str(c["_id"]) async for c in db["cases"].find({"proxies": person_id})]
        await db["declarations"].update_many(
            {"case_id": {"$in": served}, "declared_by": person_id},
            {"$set": {"declared_by": ERASED_PROXY}},
        )
        await db["cases"].update_many({"proxies": person_id}, {"$pull": {"proxies": person_id}})

    async def _erase_copies(self, selfies: list[str]) -> int:
        """Copies of the selfies served to Zalo (pages to staff), found by their digest."""
        digests = []
        for photo_id in selfies:
            jpeg = await self._photos.get(photo_id)
            if jpeg is not None:
                digests.append(media_digest(jpeg))
        if not digests:
            return 0
        result = await self._db["media"].delete_many({"sha256": {"$in": digests}})
        return result.deleted_count

    async def _erase_messages(
        self, accounts: Sequence[Account], declaration_ids: list[object]
    ) -> int:
        """Messages to the person's chats, and the pages about them sent to staff."""
        outbox = self._db["outbox"]
        removed = 0
        for account in accounts:
            query = {"platform": account.platform.value, "chat_id": account.chat_id}
            removed += (await outbox.delete_many(query)).deleted_count
        pages = [f"page:{d}" for d in declaration_ids] + [
            f"page:{d}:photo" for d in declaration_ids
        ]
        for key in pages:
            removed += (await outbox.delete_one({"key": key})).deleted_count
        for person_id in {account.person_id for account in accounts}:
            # Staff were told of worrying daily declarations: "daily:<person>/<day>/<staff>".
            notices = {"key": {"$regex": f"^{DAILY_NOTICE_PREFIX}{person_id}/"}}
            removed += (await outbox.delete_many(notices)).deleted_count
        return removed

    async def _erase_conversations(self, accounts: Sequence[Account]) -> None:
        """Their conversation state, and updates of theirs still waiting in the inbox."""
        users = {(account.platform.value, account.user_id) for account in accounts}
        for platform, user_id in users:
            await self._db["conversations"].delete_one({"platform": platform, "user_id": user_id})
        async for entry in self._db["inbox"].find({"status": "new"}, {"platform": 1, "user_id": 1}):
            if (entry["platform"], entry["user_id"]) in users:
                await self._db["inbox"].update_one({"_id": entry["_id"]}, {"$unset": {"raw": ""}})
