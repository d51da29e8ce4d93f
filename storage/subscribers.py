"""Who gets alerts for which areas: one document per chat account, its areas in a list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from core.channel import Platform
from core.models import Subscriber
from storage.documents import Database, Document, to_document, without_id

# Subscribers read per round trip while an alert's recipients are queued.
READ_BATCH = 1_000
HOME_SUBSCRIPTIONS = "subscriptions-home-communes"
# Who an alert may reach: not a chat that blocked the bot, nor one whose person withdrew consent.
_REACHABLE: Document = {"blocked": {"$ne": True}, "withdrawn": {"$ne": True}}


def _key(platform: Platform, user_id: str) -> str:
    return f"{platform.value}:{user_id}"


class SubscribersRepo:
    """The `subscribers` collection: `_id` is "<platform>:<user id>"; indexes `areas`
    (multikey, for an alert's recipients), `person_id` (for erasure) and `(platform, chat_id)`
    (a chat that blocked the bot)."""

    def __init__(self, db: Database) -> None:
        self._subscribers = db["subscribers"]

    async def get(self, platform: Platform, user_id: str) -> Subscriber | None:
        """A chat's subscription, if it has one."""
        found = without_id(await self._subscribers.find_one({"_id": _key(platform, user_id)}))
        return Subscriber.model_validate(found) if found else None

    async def subscribe(self, subscriber: Subscriber) -> None:
        """Add the subscriber's areas to its subscription (created when missing); the chat,
        language and person are brought up to date, muting is kept."""
        document = to_document(subscriber)
        areas, muted = document.pop("areas"), document.pop("muted")
        document.pop("withdrawn")  # only withdrawing and consenting again change it
        created_at = document.pop("created_at")
        if not subscriber.person_id:
            document.pop("person_id")  # subscribing without registering keeps a link made
        await self._subscribers.update_one(
            {"_id": _key(subscriber.platform, subscriber.user_id)},
            {
                "$set": document,
                "$addToSet": {"areas": {"$each": areas}},
                "$setOnInsert": {"muted": muted, "created_at": created_at},
            },
            upsert=True,
        )

    async def unsubscribe(self, platform: Platform, user_id: str, area: str) -> None:
        """Stop alerts for one area."""
        await self._subscribers.update_one(
            {"_id": _key(platform, user_id)}, {"$pull": {"areas": area}}
        )

    async def set_muted(self, platform: Platform, user_id: str, muted: bool) -> None:
        """Mute (or unmute) all but severe alerts."""
        await self._subscribers.update_one(
            {"_id": _key(platform, user_id)}, {"$set": {"muted": muted}}
        )

    async def set_language(self, platform: Platform, user_id: str, language: str) -> None:
        """The language alerts reach this chat in."""
        await self._subscribers.update_one(
            {"_id": _key(platform, user_id)}, {"$set": {"language": language}}
        )

    async def set_blocked(self, platform: Platform, chat_id: str) -> None:
        """The chat blocked the bot: send it nothing until it subscribes or writes again."""
        query = {"platform": platform.value, "chat_id": chat_id}
        await self._subscribers.update_many(query, {"$set": {"blocked": True}})

    async def unblock(self, platform: Platform, user_id: str) -> None:
        """The chat writes to us again: it gets alerts again."""
        await self._subscribers.update_one(
            {"_id": _key(platform, user_id), "blocked": True}, {"$set": {"blocked": False}}
        )

    async def set_withdrawn(self, person_id: str, withdrawn: bool) -> None:
        """Hold back (or resume) alerts to every chat of a person who withdrew consent."""
        await self._subscribers.update_many(
            {"person_id": person_id}, {"$set": {"withdrawn": withdrawn}}
        )

    async def remove(self, platform: Platform, user_id: str) -> None:
        """Forget a chat's subscription."""
        await self._subscribers.delete_one({"_id": _key(platform, user_id)})

    async def in_areas(self, areas: Sequence[str]) -> AsyncIterator[list[Subscriber]]:
        """The subscribers of any of `areas`, a batch at a time (each once, whatever how many
        of the areas it follows)."""
        query = {"areas": {"$in": list(areas)}, **_REACHABLE}
        found = self._subscribers.find(query, {"_id": 0}, batch_size=READ_BATCH)
        async for batch in _batches(found):
            yield [Subscriber.model_validate(document) for document in batch]

    async def count_in_areas(self, areas: Sequence[str], severe: bool) -> dict[Platform, int]:
        """How many subscribers of any of `areas` each platform has (those who muted alerts
        count only for a severe one)."""
        counts = {platform: 0 for platform in Platform}
        match: Document = {"areas": {"$in": list(areas)}, **_REACHABLE}
        if not severe:
            match["muted"] = False
        pipeline: list[Document] = [
            {"$match": match},
            {"$group": {"_id": "$platform", "n": {"$sum": 1}}},
        ]
        async for row in await self._subscribers.aggregate(pipeline):
            counts[Platform(row["_id"])] = int(row["n"])
        return counts


async def subscribe_registered(db: Database, now: datetime) -> int:
    """Once per database: subscribe the residents registered before subscriptions existed to
    their home commune (later ones are subscribed as they register). Returns how many."""
    migrations = db["migrations"]
    if await migrations.find_one({"_id": HOME_SUBSCRIPTIONS}):
        return 0
    subscribers, added = SubscribersRepo(db), 0
    accounts = db["channel_accounts"].find({}, {"_id": 0}, batch_size=READ_BATCH)
    async for batch in _batches(accounts):
        ids = [account["person_id"] for account in batch]
        found = db["people"].find({"_id": {"$in": ids}}, {"area": 1})
        areas = {person["_id"]: person.get("area", "") async for person in found}
        for account in batch:
            if area := areas.get(account["person_id"]):
                await subscribers.subscribe(_home(account, area, now))
                added += 1
    await migrations.update_one(
        {"_id": HOME_SUBSCRIPTIONS}, {"$set": {"at": now, "count": added}}, upsert=True
    )
    return added


def _home(account: Document, area: str, now: datetime) -> Subscriber:
    return Subscriber(
        platform=Platform(account["platform"]),
        user_id=account["user_id"],
        chat_id=account["chat_id"],
        areas=[area],
        language=account.get("language", "vi"),
        person_id=account["person_id"],
        created_at=now,
    )


async def _batches(cursor: AsyncIterator[Document]) -> AsyncIterator[list[Document]]:
    batch: list[Document] = []
    async for document in cursor:
        batch.append(document)
        if len(batch) == READ_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
