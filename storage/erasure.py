"""A person's data across collections: erasing it (with a count), and reading it for their
export. `holdings` is the one list of where it lives, so the two cannot drift apart.

What stays is an anonymised record of the erasure (when, and how many items of each kind)
and the audit trail, whose entries name people only by an id that now leads nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from core.models import (
    DAILY_NOTICE_PREFIX,
    ERASED_PROXY,
    REPORT_NOTICE_PREFIX,
    Account,
    Card,
    Case,
    DailyCheck,
    Declaration,
    FieldReport,
    Subscriber,
    Visit,
    Worker,
    report_photo_owner,
)
from core.personal_data import PersonalRecords
from storage.documents import Database, Document, without_id
from storage.media import media_digest
from storage.photos import PhotoRepo

# Where records about a person live, and the model each is read as for their export.
KINDS: dict[str, tuple[str, type[BaseModel]]] = {
    "cases": ("cases", Case),
    "declarations": ("declarations", Declaration),
    "visits": ("visits", Visit),
    "daily_checks": ("daily_checks", DailyCheck),
    "workers": ("workers", Worker),
    "cards": ("cards", Card),
    "reports": ("reports", FieldReport),
    "subscriptions": ("subscribers", Subscriber),
}


def own_cases(person_id: str) -> Document:
    """The filter of a person's own quarantine cases."""
    return {"person_id": person_id}


def holdings(
    person_id: str, phone: str, case_ids: Sequence[str], accounts: Sequence[Account]
) -> dict[str, Document]:
    """Where a person's data lives: for each kind in `KINDS`, the filter that finds theirs.

    Declarations belong to the person's cases (a helper's for others are in others' cases);
    worker-list entries are linked or carry their phone; reports are linked or came from
    their chats before they registered.
    """
    chats = [{"platform": a.platform.value, "user_id": a.user_id} for a in accounts]
    return {
        "cases": own_cases(person_id),
        "declarations": {"case_id": {"$in": list(case_ids)}},
        "visits": {"person_id": person_id},
        "daily_checks": {"person_id": person_id},
        "workers": {"$or": [{"person_id": person_id}, *([{"phone": phone}] if phone else [])]},
        "cards": {"person_id": person_id},
        "reports": {"$or": [{"person_id": person_id}, *chats]},
        "subscriptions": {"person_id": person_id},
    }


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
        where, case_ids = await self._where(person_id, accounts)
        declarations = [
            document async for document in db["declarations"].find(where["declarations"])
        ]
        selfies = await self._photos.of_cases(case_ids)
        erased = {
            "accounts": len(accounts),
            "cases": len(case_ids),
            "declarations": len(declarations),
            "selfies": len(selfies),
            "visits": await self._delete(where, "visits"),
            "daily_checks": await self._delete(where, "daily_checks"),
            "worker_entries": await self._delete(where, "workers"),
            "cards": await self._delete(where, "cards"),
            "subscriptions": await self._delete(where, "subscriptions"),
        }
        erased |= await self._erase_reports(where["reports"], accounts)
        erased["sent_copies"] = await self._erase_copies(selfies)
        await self._photos.delete(selfies)
        erased["messages"] = await self._erase_messages(accounts, [d["_id"] for d in declarations])
        await self._erase_conversations(accounts)
        await db["invites"].delete_many({"case_id": {"$in": case_ids}})
        await db["declarations"].delete_many(where["declarations"])
        await db["cases"].delete_many(where["cases"])
        await self._erase_proxy(person_id)
        for account in accounts:
            await db["channel_accounts"].delete_one(
                {"platform": account.platform.value, "user_id": account.user_id}
            )
        await db["people"].delete_one({"_id": person_id})
        await db["erasures"].insert_one({"at": at, "erased": erased})
        return erased

    async def collect(self, person_id: str, accounts: Sequence[Account]) -> PersonalRecords | None:
        """Everything stored about the person, for their export; None if they are unknown."""
        db = self._db
        person = without_id(await db["people"].find_one({"_id": person_id}))
        if person is None:
            return None
        where, _ = await self._where(person_id, accounts)
        found: dict[str, list[BaseModel]] = {}
        for kind, (collection, model) in KINDS.items():
            cursor = db[collection].find(where[kind])
            found[kind] = [model.model_validate(without_id(d)) async for d in cursor]
        records = PersonalRecords.model_validate(
            {"person": person, "accounts": list(accounts), **found}
        )
        records.names = await self._names(records)
        records.helps_with = await db["cases"].count_documents({"proxies": person_id})
        return records

    async def _names(self, records: PersonalRecords) -> dict[str, str]:
        """The names of the checkpoints they visited and the organisations listing them."""
        places = {visit.checkpoint_id for visit in records.visits}
        orgs = {worker.org_id for worker in records.workers}
        names: dict[str, str] = {}
        for collection, ids in (("checkpoints", places), ("orgs", orgs)):
            async for document in self._db[collection].find({"_id": {"$in": list(ids)}}):
                names[str(document["_id"])] = str(document.get("name", ""))
        return names

    async def _where(
        self, person_id: str, accounts: Sequence[Account]
    ) -> tuple[dict[str, Document], list[str]]:
        """`holdings` of the person, and the ids of their own cases."""
        db = self._db
        person = await db["people"].find_one({"_id": person_id}, {"phone": 1}) or {}
        case_ids = [str(c["_id"]) async for c in db["cases"].find(own_cases(person_id))]
        return holdings(person_id, str(person.get("phone", "")), case_ids, accounts), case_ids

    async def _delete(self, where: dict[str, Document], kind: str) -> int:
        collection = KINDS[kind][0]
        return (await self._db[collection].delete_many(where[kind])).deleted_count

    async def _erase_reports(self, mine: Document, accounts: Sequence[Account]) -> dict[str, int]:
        """Their field reports, the photos sent with them (and drafts') and the notices."""
        reports, outbox = self._db["reports"], self._db["outbox"]
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
